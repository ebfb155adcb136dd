"""`ome-writers info` for OME-Zarr: the NGFF documents and arrays, read as JSON.

Every ``zarr.json`` (Zarr v3, OME-Zarr 0.5) or ``.zgroup``/``.zarray`` with
its ``.zattrs`` (Zarr v2, OME-Zarr 0.4) is read with `json` (chunk
directories are not walked for them), a v2 document in the shape of a v3 one;
yaozarrs validates the hierarchy. Which frames an image holds comes
from the frame metadata this package writes (``attributes.ome_writers``), and
where that does not account for every frame, from the chunk files on disk.
"""

from __future__ import annotations

import json
import math
import os
from itertools import product
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ome_writers.metadata._frame_metadata import stored_records
from ome_writers.metadata._multiscale_read import (
    level_scale_translation,
    multiscale_axes,
)
from ome_writers.tools._info_labels import image_labels, label_groups
from ome_writers.tools._reader_warnings import reader_warnings
from ome_writers.tools._report import (
    DatasetReport,
    Frames,
    ImageInfo,
    Index,
    PlateInfo,
    Quantity,
    Storage,
    unit_name,
)

if TYPE_CHECKING:
    from collections.abc import Callable

#: chunk grids larger than this are not listed (frames acquired: unknown)
MAX_CHUNKS = 1_000_000
#: NGFF versions yaozarrs does not read
_UNVALIDATED = ("0.6rc0",)
#: the group holding a transformation's arrays (NGFF 0.6rc0), not an image
_TRANSFORMATIONS = "coordinateTransformations"
_EMPTY = np.uint64(2**64 - 1)  # offset and size of a shard's absent chunk


def inspect_zarr(path: Path) -> DatasetReport:
    """Describe and validate the OME-Zarr dataset at `path`."""
    report = DatasetReport(path, "OME-Zarr")
    nodes = _nodes(path, report)
    version = _ome(nodes.get(".", {})).get("version")
    if version in _UNVALIDATED:
        report.warnings.append(
            f"NGFF {version} (a release candidate) is not validated: yaozarrs "
            "reads NGFF 0.4 and 0.5"
        )
    else:
        with reader_warnings(report.warnings, "yaozarrs"):
            try:
                validate_ngff(path)
            except Exception as e:  # any reader error is a finding, not a crash
                report.problems.append(f"yaozarrs: {e}")
    for name, doc in nodes.items():
        if doc.get("node_type") == "array":
            axes = ",".join(str(d) for d in doc.get("dimension_names") or [])
            shape = tuple(int(n) for n in doc.get("shape", ()))
            report.arrays[name] = (shape, str(doc.get("data_type")), axes)
    root = _ome(nodes.get(".", {}))
    stages = _ome_xml_stages(path, report, nodes)
    order: list[tuple[str, str | None]] = []  # (image group, well)
    if "plate" in root:
        report.layout = "plate"
        report.plate, order = _plate(root["plate"], nodes)
    elif "bioformats2raw.layout" in root:
        report.layout = "collection"
        series = _ome(nodes.get("OME", {})).get("series") or []
        order = [(str(s), None) for s in series]
    elif "multiscales" in root:
        report.layout = "image"
        order = [(".", None)]
    listed = {group for group, _ in order} | label_groups(nodes)
    order += [
        (name, None)
        for name, doc in nodes.items()
        if name not in listed
        and "multiscales" in _ome(doc)
        and _TRANSFORMATIONS not in name.split("/")
    ]
    for group, well in order:
        if "multiscales" not in _ome(nodes.get(group, {})):
            report.problems.append(f"{group}: no image group found")
            continue
        stage = stages.get(group, {})
        try:
            image = _image(path, group, nodes, report, stage)
        except Exception as e:  # a malformed document is a finding, not a crash
            report.problems.append(f"{group}: {e!r}")
            continue
        image.well = well
        image.labels = image_labels(group, nodes, report)
        report.add_image(image)
    return report


