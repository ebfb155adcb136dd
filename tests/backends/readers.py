"""Read written datasets without ome-writers: only the format specifications.

OME-Zarr arrays are found from the NGFF metadata (a single image, a
bioformats2raw collection or a plate; 0.5 on Zarr v3 or 0.4 on Zarr v2) and
read with zarr-python (and tensorstore, where installed); OME-TIFF images are
read with tifffile, each from the file its OME-XML names. `to_declared` puts
the stored axes in the declared dimension order, by their names (Zarr
``dimension_names`` or the NGFF axes of a Zarr v2 array, TIFF Z/C/T
letters). Nothing here imports a private ome-writers module.
"""

from __future__ import annotations

import importlib.util
import json
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from xml.etree import ElementTree

import numpy as np

if TYPE_CHECKING:
    from collections.abc import Sequence

    from ome_writers import AcquisitionSettings, Position

HAS_TENSORSTORE = importlib.util.find_spec("tensorstore") is not None
# OME-TIFF dimension letters of the dimension types (an "other" axis is C)
_TIFF_AXIS = {"time": "T", "channel": "C", "space": "Z", "other": "C"}
_TYPE_OF_NAME = {"t": "time", "c": "channel", "z": "space"}


@dataclass
class StoredArray:
    """One position's array as stored: data and the name of every axis."""

    data: np.ndarray
    axes: tuple[str, ...]
    path: Path


def attributes(group: Path) -> dict[str, Any]:
    """The attributes of a Zarr node: ``zarr.json`` (v3) or ``.zattrs`` (v2)."""
    if (group / "zarr.json").is_file():
        meta = json.loads((group / "zarr.json").read_text())
        return dict(meta.get("attributes", {}))
    assert (group / ".zgroup").is_file() or (group / ".zarray").is_file(), group
    zattrs = group / ".zattrs"
    return dict(json.loads(zattrs.read_text())) if zattrs.is_file() else {}


def ngff(group: Path) -> dict[str, Any]:
    """A group's NGFF metadata: ``attributes.ome`` (0.5, Zarr v3), or its
    attributes (0.4, Zarr v2)."""
    attrs = attributes(group)
    if (group / "zarr.json").is_file():
        return dict(attrs.get("ome", {}))
    return attrs


@dataclass
class ArrayLayout:
    """How an array is stored: axis names, chunks, shards, compression."""

    names: list[str]
    chunks: list[int]
    shards: list[int] | None
    compression: str  # as ome-writers names it


def _compression_name(codec: dict[str, Any] | None) -> str:
    if codec is None:
        return "none"
    name = codec.get("name", codec.get("id"))
    config = codec.get("configuration", codec)
    return f"blosc-{config['cname']}" if name == "blosc" else str(name)


def array_layout(path: Path) -> ArrayLayout:
    """A Zarr array's layout from its ``zarr.json``, or its ``.zarray`` and
    its image group's NGFF axes (Zarr v2 arrays have no dimension names)."""
    if (path / "zarr.json").is_file():
        meta = json.loads((path / "zarr.json").read_text())
        codecs = meta["codecs"]
        grid = meta["chunk_grid"]["configuration"]["chunk_shape"]
        chunks, shards = grid, None
        if codecs[0]["name"] == "sharding_indexed":
            chunks, shards = codecs[0]["configuration"]["chunk_shape"], grid
            codecs = codecs[0]["configuration"]["codecs"]
        compressors = [c for c in codecs if c["name"] not in ("bytes", "transpose")]
        assert len(compressors) <= 1, compressors
        return ArrayLayout(
            list(meta["dimension_names"]),
            list(chunks),
            shards,
            _compression_name(compressors[0] if compressors else None),
        )
    meta = json.loads((path / ".zarray").read_text())
    assert meta["zarr_format"] == 2 and not meta.get("filters"), meta
    axes = ngff(path.parent)["multiscales"][0]["axes"]
    return ArrayLayout(
        [a["name"] for a in axes],
        list(meta["chunks"]),
        None,
        _compression_name(meta["compressor"]),
    )


def zarr_image_groups(root: Path, positions: Sequence[Position]) -> list[Path]:
    """Image groups of an OME-Zarr dataset, one per position, in position order.

    A plate lists its wells and each well its fields: the k-th position in a
    well (in position order) is that well's k-th image.
    """
    ome = ngff(root)
    if "multiscales" in ome:
        return [root]
    if "plate" in ome:
        images: dict[str, list[Path]] = {}
        for well in ome["plate"]["wells"]:
            well_group = root / well["path"]
            fields = ngff(well_group)["well"]["images"]
            images[well["path"]] = [well_group / f["path"] for f in fields]
        seen: Counter[str] = Counter()
        out = []
        for p in positions:
            key = f"{p.plate_row}/{p.plate_column}"
            out.append(images[key][seen[key]])
            seen[key] += 1
        return out
    if "bioformats2raw.layout" in ome:
        series = ngff(root / "OME")["series"]
        return [root / name for name in series]
    raise AssertionError(f"{root} is no OME-Zarr image, collection or plate: {ome}")


