"""OME-Zarr v0.5 hierarchy and group metadata, built from yaozarrs models."""

from __future__ import annotations

import copy
import json
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import yaozarrs.v05 as ngff

from ome_writers._paths import safe_segment
from ome_writers._schema import Channel, effective_type
from ome_writers._schema._pyramid import Pyramid, level_transform

from ._colors import channel_color

if TYPE_CHECKING:
    from ome_writers._object_store import DatasetPath
    from ome_writers._schema import AcquisitionSettings, Dimension, Position


@dataclass
class ZarrLayout:
    """Where every group and array of a dataset goes.

    Attributes
    ----------
    groups : dict[str, dict]
        Group path ("." for the root) -> attributes, in creation order.
    image_paths : list[str]
        Image group path per position index; the array is ``<image>/0``.
    """

    groups: dict[str, dict[str, Any]] = field(default_factory=dict)
    image_paths: list[str] = field(default_factory=list)

    def array_path(self, position: int, level: int = 0) -> str:
        """Path of one position's array (of pyramid `level`), relative to the root."""
        image = self.image_paths[position]
        return str(level) if image == "." else f"{image}/{level}"


def _dump(model: Any) -> dict[str, Any]:
    data: dict[str, Any] = model.model_dump(
        mode="json", by_alias=True, exclude_none=True
    )
    return data


def _axis(dim: Dimension) -> Any:
    kind = effective_type(dim)
    unit = dim.unit
    if kind == "time":
        return ngff.TimeAxis(name=dim.name, unit=unit)
    if kind == "space":
        return ngff.SpaceAxis(name=dim.name, unit=unit)
    if kind == "channel":
        return ngff.ChannelAxis(name=dim.name)
    return ngff.CustomAxis(name=dim.name, type=kind)


def _window(dtype: np.dtype) -> ngff.OmeroWindow:
    if dtype.kind in "iu":
        info = np.iinfo(dtype)
        lo, hi = float(info.min), float(info.max)
    else:  # floats, bool: display range 0..1 (a reader can rescale)
        lo, hi = 0.0, 1.0
    return ngff.OmeroWindow(start=lo, min=lo, end=hi, max=hi)


def _color(channel: Channel | str) -> str:
    return channel_color(channel) or "FFFFFF"


def image_attributes(
    settings: AcquisitionSettings, name: str | None = None
) -> dict[str, Any]:
    """The ``ome`` attributes of one image group (axes in storage order)."""
    dims = settings.array_storage_dimensions
    datasets = [
        ngff.Dataset(path=str(level), coordinateTransformations=transforms)
        for level, transforms in enumerate(level_transforms(settings))
    ]
    multiscale = ngff.Multiscale(
        name=name, axes=[_axis(d) for d in dims], datasets=datasets
    )
    omero = None
    channel_dim = next((d for d in dims if effective_type(d) == "channel"), None)
    if channel_dim is not None and channel_dim.coords:
        window = _window(np.dtype(settings.dtype))
        channels = [
            ngff.OmeroChannel(
                label=str(getattr(c, "name", c)),
                color=_color(c if isinstance(c, Channel) else str(c)),
                window=window,
                active=True,
            )
            for c in channel_dim.coords
        ]
        omero = ngff.Omero(channels=channels)
    return _dump(ngff.Image(multiscales=[multiscale], omero=omero))


def level_transforms(settings: AcquisitionSettings) -> list[list[Any]]:
    """Coordinate transformations of every pyramid level (level 0 first)."""
    dims = settings.array_storage_dimensions
    pyramid = settings.pyramid or Pyramid(levels=1)
    out: list[list[Any]] = []
    for level in range(settings.pyramid_levels):
        scale, translation = level_transform(pyramid, dims, level)
        transforms: list[Any] = [ngff.ScaleTransformation(scale=scale)]
        if any(translation):
            transforms.append(ngff.TranslationTransformation(translation=translation))
        out.append(transforms)
    return out


class _ImageAttributes:
    """`image_attributes` of many images of one acquisition: validated once.

    Images of one acquisition differ only in their name, so the document is
    built (and validated by yaozarrs) once and copied per name; a 384-field
    plate otherwise spends a tenth of a second in validation.
    """

    def __init__(self, settings: AcquisitionSettings) -> None:
        self._settings = settings
        self._base: dict[str, Any] | None = None

    def __call__(
        self, name: str | None, position: Position | None = None
    ) -> dict[str, Any]:
        if name is None:
            out = image_attributes(self._settings)
        else:
            if self._base is None:
                self._base = image_attributes(self._settings, name)
            out = copy.deepcopy(self._base)
            out["multiscales"][0]["name"] = name
        if position is not None:
            add_stage_position(out, self._settings, position)
        return out