def validate_ngff(path: Path) -> None:
    """Validate the OME-Zarr hierarchy at `path` with yaozarrs; raise its error.

    yaozarrs finds the version of an OME-Zarr 0.4 collection (whose root and
    ``OME`` group state none) in an image named ``0`` only, while 0.4 lets
    the ``OME`` group's ``series`` name them: such a collection is validated
    as its parts, the root and ``OME`` documents and every image listed.
    """
    import yaozarrs

    group = yaozarrs.open_group(str(path))
    attributes = dict(group.attrs)
    if (
        group.zarr_format == 2
        and group.ome_version() is None
        and "bioformats2raw.layout" in attributes
        and "plate" not in attributes
        and "OME" in group
    ):
        yaozarrs.v04.Bf2Raw.model_validate(attributes)
        ome = yaozarrs.v04.Series.model_validate(dict(group["OME"].attrs))
        for image in ome.series:
            yaozarrs.validate_zarr_store(str(path / image))
        return
    yaozarrs.validate_zarr_store(group)


def _nodes(path: Path, report: DatasetReport) -> dict[str, dict[str, Any]]:
    """Relative path ("." for the root) -> zarr.json of every group and array
    (a Zarr v2 node's documents as one in that shape).

    Arrays are not descended into (their chunk files are not walked).
    """
    out: dict[str, dict[str, Any]] = {}
    pending = [path]
    while pending:
        directory = pending.pop()
        name = directory.relative_to(path).as_posix()
        doc = _node_document(directory, name, report)
        if doc is not None:
            out[name] = doc
            if doc.get("node_type") == "array":
                continue
        try:
            children = sorted(p for p in directory.iterdir() if p.is_dir())
        except OSError:
            continue
        pending.extend(reversed(children))
    return dict(sorted(out.items()))


def _read_object(file: Path, name: str, report: DatasetReport) -> Any:
    """A JSON document of a node (None, and a problem, when it is broken)."""
    try:
        doc = json.loads(file.read_text(encoding="utf-8"))
    except ValueError as e:
        report.problems.append(f"{name}/{file.name}: {e}")
        return None
    if not isinstance(doc, dict):
        report.problems.append(f"{name}/{file.name}: not a JSON object")
        return None
    return doc


def _node_document(
    directory: Path, name: str, report: DatasetReport
) -> dict[str, Any] | None:
    """The ``zarr.json`` of a node, or its Zarr v2 documents in that shape."""
    if (directory / "zarr.json").is_file():
        doc: dict[str, Any] | None = _read_object(directory / "zarr.json", name, report)
        return doc
    is_array = (directory / ".zarray").is_file()
    if not is_array and not (directory / ".zgroup").is_file():
        return None
    attributes: dict[str, Any] = {}
    if (directory / ".zattrs").is_file():
        attributes = _read_object(directory / ".zattrs", name, report) or {}
    if not is_array:
        return {"zarr_format": 2, "node_type": "group", "attributes": attributes}
    meta = _read_object(directory / ".zarray", name, report)
    return None if meta is None else v2_array_document(meta, attributes)


#: Zarr v2 blosc ``shuffle`` values, by name as Zarr v3 spells them
_SHUFFLE = {0: "noshuffle", 1: "shuffle", 2: "bitshuffle", -1: "auto"}


def v2_array_document(
    meta: dict[str, Any], attributes: dict[str, Any]
) -> dict[str, Any]:
    """A Zarr v2 array's ``.zarray`` (and ``.zattrs``) in the shape of the
    ``zarr.json`` of a v3 array: shape, data type, chunk grid, key encoding,
    codecs and dimension names (xarray's ``_ARRAY_DIMENSIONS``, if any)."""
    codecs: list[dict[str, Any]] = [{"name": "bytes"}]
    for codec in [*(meta.get("filters") or []), meta.get("compressor")]:
        if isinstance(codec, dict) and "id" in codec:
            config = {k: v for k, v in codec.items() if k != "id"}
            shuffle = config.get("shuffle")
            if codec["id"] == "blosc" and isinstance(shuffle, int):
                config["shuffle"] = _SHUFFLE.get(shuffle, str(shuffle))
            codecs.append({"name": codec["id"], "configuration": config})
    try:
        data_type = np.dtype(meta.get("dtype")).name
    except TypeError:
        data_type = str(meta.get("dtype"))
    return {
        "zarr_format": 2,
        "node_type": "array",
        "shape": meta.get("shape", []),
        "data_type": data_type,
        "chunk_grid": {
            "name": "regular",
            "configuration": {"chunk_shape": meta.get("chunks", [])},
        },
        "chunk_key_encoding": {
            "name": "v2",
            "configuration": {"separator": meta.get("dimension_separator") or "."},
        },
        "codecs": codecs,
        "dimension_names": attributes.get("_ARRAY_DIMENSIONS"),
        "attributes": attributes,
    }


