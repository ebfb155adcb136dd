"""`ome-writers info` for OME-TIFF: tifffile for the pages, ome-types for OME-XML.

A multi-file set is described once, by the OME-XML that lists every image
(in each file, the first file, or a companion file, as the set was written),
and opened once with tifffile, which follows the set's file references.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

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
    from pathlib import Path

    from ome_types import model as m

#: OME Plane attributes this package writes from per-frame metadata keys
_PLANE_KEYS = ("delta_t", "exposure_time", "position_x", "position_y", "position_z")
_COMPRESSION = {"NONE": "none", "ADOBE_DEFLATE": "zlib", "DEFLATE": "zlib"}


def is_companion(path: Path) -> bool:
    """Whether `path` names a companion OME-XML file."""
    name = path.name.lower()
    return name.endswith((".companion.ome", ".ome.xml"))


def inspect_tiff(path: Path) -> DatasetReport:
    """Describe and validate an OME-TIFF file, or the file set(s) in a folder."""
    report = DatasetReport(path, "OME-TIFF")
    try:
        import ome_types
        import tifffile
    except ImportError as e:
        report.problems.append(f"{e.name} is not installed")
        return report
    folder = path if path.is_dir() else path.parent
    if path.is_dir():
        queue = sorted(
            p.name
            for p in path.iterdir()
            if p.suffix.lower() in (".tif", ".tiff") or is_companion(p)
        )
    else:
        queue = [path.name]
    models: dict[str, m.OME] = {}
    xml: dict[str, str] = {}
    storage: dict[str, Storage] = {}
    tiffs: list[str] = []
    companions: list[str] = []
    plain: list[str] = []  # TIFF files without OME-XML
    seen: set[str] = set()
    while queue:  # the given files, then the files their OME-XML refers to
        name = queue.pop(0)
        if name in seen:
            continue
        seen.add(name)
        file = folder / name
        try:
            if is_companion(file):
                companions.append(name)
                xml[name] = file.read_text(encoding="utf-8")
            else:
                tiffs.append(name)
                with tifffile.TiffFile(file) as tif:
                    text = tif.ome_metadata
                    if tif.pages:
                        storage[name] = _page_storage(tif.pages.first)
                    if not text:
                        plain.append(name)
                        report.problems.append(f"{name}: no OME-XML (not an OME-TIFF)")
                        for i, series in enumerate(tif.series):
                            report.add_image(_series_image(f"{i}", name, series))
                        continue
                xml[name] = text
            with reader_warnings(report.warnings, "ome-types"):
                models[name] = ome_types.from_xml(xml[name])
        except Exception as e:  # any reader error is a finding, not a crash
            report.problems.append(f"{name}: {e}")
            continue
        queue += [f for f in _references(models[name]) if (folder / f).is_file()]
    tiffs.sort()
    companions.sort()
    report.files = [*tiffs, *(c for c in companions if c in xml)]
    covered: set[str] = set(plain)
    layouts = []
    for holder in [*companions, *tiffs]:
        model = models.get(holder)
        if holder in covered or model is None or not model.images:
            continue
        files = _set_files(model, holder, companions)
        covered.update(files, [holder])
        layouts.append(_layout(holder, files, models, companions))
        missing = [f for f in files if not (folder / f).is_file()]
        report.problems += [f"{f}: listed in {holder} but missing" for f in missing]
        try:
            _add_images(report, folder, holder, files, model, xml, storage)
        except Exception as e:  # a malformed document is a finding, not a crash
            report.problems.append(f"{holder}: {e!r}")
    for name in tiffs:
        binary = models[name].binary_only if name in models else None
        if name not in covered and binary is not None:
            report.problems.append(
                f"{name}: its OME-XML is in {binary.metadata_file}, "
                "which is missing or does not list it"
            )
    if len(layouts) == 1:
        report.layout = layouts[0]
    elif layouts:
        report.layout = f"{len(layouts)} file sets"
    return report


def _tiff_data_files(model: m.OME) -> list[str]:
    """The TIFF files the images of `model` have pages in (first mention order)."""
    out: list[str] = []
    for image in model.images:
        for block in image.pixels.tiff_data_blocks:
            name = block.uuid.file_name if block.uuid is not None else None
            if name and name not in out:
                out.append(name)
    return out


def _references(model: m.OME) -> list[str]:
    """Files an OME model names: its metadata file, its images' TIFF files."""
    own = [model.binary_only.metadata_file] if model.binary_only else []
    return own + _tiff_data_files(model)


def _set_files(model: m.OME, holder: str, companions: list[str]) -> list[str]:
    """The TIFF files of the set `model` describes (the holder's own first)."""
    files = [] if holder in companions else [holder]
    return files + [f for f in _tiff_data_files(model) if f not in files]