def zarr_array_paths(settings: AcquisitionSettings) -> list[Path]:
    """The full-resolution array of every position."""
    root = Path(settings.output_path)
    out = []
    for group in zarr_image_groups(root, settings.positions):
        multiscale = ngff(group)["multiscales"][0]
        out.append(group / multiscale["datasets"][0]["path"])
    return out


def read_zarr(path: Path) -> StoredArray:
    """One Zarr array read by zarr-python (and the same by tensorstore's
    driver of its Zarr format)."""
    import zarr

    v3 = (path / "zarr.json").is_file()
    array = zarr.open_array(str(path), mode="r", zarr_format=3 if v3 else 2)
    data = np.asarray(array[...])
    if HAS_TENSORSTORE:
        import tensorstore as ts

        spec = {
            "driver": "zarr3" if v3 else "zarr",
            "kvstore": {"driver": "file", "path": str(path)},
        }
        np.testing.assert_array_equal(ts.open(spec).result().read().result(), data)
    return StoredArray(data, tuple(array_layout(path).names), path)


def tiff_files(settings: AcquisitionSettings) -> list[Path]:
    """The OME-TIFF file, or every file of a one-file-per-position dataset."""
    out = Path(settings.output_path)
    return [out] if out.is_file() else sorted(out.glob("*.tif*"))


def read_tiff(settings: AcquisitionSettings) -> list[StoredArray]:
    """Every image (series) of an OME-TIFF dataset, unsqueezed (axes ZTCYXS...).

    Each image is read from the file its first TiffData names: tifffile reads
    a series whose only page lies in another file of the set from the file it
    was opened with (tifffile 2026.3.3), so every file is opened for its own.
    """
    import tifffile

    files = tiff_files(settings)
    assert files, f"no OME-TIFF at {settings.output_path}"
    with tifffile.TiffFile(files[0]) as tif:
        assert tif.is_ome
        xml = tif.ome_metadata
    assert xml is not None
    out = []
    for index, name in enumerate(_image_files(xml)):
        path = files[0] if name is None else files[0].parent / name
        with tifffile.TiffFile(path) as tif:
            series = tif.series[index]
            shape = series.get_shape(False)
            data = np.asarray(series.asarray()).reshape(shape)
            out.append(StoredArray(data, tuple(series.get_axes(False)), path))
    return out


def _image_files(xml: str) -> list[str | None]:
    """Per OME Image, the file name of its first TiffData (None: this file)."""
    root = ElementTree.fromstring(xml)
    out: list[str | None] = []
    for image in root:
        if not image.tag.endswith("}Image"):
            continue
        name = None
        for element in image.iter():
            if element.tag.endswith("}UUID"):
                name = element.attrib.get("FileName")
                break
        out.append(name)
    return out


def read_stored(settings: AcquisitionSettings) -> list[StoredArray] | None:
    """Every position's array as stored; None for a format without files."""
    fmt = settings.format.name
    if fmt == "ome-zarr":
        return [read_zarr(p) for p in zarr_array_paths(settings)]
    if fmt == "ome-tiff":
        return read_tiff(settings)
    return None


def tiff_letter(settings: AcquisitionSettings, name: str) -> str:
    dim = next(d for d in settings.dimensions if d.name == name)
    kind = dim.type or _TYPE_OF_NAME.get(name.lower(), "other")
    return _TIFF_AXIS[kind]


def to_declared(settings: AcquisitionSettings, stored: StoredArray) -> np.ndarray:
    """A stored array with its axes in the declared order (series dims left out).

    Axes the dataset has but the acquisition does not (TIFF's unused Z/C/T and
    samples) must have length 1. OME-TIFF keeps at most one axis per letter:
    dimensions sharing one (a channel and an "other" axis are both C) are
    combined in storage order, and split here.
    """
    declared = [d.name for d in settings.array_dimensions]
    data = stored.data
    if settings.format.name == "ome-tiff":
        index = declared[:-2]
        order = settings.storage_order
        if isinstance(order, list):
            index = [n for n in order if n in index]
        frame = [d.name for d in settings.frame_dimensions]
        by_letter: dict[str, list[str]] = {"Y": frame[:1], "X": frame[1:]}
        for name in index:
            by_letter.setdefault(tiff_letter(settings, name), []).append(name)
        counts = {d.name: d.count for d in settings.array_dimensions}
        axes: list[str] = []
        shape: list[int] = []
        for letter, size in zip(stored.axes, data.shape, strict=True):
            names = by_letter.get(letter) or [f"<{letter}>"]
            axes += names
            if len(names) == 1:
                shape.append(size)
            else:  # the outermost stored one may be cut short
                shape += [-1, *(int(counts[n] or -1) for n in names[1:])]
        data = data.reshape(shape)
    else:
        axes = list(stored.axes)
    extra = [i for i, a in enumerate(axes) if a not in declared]
    for i in extra:
        assert data.shape[i] == 1, f"axis {axes[i]} of {stored.path} is not declared"
    data = data.reshape([n for i, n in enumerate(data.shape) if i not in extra])
    axes = [a for a in axes if a in declared]
    assert sorted(axes) == sorted(declared), (axes, declared)
    return data.transpose([axes.index(n) for n in declared])