def _ome(doc: dict[str, Any]) -> dict[str, Any]:
    """The NGFF documents of a node: ``attributes.ome`` (0.5) or its
    attributes (0.4, Zarr v2)."""
    attributes = doc.get("attributes", {})
    ome = attributes if doc.get("zarr_format") == 2 else attributes.get("ome", {})
    return ome if isinstance(ome, dict) else {}


def _join(group: str, child: str) -> str:
    return child if group == "." else f"{group}/{child}"


def _plate(
    plate: dict[str, Any], nodes: dict[str, dict[str, Any]]
) -> tuple[PlateInfo, list[tuple[str, str | None]]]:
    info = PlateInfo(
        name=plate.get("name"),
        rows=[str(r.get("name")) for r in plate.get("rows", [])],
        columns=[str(c.get("name")) for c in plate.get("columns", [])],
    )
    order: list[tuple[str, str | None]] = []
    for well in plate.get("wells", []):
        well_path = str(well.get("path"))
        images = _ome(nodes.get(well_path, {})).get("well", {}).get("images", [])
        info.wells[well_path] = len(images)
        order += [(f"{well_path}/{image.get('path')}", well_path) for image in images]
    return info, order


def _ome_xml_stages(
    path: Path, report: DatasetReport, nodes: dict[str, dict[str, Any]]
) -> dict[str, dict[str, Quantity]]:
    """Image group -> the stage coordinates of its Image in
    ``OME/METADATA.ome.xml`` (the Images in the order of the ``OME`` group's
    series); what the document holds goes into the report."""
    xml_path = path / "OME" / "METADATA.ome.xml"
    if not xml_path.is_file():
        return {}
    try:
        import ome_types
    except ImportError:  # optional for OME-Zarr
        return {}
    try:
        with reader_warnings(report.warnings, "ome-types"):
            ome = ome_types.from_xml(xml_path.read_text(encoding="utf-8"))
    except Exception as e:
        report.problems.append(f"OME/METADATA.ome.xml: {e}")
        return {}
    from ome_writers.tools._info_tiff import stage_label

    planes = sum(len(image.pixels.planes) for image in ome.images)
    report.ome_xml = (len(ome.images), planes)
    series = [str(s) for s in _ome(nodes.get("OME", {})).get("series") or []]
    if series and len(series) != len(ome.images):
        report.problems.append(
            f"OME/METADATA.ome.xml: {len(ome.images)} Images, but the OME group "
            f"lists {len(series)} series"
        )
    groups = ["." if s in ("", ".") else s.strip("/") for s in series]
    return {
        group: stage_label(image)
        for group, image in zip(groups, ome.images, strict=False)
    }