def _layout(
    holder: str, files: list[str], models: dict[str, m.OME], companions: list[str]
) -> str:
    if holder in companions:
        return "multi-file set (companion-file)"
    if len(files) == 1:
        return "single file"
    if any(f in models and models[f].binary_only for f in files):
        return "multi-file set (master-tiff)"
    if all(f in models and models[f].images for f in files):
        return "multi-file set (redundant)"
    return "multi-file set"


def _add_images(
    report: DatasetReport,
    folder: Path,
    holder: str,
    files: list[str],
    model: m.OME,
    xml: dict[str, str],
    storage: dict[str, Storage],
) -> None:
    """One ImageInfo per Image of `model`, opened once with tifffile."""
    import tifffile

    series: list[Any] = []
    opened = next((f for f in files if (folder / f).is_file()), None)
    omexml = xml[holder] if opened != holder else None
    if opened is not None:
        try:
            with tifffile.TiffFile(folder / opened, omexml=omexml) as tif:
                series = [
                    (s.name, tuple(s.shape), str(s.dtype), s.axes, _levels(s))
                    for s in tif.series
                ]
        except Exception as e:
            report.problems.append(f"{opened}: {e}")
    if len(series) != len(model.images):
        if series:
            report.problems.append(
                f"{holder}: tifffile reads {len(series)} series, the OME-XML "
                f"lists {len(model.images)} images"
            )
        series = []
    annotations = _map_annotations(model)
    wells = _wells(model, report)
    for k, ome_image in enumerate(model.images):
        pixels = ome_image.pixels
        blocks = pixels.tiff_data_blocks
        file = next(
            (b.uuid.file_name for b in blocks if b.uuid and b.uuid.file_name),
            holder,
        )
        if series:
            _, shape, dtype, axes, levels = series[k]
        else:  # as the OME-XML declares it
            shape, dtype, levels = _ome_shape(pixels), pixels.type.value, []
            axes = pixels.dimension_order.value[::-1]
        image = ImageInfo(
            name=ome_image.name or ome_image.id,
            path=file,
            shape=shape,
            dtype=dtype,
            axes=tuple(axes.lower()),
            series=k,
            well=wells.get(ome_image.id),
            levels=levels,
            channels=[c.name or c.id for c in pixels.channels],
            scales=_scales(pixels),
            stage=stage_label(ome_image) or _plane_stage(pixels),
            storage=storage.get(file),
        )
        image.frames = _frames(ome_image, annotations)
        keys: set[str] = set()
        for plane in pixels.planes:
            own = [key for key in _PLANE_KEYS if getattr(plane, key) is not None]
            for ref in plane.annotation_refs:
                ann = annotations.get(ref.id)
                if ann is not None and ann.namespace is None:
                    own += [item.k for item in ann.value.ms if item.k is not None]
            image.frames_with_metadata += bool(own)
            keys.update(own)
        image.frame_keys = sorted(keys)
        report.add_image(image)


def _levels(series: Any) -> list[Index]:
    levels = [tuple(level.shape) for level in series.levels]
    return levels if len(levels) > 1 else []


def _series_image(name: str, file: str, series: Any) -> ImageInfo:
    return ImageInfo(
        name=name,
        path=file,
        shape=tuple(series.shape),
        dtype=str(series.dtype),
        axes=tuple(series.axes.lower()),
        levels=_levels(series),
    )


def _ome_shape(pixels: m.Pixels) -> Index:
    sizes = {"X": pixels.size_x, "Y": pixels.size_y, "Z": pixels.size_z}
    sizes |= {"C": pixels.size_c, "T": pixels.size_t}
    return tuple(sizes[a] for a in reversed(pixels.dimension_order.value))


def _page_storage(page: Any) -> Storage:
    name = getattr(page.compression, "name", str(page.compression))
    compression = _COMPRESSION.get(name, name.lower())
    if page.is_tiled:
        return Storage(compression, "tiles", (page.tilelength, page.tilewidth))
    return Storage(compression, "strips", (page.rowsperstrip, page.imagewidth))


def _quantity(value: float | None, unit: Any) -> Quantity | None:
    if value is None:
        return None
    return Quantity(float(value), unit_name(getattr(unit, "value", None)))


def _scales(pixels: m.Pixels) -> dict[str, Quantity]:
    found = {
        "t": _quantity(pixels.time_increment, pixels.time_increment_unit),
        "z": _quantity(pixels.physical_size_z, pixels.physical_size_z_unit),
        "y": _quantity(pixels.physical_size_y, pixels.physical_size_y_unit),
        "x": _quantity(pixels.physical_size_x, pixels.physical_size_x_unit),
    }
    return {axis: q for axis, q in found.items() if q is not None}


