"""Shared writing and checking helpers for the OME-TIFF tests."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import ome_types
import tifffile
import xmlschema

from ome_writers import AcquisitionSettings, Channel, Dimension, create_stream
from ome_writers._router import FrameRouter
from ome_writers._stream._ome_stream import OMEStream

from .conftest import BioFormats, BioFormatsResult

Y, X = 6, 5
XSD = Path(ome_types.__file__).parent / "ome-2016-06.xsd"
SIZES = {"t": 2, "c": 3, "z": 2}
YX = [
    Dimension(name="y", count=Y, unit="um", scale=0.25),
    Dimension(name="x", count=X, unit="um", scale=0.25),
]
CHANNELS = [
    Channel(
        name="DAPI",
        color="blue",
        excitation_wavelength_nm=405,
        emission_wavelength_nm=450,
        fluorophore="Hoechst",
    ),
    Channel(name="FITC"),
    "Cy5",
]
_SCHEMA: list[xmlschema.XMLSchema] = []

ZCT = tuple[int, int, int]


def frame(n: int, dtype: str = "uint16") -> np.ndarray:
    """A distinct frame per frame number (negative values for signed types)."""
    base = np.arange(Y * X).reshape(Y, X) % 50
    data = base + (n + 1) * 3
    if np.dtype(dtype).kind in "if":
        data = data - 60
    if np.dtype(dtype).kind == "f":
        return (data / 7).astype(dtype)
    return data.astype(dtype)


def dims(order: str, *, channels: bool = False) -> list[Dimension]:
    """Index dimensions named by the letters of `order` (sizes from SIZES)."""
    out = []
    for name in order:
        if name == "c" and channels:
            out.append(Dimension(name="c", type="channel", coords=CHANNELS))
        else:
            out.append(Dimension(name=name, count=SIZES[name.lower()]))
    return out


def write(
    settings: AcquisitionSettings, n: int | None = None, **meta: Any
) -> OMEStream:
    """Append `n` frames (default: all) with a little frame metadata; close."""
    total = settings.num_frames if n is None else n
    with create_stream(settings) as stream:
        for i in range(total or 0):
            stream.append(
                frame(i, settings.dtype),
                frame_metadata={"delta_t": i * 0.5, "exposure_time": 0.01, **meta},
            )
    return stream


def by_name(settings: AcquisitionSettings, index: Sequence[int]) -> ZCT:
    """(z, c, t) of a storage index, from dimension names alone."""
    names = [d.name.lower() for d in settings.storage_index_dimensions]
    by = dict(zip(names, index, strict=True))
    return by.get("z", 0), by.get("c", 0), by.get("t", 0)


def expected_planes(
    settings: AcquisitionSettings,
    n: int,
    zct: Callable[[AcquisitionSettings, Sequence[int]], ZCT] = by_name,
) -> dict[tuple[int, int, int, int], np.ndarray]:
    """(series, z, c, t) -> frame appended, from the router (not the writer)."""
    router = FrameRouter(settings)
    out = {}
    for i in range(n):
        pos, index = router.route(i)
        out[(pos, *zct(settings, index))] = frame(i, settings.dtype)
    return out


def check_bioformats(
    bf: BioFormats,
    path: Path,
    planes: dict[tuple[int, int, int, int], np.ndarray],
    *,
    series: int = 1,
) -> BioFormatsResult:
    """ImageInfo without a warning, the series count, and pixel-exact planes."""
    info = bf.image_info(path)
    for bad in ("mismatch", "WARN", "Exception", "ERROR", "Warning"):
        assert bad not in info, info
    result = bf.read(path)
    assert result.series == series, result.output
    for key, data in planes.items():
        assert result.plane_matches(*key, data), (
            f"plane {key} differs:\n{result.output}"
        )
    return result


def check_xml(path: Path) -> ome_types.OME:
    """The embedded OME-XML is valid against the 2016-06 XSD and parses."""
    if not _SCHEMA:
        _SCHEMA.append(xmlschema.XMLSchema(str(XSD)))
    xml = tifffile.tiffcomment(path) if path.suffix != ".ome" else path.read_text()
    _SCHEMA[0].validate(xml)
    if path.suffix == ".ome":
        return ome_types.from_xml(xml)
    return ome_types.from_tiff(path)


def tifffile_series(path: Path, caplog: Any) -> list[tuple[tuple[int, ...], str]]:
    """(shape, axes) of every series tifffile finds, asserting it logs nothing."""
    caplog.clear()
    with (
        caplog.at_level(logging.WARNING, logger="tifffile"),
        tifffile.TiffFile(path) as tif,
    ):
        assert tif.is_ome
        assert tif.is_bigtiff
        out = [(tuple(s.shape), str(s.axes)) for s in tif.series]
    assert not caplog.records, caplog.text
    return out


def run_child_and_kill(script: str, args: Sequence[str], *, kills_itself: bool) -> None:
    """Run `script` in a child interpreter; SIGKILL it once it prints READY
    (or wait for it to kill itself)."""
    proc = subprocess.Popen(
        [sys.executable, "-c", script, *args], stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None
    if kills_itself:
        assert proc.wait(60) == -signal.SIGKILL
    else:
        assert proc.stdout.readline().strip() == "READY"
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(30)
    proc.stdout.close()