def _image(
    path: Path,
    group: str,
    nodes: dict[str, dict[str, Any]],
    report: DatasetReport,
    stage: dict[str, Quantity],
) -> ImageInfo:
    doc = nodes[group]
    ome = _ome(doc)
    multiscale = ome["multiscales"][0]
    axis_list = multiscale_axes(multiscale) or []
    axes = [str(a.get("name", "")) for a in axis_list]
    datasets = multiscale.get("datasets", [])
    arrays = [_join(group, str(d.get("path"))) for d in datasets]
    level0 = arrays[0] if arrays else _join(group, "0")
    meta = nodes.get(level0, {})
    if meta.get("node_type") != "array":
        report.problems.append(f"{level0}: array listed in multiscales is missing")
    shape = tuple(int(n) for n in meta.get("shape", ()))
    image = ImageInfo(
        name=str(multiscale.get("name") or (path.name if group == "." else group)),
        path=group,
        array=level0,
        shape=shape,
        dtype=str(meta.get("data_type", "")),
        axes=tuple(axes),
        stage=dict(stage),
    )
    if len(arrays) > 1:
        image.levels = [report.arrays.get(a, ((),))[0] for a in arrays]
    image.channels = [
        str(c.get("label", "")) for c in ome.get("omero", {}).get("channels", [])
    ]
    scale = _scale(multiscale, datasets[0] if datasets else {})
    for k, axis in enumerate(axis_list):
        if axis.get("type") not in ("space", "time") or k >= len(scale):
            continue
        unit = unit_name(axis.get("unit"))
        if unit is None and scale[k] == 1.0:
            continue  # the required scale, without a unit: no step declared
        image.scales[axes[k]] = Quantity(scale[k], unit)
    if meta:
        image.storage = _storage(meta)
    progress = nodes.get(".", {}).get("attributes", {}).get("ome_writers", {})
    _frames(path, group, image, doc, meta, report, progress.get("progress"))
    return image


def _scale(multiscale: dict[str, Any], dataset: dict[str, Any]) -> list[float]:
    """Scale of level 0: its own, times the multiscale's (if it has one; in
    NGFF 0.6rc0 the multiscale's map into other coordinate systems)."""
    if "axes" not in multiscale:
        return level_scale_translation(dataset)[0] or []
    out: list[float] | None = None
    transforms = [
        *dataset.get("coordinateTransformations", []),
        *multiscale.get("coordinateTransformations", []),
    ]
    for transform in transforms:
        if transform.get("type") == "scale" and "scale" in transform:
            values = [float(v) for v in transform["scale"]]
            if out is not None:
                values = [a * b for a, b in zip(out, values, strict=True)]
            out = values
    return out or []


def _storage(meta: dict[str, Any]) -> Storage:
    chunks = tuple(
        meta.get("chunk_grid", {}).get("configuration", {}).get("chunk_shape", ())
    )
    codecs = meta.get("codecs", [])
    shards = None
    if codecs and codecs[0].get("name") == "sharding_indexed":
        config = codecs[0].get("configuration", {})
        shards, chunks = chunks, tuple(config.get("chunk_shape", ()))
        codecs = config.get("codecs", [])
    return Storage(
        compression=compression_text(codecs),
        layout="chunks",
        chunks=tuple(int(n) for n in chunks),
        shards=tuple(int(n) for n in shards) if shards is not None else None,
    )


def compression_text(codecs: list[dict[str, Any]]) -> str:
    """The compressing codecs of a Zarr codec chain, with their levels."""
    parts = []
    for codec in codecs:
        name = codec.get("name")
        config = codec.get("configuration") or {}
        if name in ("bytes", "transpose", "crc32c"):
            continue
        if name == "blosc":
            parts.append(
                f"blosc-{config.get('cname')} "
                f"(level {config.get('clevel')}, {config.get('shuffle')})"
            )
        elif name in ("zstd", "gzip") and "level" in config:
            parts.append(f"{name} (level {config['level']})")
        else:
            parts.append(str(name))
    return " + ".join(parts) or "none"