def stage_label(image: m.Image) -> dict[str, Quantity]:
    """Stage coordinates of an OME Image's StageLabel (empty without one)."""
    label = image.stage_label
    if label is None:
        return {}
    found = {
        a: _quantity(getattr(label, a), getattr(label, f"{a}_unit")) for a in "xyz"
    }
    return {axis: q for axis, q in found.items() if q is not None}


def _plane_stage(pixels: m.Pixels) -> dict[str, Quantity]:
    """PositionX/Y/Z of the image's first Plane that has them."""
    for plane in pixels.planes:
        found = {
            a: _quantity(
                getattr(plane, f"position_{a}"), getattr(plane, f"position_{a}_unit")
            )
            for a in "xyz"
        }
        if any(q is not None for q in found.values()):
            return {axis: q for axis, q in found.items() if q is not None}
    return {}


def _map_annotations(model: m.OME) -> dict[str, m.MapAnnotation]:
    sa = model.structured_annotations
    return {a.id: a for a in sa.map_annotations} if sa is not None else {}


def _frames(image: m.Image, annotations: dict[str, m.MapAnnotation]) -> Frames:
    """Planes declared (SizeZ*SizeC*SizeT), mapped to pages, not acquired."""
    from ome_writers.metadata._ome_xml_text import NOT_ACQUIRED

    pixels = image.pixels
    sizes = {"Z": pixels.size_z, "C": pixels.size_c, "T": pixels.size_t}
    order = pixels.dimension_order.value[2:]  # fastest first, e.g. "ZCT"
    declared = sizes["Z"] * sizes["C"] * sizes["T"]

    def zct(linear: int) -> Index:
        at = {}
        for axis in order:
            linear, at[axis] = divmod(linear, sizes[axis])
        return (at["Z"], at["C"], at["T"])

    def linear(z: int, c: int, t: int) -> int:
        at, out, stride = {"Z": z, "C": c, "T": t}, 0, 1
        for axis in order:
            out += at[axis] * stride
            stride *= sizes[axis]
        return out

    blocks = pixels.tiff_data_blocks
    mapped: set[int] = set()
    for block in blocks:
        start = linear(block.first_z or 0, block.first_c or 0, block.first_t or 0)
        count = block.plane_count
        if count is None:
            count = declared - start if len(blocks) == 1 else 1
        mapped.update(range(start, min(declared, start + count)))
    not_acquired: list[Index] = []
    for ref in image.annotation_refs:
        ann = annotations.get(ref.id)
        if ann is None or ann.namespace != NOT_ACQUIRED:
            continue
        for item in ann.value.ms:
            if item.k == "planes":
                not_acquired += [tuple(p) for p in json.loads(item.value)]
    missing = [zct(i) for i in range(declared) if i not in mapped]
    skipped = {linear(*p) for p in not_acquired if len(p) == 3}
    return Frames(
        declared=declared,
        acquired=len(mapped - skipped),
        index_axes=("z", "c", "t"),
        not_acquired=sorted(not_acquired),
        missing=missing,
        source="ome-xml",
    )


def _names(count: int, convention: Any) -> list[str]:
    value = getattr(convention, "value", None)
    if value == "letter":
        return [_letters(i) for i in range(count)]
    if value == "number":
        return [str(i + 1) for i in range(count)]
    return [str(i) for i in range(count)]


def _letters(index: int) -> str:
    out = ""
    index += 1
    while index:
        index, rest = divmod(index - 1, 26)
        out = chr(ord("A") + rest) + out
    return out


def _wells(model: m.OME, report: DatasetReport) -> dict[str, str]:
    """Image ID -> its well; sets the report's plate layout."""
    if not model.plates:
        return {}
    plate = model.plates[0]
    n_rows = plate.rows or 1 + max((w.row for w in plate.wells), default=0)
    n_cols = plate.columns or 1 + max((w.column for w in plate.wells), default=0)
    rows = _names(n_rows, plate.row_naming_convention)
    columns = _names(n_cols, plate.column_naming_convention)
    info = PlateInfo(name=plate.name, rows=rows, columns=columns)
    out = {}
    for well in plate.wells:
        row = rows[well.row] if well.row < len(rows) else str(well.row)
        col = columns[well.column] if well.column < len(columns) else str(well.column)
        info.wells[f"{row}/{col}"] = len(well.well_samples)
        for sample in well.well_samples:
            if sample.image_ref is not None:
                out[sample.image_ref.id] = f"{row}/{col}"
    if report.plate is None:
        report.plate = info
    return out
