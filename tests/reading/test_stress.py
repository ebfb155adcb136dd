"""A reader hammering a dataset's documents during a whole run.

While frames are appended (a loss window of 20 ms: a visit every 10 ms), a
thread reads the document holding the progress record as fast as it can,
with other software's code only: the root ``zarr.json`` with json and every
frame it counts with zarr-python; the first page's description with tifffile
and the standard library's XML parser, and every page its TiffData and its
record list with tifffile. No document is ever torn, the count never goes
back, and every frame counted reads as appended. Layouts are drawn by
hypothesis.
"""

from __future__ import annotations

import json
import os
import re
import struct
import threading
import time
import xml.etree.ElementTree as ET
from typing import TYPE_CHECKING, Any

import numpy as np
import pytest
import tifffile
import zarr
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ome_writers import AcquisitionSettings, Dimension, create_stream
from tests.conftest import frame_for

if TYPE_CHECKING:
    from pathlib import Path

H, W = 8, 8
NAMES = ["A", "B"]
ATTEMPTS = 20


@st.composite
def layouts(draw: st.DrawFn) -> dict[str, Any]:
    return {
        "t": draw(st.sampled_from([1, 2, 3, None])),
        "p": draw(st.integers(1, 2)),
        "c": draw(st.integers(1, 2)),
        "z": draw(st.integers(1, 3)),
        "z_chunk": draw(st.sampled_from([1, 3])),
    }


def _settings(root: Path, backend: str, layout: dict[str, Any]) -> AcquisitionSettings:
    dims = [Dimension(name="t", count=layout["t"], type="time", chunk_size=1)]
    if layout["p"] > 1:
        dims.append(Dimension(name="p", type="position", coords=NAMES[: layout["p"]]))
    dims += [
        Dimension(name="c", count=layout["c"], type="channel"),
        Dimension(
            name="z", count=layout["z"], type="space", chunk_size=layout["z_chunk"]
        ),
        Dimension(name="y", count=H, type="space"),
        Dimension(name="x", count=W, type="space"),
    ]
    fmt = "ome-tiff" if backend == "tifffile" else "ome-zarr"
    return AcquisitionSettings(
        root_path=str(root),
        dimensions=dims,
        dtype="uint16",
        format={"name": fmt, "backend": backend},
        loss_window=0.02,
        overwrite=True,
    )


def _frame_number(layout: dict[str, Any], t: int, p: int, c: int, z: int) -> int:
    return ((t * layout["p"] + p) * layout["c"] + c) * layout["z"] + z


def _cell(layout: dict[str, Any], n: int) -> tuple[int, int, int, int]:
    rest, z = divmod(n, layout["z"])
    rest, c = divmod(rest, layout["c"])
    t, p = divmod(rest, layout["p"])
    return t, p, c, z


class Hammer(threading.Thread):
    """Reads the record until stopped; collects what it found wrong."""

    def __init__(self, root: Path, layout: dict[str, Any]) -> None:
        super().__init__(daemon=True)
        self.root, self.layout = root, layout
        self.stop = threading.Event()
        self.problems: list[str] = []
        self.reads = 0
        self.counted: list[int] = []
        self.checked = 0

    def run(self) -> None:
        while not self.stop.is_set():
            try:
                frames = self.read()
            except Exception as e:  # anything unreadable is a finding
                self.problems.append(f"read {self.reads}: {e!r}")
                return
            if frames is None:
                continue
            self.reads += 1
            if self.counted and frames < self.counted[-1]:
                self.problems.append(
                    f"the count went back: {self.counted[-1]} -> {frames}"
                )
            self.counted.append(frames)

    def read(self) -> int | None:
        raise NotImplementedError


class ZarrHammer(Hammer):
    def read(self) -> int | None:
        data = (self.root / "zarr.json").read_bytes()
        record = json.loads(data)["attributes"]["ome_writers"]["progress"]
        frames = int(record["frames"])
        for n in range(self.checked, frames):
            t, p, c, z = _cell(self.layout, n)
            image = self.root / (NAMES[p] if self.layout["p"] > 1 else "") / "0"
            array = zarr.open_array(image, mode="r")
            if t >= array.shape[0]:
                self.problems.append(
                    f"frame {n}: counted, array declares t={array.shape[0]}"
                )
                continue
            if not np.array_equal(array[t, c, z], frame_for(n, (H, W))):
                self.problems.append(f"frame {n} counted but reads otherwise")
        self.checked = max(self.checked, frames)
        return frames


def _planes(
    first: tuple[int, int, int], count: int, order: str, sizes: dict[str, int | None]
) -> list[dict[str, int]]:
    at = dict(zip("ZCT", first, strict=True))
    out = []
    for _ in range(count):
        out.append(dict(at))
        for letter in order[2:]:
            at[letter] += 1
            if sizes.get(letter) is None or at[letter] < sizes[letter]:  # type: ignore[operator]
                break
            at[letter] = 0
    return out