def _frames(
    path: Path,
    group: str,
    image: ImageInfo,
    doc: dict[str, Any],
    meta: dict[str, Any],
    report: DatasetReport,
    progress: Any = None,
) -> None:
    """Frame metadata keys and the frames acquired of one image (`progress`:
    the dataset's progress record, if any)."""
    if len(image.shape) < 2:
        return
    index_shape = image.shape[:-2]
    own = doc.get("attributes", {}).get("ome_writers", {})
    image_dir = path if group == "." else path / group
    records, source = stored_records(image_dir, own)
    sources = [] if source is None else [source]
    image.frames_with_metadata = len(records)
    keys: set[str] = set()
    for record in records:
        keys.update(str(k) for k in record)
    keys.discard("storage_index")
    image.frame_keys = sorted(keys)
    if not image.stage and records:
        first = records[0]
        for axis in "xyz":
            value = first.get(f"position_{axis}")
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                image.stage[axis] = Quantity(float(value), "micrometer")
    acquired: set[Index] = {
        tuple(int(i) for i in r["storage_index"])
        for r in records
        if isinstance(r.get("storage_index"), list)
    }
    not_acquired = [tuple(int(i) for i in n) for n in own.get("not_acquired", [])]
    frames = Frames(
        declared=math.prod(index_shape),
        index_axes=image.axes[:-2],
        not_acquired=not_acquired,
    )
    image.frames = frames
    skipped = set(not_acquired)

    def inside(index: Index) -> bool:
        return len(index) == len(index_shape) and all(
            0 <= i < n for i, n in zip(index, index_shape, strict=True)
        )

    end: int | None = index_shape[0] if index_shape else None
    if len(acquired | skipped) < frames.declared and meta:
        end = None  # known only from the chunks on disk
        try:
            stored = stored_chunks(path / image.array if image.array else path, meta)
        except OSError as e:
            report.problems.append(f"{image.array}: {e}")
            stored = None
        if stored is not None:
            chunks, chunk_shape, total = stored
            frames.chunks_stored, frames.chunks_total = len(chunks), total
            reached = _progress_extent(progress, image.axes[:1])
            if all(n == 1 for n in chunk_shape[:-2]):  # a chunk holds one frame
                acquired |= {index[:-2] for index in chunks}
                sources.append("chunks")
            if len(acquired | skipped) < frames.declared and _every_frame_written(
                progress
            ):
                # a chunk holding only the fill value may not be written, and
                # one of several frames (the default grouping of small frames)
                # does not say which it holds: the writer closed with them all
                acquired |= set(product(*(range(n) for n in index_shape)))
                sources.append("progress")
            if index_shape:
                # the first-axis indices up to the last chunk (and record)
                ends = [(index[0] + 1) * chunk_shape[0] for index in chunks]
                ends += [index[0] + 1 for index in acquired | skipped if inside(index)]
                end = min(index_shape[0], max(ends, default=0))
                if chunk_shape[0] > 1 and reached is not None:
                    # a chunk spanning several first-axis indices is written
                    # partly filled: the writer's record says how far frames go
                    known = [index[0] + 1 for index in acquired if inside(index)]
                    end = min(end, max(reached, *known, 0))
    frames.frames_end = end
    if end is not None and end < index_shape[0]:
        frames.past_last = list(
            product(range(end, index_shape[0]), *(range(n) for n in index_shape[1:]))
        )
    if not sources:
        return  # acquired: unknown
    frames.source = "+".join(sources)
    within = [index for index in acquired if inside(index)]
    frames.acquired = len(set(within) - skipped)
    if frames.acquired + len(skipped) + len(frames.past_last) < frames.declared:
        frames.missing = [
            index
            for index in product(*(range(n) for n in index_shape))
            if index not in acquired
            and index not in skipped
            and (end is None or index[0] < end)
        ]


def _every_frame_written(progress: Any) -> bool:
    """Whether a progress record states a bounded run closed with every frame
    it planned."""
    if not isinstance(progress, dict) or progress.get("status") != "complete":
        return False
    total = progress.get("total")
    return isinstance(total, int) and progress.get("frames") == total