def set_windows(
    attributes: dict[str, Any], windows: list[tuple[float, float] | None]
) -> None:
    """Set each ``omero`` channel's display window (start, end) where known."""
    omero = attributes.get("ome", {}).get("omero")
    if not omero:
        return
    for channel, window in zip(omero["channels"], windows, strict=False):
        if window is not None:
            channel["window"]["start"], channel["window"]["end"] = window


# micrometres (stage coordinates) in other length units of NGFF axes
_FROM_UM = {
    "nanometer": 1e3,
    "micrometer": 1.0,
    "millimeter": 1e-3,
    "centimeter": 1e-4,
    "meter": 1e-6,
}


def add_stage_position(
    attributes: dict[str, Any], settings: AcquisitionSettings, position: Position
) -> None:
    """Add the stage coordinates of `position` to every level's translation.

    x/y go to the frame axes, z to a space axis named "z"; only along axes
    whose unit is a length (a coordinate in micrometres cannot be placed on
    an axis of pixels). Tiles can then be placed without the acquisition
    software; OME-XML carries the same as plane positions.
    """
    dims = settings.array_storage_dimensions
    offsets = [0.0] * len(dims)
    stage = {dims[-1].name: position.x_coord, dims[-2].name: position.y_coord}
    stage["z"] = position.z_coord
    for i, d in enumerate(dims):
        value = stage.get(d.name) if effective_type(d) == "space" else None
        factor = _FROM_UM.get(d.unit or "")
        if value is not None and factor is not None:
            offsets[i] = float(value) * factor
    if not any(offsets):
        return
    for dataset in attributes["multiscales"][0]["datasets"]:
        transforms = dataset["coordinateTransformations"]
        if len(transforms) < 2:
            transforms.append({"type": "translation", "translation": [0.0] * len(dims)})
        translation = transforms[1]["translation"]
        for i, offset in enumerate(offsets):
            translation[i] += offset


def check_axes(settings: AcquisitionSettings) -> str | None:
    """Why the storage order is not a valid NGFF axis order, or None."""
    try:
        image_attributes(settings)
    except Exception as e:  # yaozarrs raises pydantic validation errors
        first = str(e).splitlines()
        order = [d.name for d in settings.array_storage_dimensions]
        detail = first[2].strip() if len(first) > 2 else str(e)
        return f"storage order {order} is not a valid OME-Zarr axis order: {detail}"
    return None


def _series_name(position: Position) -> str:
    if position.grid_row is not None:
        return f"{position.name}_{position.grid_row}_{position.grid_column}"
    return position.name


def _alnum(text: str) -> str:
    return "".join(ch for ch in text if ch.isascii() and ch.isalnum())


def _field_names(positions: tuple[Position, ...]) -> list[str]:
    """Field path per plate position: alphanumeric (NGFF), unique within a well.

    The position name with other characters removed (useq's well-plate fields
    ``fov0``, ``fov1`` give ``A/1/fov0``, ``A/1/fov1``); fields of one well that
    share a name but not a grid cell get the cell appended (``r<row>c<col>``);
    anything still empty or duplicated becomes ``fov<index>``.
    """
    wells: dict[tuple[Any, ...], list[str]] = {}
    names = []
    for i, p in enumerate(positions):
        taken = wells.setdefault((p.plate_row, p.plate_column), [])
        name = _alnum(p.name)
        if p.grid_row is not None and any(
            q.name == p.name
            and q.group[:2] == p.group[:2]  # the same well
            and q.group != p.group
            for q in positions
        ):
            name += f"r{p.grid_row}c{p.grid_column}"
        if not name or name in taken:
            name = f"fov{i}"
        taken.append(name)
        names.append(name)
    return names


def _unique(segments: list[str]) -> list[str]:
    out: list[str] = []
    for seg in segments:
        candidate, k = seg, 1
        while candidate in out:
            candidate = f"{seg}_{k}"
            k += 1
        out.append(candidate)
    return out


def check_plate(settings: AcquisitionSettings) -> str | None:
    """Why plate positions cannot be laid out, or None."""
    plate = settings.plate
    if plate is None:
        return None
    outside = [
        p.name
        for p in settings.positions
        if p.plate_row not in plate.row_names
        or p.plate_column not in plate.column_names
    ]
    if outside:
        return (
            f"positions {outside} have a row/column that is not in the plate's "
            f"row_names/column_names; extend the Plate to include them"
        )
    return None