class TiffHammer(Hammer):
    entry: tuple[int, str] | None = None  # the description tag's value field

    def description(self, path: Path) -> str | None:
        """The first page's description, read as docs/reading.md says: the
        tag's count and offset, the text there, the tag again; the text
        again when the tag changed meanwhile or the text does not parse."""
        if self.entry is None:  # where the tag is: fixed once the page is
            try:
                with tifffile.TiffFile(path) as tif:
                    tag = tif.pages.first.tags[270]
                    fmt = tif.byteorder + ("QQ" if tif.is_bigtiff else "II")
            except (tifffile.TiffFileError, IndexError, KeyError):
                return None
            self.entry = (tag.offset + 4, fmt)
        at, fmt = self.entry
        size = struct.calcsize(fmt)
        with open(path, "rb") as f:
            fd = f.fileno()
            for _ in range(ATTEMPTS):
                count, offset = struct.unpack(fmt, os.pread(fd, size, at))
                data = os.pread(fd, count, offset)
                again = struct.unpack(fmt, os.pread(fd, size, at))
                if again != (count, offset) or len(data) != count:
                    continue
                text = data.rstrip(b"\0").decode()
                try:
                    ET.fromstring(text)
                except ET.ParseError:
                    continue
                return text
        raise AssertionError(f"no whole description in {ATTEMPTS} reads")

    def read(self) -> int | None:
        files = (
            sorted(self.root.parent.glob("*.ome.tiff"))
            if self.layout["p"] == 1
            else sorted(
                (self.root.parent / self.root.name.split(".")[0]).glob("*.ome.tiff")
            )
        )
        if not files or files[0].stat().st_size == 0:
            return None
        text = self.description(files[0])
        if text is None:  # a new file: its first page is being written
            return None
        xml = ET.fromstring(text)  # never torn
        found = re.search(r'<M K="progress">(.*?)</M>', text)
        if found is None:  # closed: the complete OME-XML
            return None
        record = json.loads(ET.fromstring(f"<m>{found.group(1)}</m>").text or "")
        order, sizes, names = (
            record["dimension_order"],
            record["sizes"],
            record["files"],
        )
        pages: list[tuple[int, str, int, dict[str, int]]] = []
        for image in xml.iter("{*}Image"):
            k = int(image.get("ID", "").rsplit(":", 1)[-1])
            pixels = image.find("{*}Pixels")
            assert pixels is not None
            box = {a: int(pixels.get(f"Size{a}", "1")) for a in "ZCT"}
            for data in pixels.iter("{*}TiffData"):
                first = tuple(int(data.get(f"First{a}", "0")) for a in "ZCT")
                for i, plane in enumerate(
                    _planes(first, int(data.get("PlaneCount", "1")), order, box)
                ):  # type: ignore[arg-type]
                    pages.append((k, names[k], int(data.get("IFD", "0")) + i, plane))
        for image, ifd, count, z, c, t in record["pages"]:
            for i, plane in enumerate(_planes((z, c, t), count, order, sizes)):
                pages.append((image, names[image], ifd + i, plane))
        opened: dict[str, Any] = {}
        try:
            for image, name, ifd, plane in pages:
                tif = opened.get(name) or opened.setdefault(
                    name, tifffile.TiffFile(files[0].parent / name)
                )
                n = _frame_number(
                    self.layout, plane["T"], image, plane["C"], plane["Z"]
                )
                if not np.array_equal(tif.pages[ifd].asarray(), frame_for(n, (H, W))):
                    self.problems.append(f"image {image} page {ifd} is not frame {n}")
        finally:
            for tif in opened.values():
                tif.close()
        return int(record["frames"])


BACKENDS = ["tensorstore", "zarr-python", "zarrs-python", "acquire-zarr", "tifffile"]


@pytest.mark.parametrize("backend", BACKENDS)
@settings(
    max_examples=5,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(layout=layouts())
def test_a_hammering_reader_never_sees_a_torn_document_or_a_wrong_frame(
    tmp_path: Path, backend: str, layout: dict[str, Any]
) -> None:
    suffix = ".ome.tiff" if backend == "tifffile" else ".ome.zarr"
    root = tmp_path / f"run{suffix}"
    config = _settings(root, backend, layout)
    total = config.geometry.num_frames or 3 * layout["p"] * layout["c"] * layout["z"]
    hammer = (TiffHammer if backend == "tifffile" else ZarrHammer)(root, layout)
    with create_stream(config) as stream:
        hammer.start()
        for n in range(total):
            stream.append(frame_for(n, (H, W)))
            time.sleep(0.002)
        time.sleep(0.05)
    time.sleep(0.05)
    hammer.stop.set()
    hammer.join(30)
    assert not hammer.problems, hammer.problems[:10]
    assert hammer.reads > 0
    assert hammer.counted and hammer.counted[-1] <= total