def _progress_extent(progress: Any, axis: tuple[str, ...]) -> int | None:
    """The extent along `axis` (one name) that a progress record states the
    frames on disk reach (None: it states none)."""
    extent = progress.get("extent") if isinstance(progress, dict) else None
    if not axis or not isinstance(extent, dict):
        return None
    value = extent.get(axis[0])
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def stored_chunks(
    array_dir: Path, meta: dict[str, Any]
) -> tuple[set[Index], Index, int] | None:
    """The chunks of an array on disk: their grid indices, shape and grid size.

    A sharded array's chunks are the inner chunks its shard indices list (a
    shard whose index cannot be read counts as absent); when the index codecs
    are not plain little- or big-endian bytes (and CRC32C), the shards are
    counted instead. None: the grid is not regular or larger than `MAX_CHUNKS`.
    """
    shape = tuple(int(n) for n in meta.get("shape", ()))
    grid = meta.get("chunk_grid", {})
    if grid.get("name") != "regular" or not shape:
        return None
    outer = tuple(int(n) for n in grid["configuration"]["chunk_shape"])
    outer_grid = tuple(math.ceil(s / c) for s, c in zip(shape, outer, strict=True))
    n_outer = math.prod(outer_grid)
    if n_outer > MAX_CHUNKS:
        return None
    files = _chunk_files(array_dir, meta.get("chunk_key_encoding", {}), len(shape))
    if files is None:
        return None
    # chunks past the declared shape (written after the last declaration of
    # an acquisition that was killed) are not the array's
    files = {
        key: file
        for key, file in files.items()
        if all(k < n for k, n in zip(key, outer_grid, strict=True))
    }
    codecs = meta.get("codecs", [])
    if not (codecs and codecs[0].get("name") == "sharding_indexed"):
        return set(files), outer, n_outer
    config = codecs[0].get("configuration", {})
    inner = tuple(int(n) for n in config.get("chunk_shape", outer))
    per_shard = tuple(o // i for o, i in zip(outer, inner, strict=True))
    read_index = _shard_index_reader(config, per_shard)
    if read_index is None:
        return set(files), outer, n_outer
    inner_grid = tuple(math.ceil(s / c) for s, c in zip(shape, inner, strict=True))
    out: set[Index] = set()
    for key, file in files.items():
        present = read_index(file)
        if present is None:
            continue
        for local in np.argwhere(present):
            cells = zip(key, per_shard, local, strict=True)
            index = tuple(k * p + int(j) for k, p, j in cells)
            if all(i < n for i, n in zip(index, inner_grid, strict=True)):
                out.add(index)
    return out, inner, math.prod(inner_grid)


def _chunk_files(
    array_dir: Path, encoding: dict[str, Any], ndim: int
) -> dict[Index, Path] | None:
    """Chunk (or shard) grid index -> its file, for the array's key encoding."""
    config = encoding.get("configuration") or {}
    name = encoding.get("name", "default")
    if name == "default":
        separator, prefix = config.get("separator", "/"), "c"
    elif name == "v2":
        separator, prefix = config.get("separator", "."), ""
    else:
        return None
    out: dict[Index, Path] = {}

    def add(parts: list[str], file: Path) -> None:
        if len(parts) == ndim and all(p.isdigit() for p in parts):
            out[tuple(int(p) for p in parts)] = file

    if separator == "/":
        base = array_dir / prefix if prefix else array_dir
        for directory, _, names in os.walk(base):
            for file_name in names:
                file = Path(directory, file_name)
                add(list(file.relative_to(base).parts), file)
    else:
        head = f"{prefix}{separator}" if prefix else ""
        for entry in os.scandir(array_dir):
            if entry.is_file() and entry.name.startswith(head):
                add(entry.name[len(head) :].split(separator), array_dir / entry.name)
    return out


def _shard_index_reader(
    config: dict[str, Any], per_shard: Index
) -> Callable[[Path], np.ndarray | None] | None:
    """A function: shard file -> which of its chunks are stored (or None)."""
    index_codecs = config.get("index_codecs", [])
    names = [c.get("name") for c in index_codecs]
    if names not in (["bytes"], ["bytes", "crc32c"]):
        return None
    endian = (index_codecs[0].get("configuration") or {}).get("endian", "little")
    dtype = np.dtype("<u8" if endian == "little" else ">u8")
    n = math.prod(per_shard)
    size = 16 * n + (4 if "crc32c" in names else 0)
    at_end = config.get("index_location", "end") == "end"

    def read(file: Path) -> np.ndarray | None:
        try:
            with open(file, "rb") as f:
                if at_end:
                    f.seek(0, os.SEEK_END)
                    if f.tell() < size:
                        return None
                    f.seek(-size, os.SEEK_END)
                data = f.read(size)
        except OSError:
            return None
        if len(data) != size:
            return None
        index = np.frombuffer(data[: 16 * n], dtype=dtype).reshape(*per_shard, 2)
        present: np.ndarray = ~((index[..., 0] == _EMPTY) & (index[..., 1] == _EMPTY))
        return present

    return read