def build_layout(settings: AcquisitionSettings) -> ZarrLayout:
    """Groups and image paths for `settings` (single image, collection or plate)."""
    layout = ZarrLayout()
    positions = settings.positions
    named_image = _ImageAttributes(settings)
    if settings.plate is not None:
        plate = settings.plate
        fields = _field_names(positions)
        wells: dict[tuple[str, str], list[str]] = {}
        for p, fov in zip(positions, fields, strict=True):
            wells.setdefault((str(p.plate_row), str(p.plate_column)), []).append(fov)
        well_defs = [
            ngff.PlateWell(
                path=f"{safe_segment(r)}/{safe_segment(c)}",
                rowIndex=plate.row_names.index(r),
                columnIndex=plate.column_names.index(c),
            )
            for r, c in wells
        ]
        plate_def = ngff.PlateDef(
            name=plate.name,
            rows=[ngff.Row(name=safe_segment(r)) for r in plate.row_names],
            columns=[ngff.Column(name=safe_segment(c)) for c in plate.column_names],
            wells=well_defs,
        )
        layout.groups["."] = {"ome": _dump(ngff.Plate(plate=plate_def))}
        for (r, c), fovs in wells.items():
            row, col = safe_segment(r), safe_segment(c)
            layout.groups.setdefault(row, {})
            images = [ngff.FieldOfView(path=f) for f in fovs]
            layout.groups[f"{row}/{col}"] = {
                "ome": _dump(ngff.Well(well=ngff.WellDef(images=images)))
            }
        for p, fov in zip(positions, fields, strict=True):
            row, col = safe_segment(str(p.plate_row)), safe_segment(str(p.plate_column))
            path = f"{row}/{col}/{fov}"
            layout.groups[path] = {"ome": named_image(p.name, p)}
            layout.image_paths.append(path)
    elif len(positions) > 1:
        names = _unique([safe_segment(_series_name(p)) for p in positions])
        coordinates = settings.series_coordinates()
        bf2raw = ngff.Bf2Raw(bioformats2raw_layout=3)  # type: ignore[call-arg]
        layout.groups["."] = {"ome": _dump(bf2raw)}
        layout.groups["OME"] = {"ome": _dump(ngff.Series(series=names))}
        for k, (p, name) in enumerate(zip(positions, names, strict=True)):
            layout.groups[name] = {"ome": named_image(p.name, p)}
            if coordinates is not None:  # which index of each series dimension
                layout.groups[name]["ome_writers"] = {"series": coordinates[k]}
            layout.image_paths.append(name)
    else:
        layout.groups["."] = {"ome": named_image(None, positions[0])}
        layout.image_paths.append(".")
    return layout


def write_groups(root: DatasetPath, groups: dict[str, dict[str, Any]]) -> None:
    """Create the groups of a new dataset; a plate's hundreds on a few threads.

    Creating directories and files waits for the filesystem, not for Python,
    so threads overlap those waits (a 96-well plate with 4 fields per well has
    489 groups). Nothing is replaced, so each file is written in place.
    """
    if len(groups) <= _SERIAL_GROUPS:
        for path, attributes in groups.items():
            write_group(root, path, attributes, atomic=False)
        return
    with ThreadPoolExecutor(_GROUP_THREADS) as pool:
        for future in [
            pool.submit(write_group, root, path, attributes, atomic=False)
            for path, attributes in groups.items()
        ]:
            future.result()


_SERIAL_GROUPS = 16
_GROUP_THREADS = 8


def write_group(
    root: DatasetPath, path: str, attributes: dict[str, Any], *, atomic: bool = True
) -> None:
    """Write a group's zarr.json, atomically (temp file + rename) unless told not.

    A reader never sees a half-written document of a group that exists; a new
    group (`atomic=False`) has no earlier document to protect. In a bucket,
    one PUT replaces an object atomically.
    """
    directory = root if path == "." else root / path
    directory.mkdir(parents=True, exist_ok=True)
    doc = {"zarr_format": 3, "node_type": "group", "attributes": attributes}
    try:
        # compact: without `indent`, json uses its C encoder (~10x faster)
        text = json.dumps(doc, allow_nan=False, separators=(",", ":"))
    except (TypeError, ValueError) as e:
        raise ValueError(f"Failed to serialize zarr.json for {directory}: {e}") from e
    if atomic and isinstance(directory, Path):
        tmp = directory / "zarr.json.tmp"
        tmp.write_text(text)
        os.replace(tmp, directory / "zarr.json")
    else:
        (directory / "zarr.json").write_text(text)
