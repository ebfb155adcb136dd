"""OME-Zarr hierarchy and group metadata (NGFF 0.5 or 0.4), built from
yaozarrs models.

NGFF 0.5 keeps its documents under the ``ome`` key of a group's attributes;
0.4 keeps them as the attributes themselves (each with its own ``version``).
NGFF 0.6rc0 documents are the 0.5 ones restated with coordinate systems
(`_ngff06`).
"""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING, Any

import numpy as np
import yaozarrs.v04 as ngff04
import yaozarrs.v05 as ngff

from ome_writers._io._paths import safe_segment
from ome_writers._schema import Channel, effective_type
from ome_writers._schema._pyramid import Pyramid, level_transform
from ome_writers.metadata import _ngff06
from ome_writers.metadata._colors import channel_color
from ome_writers.metadata._display import value_range
from ome_writers.metadata._zarr_layout import ZarrLayout, plan_layout, well_path

if TYPE_CHECKING:
    from types import ModuleType

    from ome_writers._schema import AcquisitionSettings, Dimension, Position


def ngff_version(settings: AcquisitionSettings) -> str:
    """The NGFF version `settings` write ("0.5" unless the format says)."""
    version: str = getattr(settings.format, "ngff_version", "0.5")
    return version


def _models(version: str) -> ModuleType:
    """The yaozarrs models of one NGFF version."""
    return ngff04 if version == "0.4" else ngff


def _attributes(version: str, document: dict[str, Any]) -> dict[str, Any]:
    """A group's attributes holding one NGFF `document`."""
    return document if version == "0.4" else {"ome": document}


BF2RAW = {"bioformats2raw.layout": 3}
#: the series path of an image at the dataset's root: the root group's path
#: ("" in Zarr; "." is no valid Zarr path)
ROOT_SERIES = ""


def _dump(model: Any) -> dict[str, Any]:
    data: dict[str, Any] = model.model_dump(
        mode="json", by_alias=True, exclude_none=True
    )
    return data


def _declared_unit(dim: Dimension) -> str | None:
    """The axis unit: none without a known step, which is written as the
    required scale 1.0 that a unit would turn into a claim (1 s per index)."""
    return dim.unit if dim.scale is not None and dim.scale > 0 else None


def _axis(dim: Dimension) -> Any:
    kind = effective_type(dim)
    unit = _declared_unit(dim)
    if kind == "time":
        return ngff.TimeAxis(name=dim.name, unit=unit)
    if kind == "space":
        return ngff.SpaceAxis(name=dim.name, unit=unit)
    if kind == "channel":
        return ngff.ChannelAxis(name=dim.name)
    return ngff.CustomAxis(name=dim.name, type=kind)


def _window(dtype: np.dtype, significant_bits: int | None) -> ngff.OmeroWindow:
    lo, hi = value_range(dtype, significant_bits)
    return ngff.OmeroWindow(start=lo, min=lo, end=hi, max=hi)


def _color(channel: Channel | str) -> str:
    return channel_color(channel) or "FFFFFF"


def image_attributes(
    settings: AcquisitionSettings, name: str | None = None
) -> dict[str, Any]:
    """The NGFF document of one image group (axes in storage order): its
    ``ome`` attributes (0.5), or its attributes (0.4)."""
    models = _models(ngff_version(settings))
    dims = settings.array_storage_dimensions
    datasets = [
        models.Dataset(path=str(level), coordinateTransformations=transforms)
        for level, transforms in enumerate(level_transforms(settings))
    ]
    multiscale = models.Multiscale(
        name=name, axes=[_axis(d) for d in dims], datasets=datasets
    )
    omero = None
    channel_dim = next((d for d in dims if effective_type(d) == "channel"), None)
    if channel_dim is not None and channel_dim.coords:
        window = _window(np.dtype(settings.dtype), settings.significant_bits)
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
    return _dump(models.Image(multiscales=[multiscale], omero=omero))


def level_transforms(settings: AcquisitionSettings) -> list[list[Any]]:
    """Coordinate transformations of every pyramid level (level 0 first)."""
    models = _models(ngff_version(settings))
    dims = settings.array_storage_dimensions
    pyramid = settings.pyramid or Pyramid(levels=1)
    out: list[list[Any]] = []
    for level in range(settings.pyramid_levels):
        scale, translation = level_transform(pyramid, dims, level)
        transforms: list[Any] = [models.ScaleTransformation(scale=scale)]
        if any(translation):
            transforms.append(models.TranslationTransformation(translation=translation))
        out.append(transforms)
    return out


class _ImageAttributes:
    """`image_attributes` of many images of one acquisition: validated once.

    Images of one acquisition differ only in their name, so the document is
    built (and validated by yaozarrs) once and copied per name, rather than
    validated again for each of a plate's hundreds of images.
    """

    def __init__(self, settings: AcquisitionSettings, stage: bool = True) -> None:
        self._settings = settings
        self._stage = stage  # stage positions in the levels' translations
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
        if position is not None and self._stage:
            add_stage_position(out, self._settings, position)
        return out


# micrometres (stage coordinates) in other length units of NGFF axes
_FROM_UM = {
    "nanometer": 1e3,
    "micrometer": 1.0,
    "millimeter": 1e-3,
    "centimeter": 1e-4,
    "meter": 1e-6,
}


def stage_offsets(
    settings: AcquisitionSettings, position: Position
) -> list[float | None]:
    """The stage coordinates of `position` per axis, in the axis's unit.

    x/y go to the frame axes, z to a space axis named "z"; only along axes
    with a length unit (a coordinate in micrometres cannot be placed on an
    axis of pixels, nor on one whose step is not known); None elsewhere.
    """
    dims = settings.array_storage_dimensions
    offsets: list[float | None] = [None] * len(dims)
    stage = {dims[-1].name: position.x_coord, dims[-2].name: position.y_coord}
    stage["z"] = position.z_coord
    for i, d in enumerate(dims):
        value = stage.get(d.name) if effective_type(d) == "space" else None
        factor = _FROM_UM.get(_declared_unit(d) or "")
        if value is not None and factor is not None:
            offsets[i] = float(value) * factor
    return offsets


def add_stage_position(
    attributes: dict[str, Any], settings: AcquisitionSettings, position: Position
) -> None:
    """Add the stage coordinates of `position` to every level's translation.

    Tiles can then be placed without the acquisition software; OME-XML
    carries the same as plane positions.
    """
    dims = settings.array_storage_dimensions
    offsets = [v or 0.0 for v in stage_offsets(settings, position)]
    if not any(offsets):
        return
    for dataset in attributes["multiscales"][0]["datasets"]:
        transforms = dataset["coordinateTransformations"]
        if len(transforms) < 2:
            transforms.append({"type": "translation", "translation": [0.0] * len(dims)})
        translation = transforms[1]["translation"]
        for i, offset in enumerate(offsets):
            translation[i] += offset


def group_documents(
    settings: AcquisitionSettings, layout: ZarrLayout
) -> dict[str, dict[str, Any]]:
    """Group path -> attributes of every group of `layout`, in creation order
    (in the NGFF version `settings.format` names)."""
    if ngff_version(settings) != _ngff06.VERSION:
        return _documents(settings, layout, stage=True)
    groups = _documents(settings, layout, stage=False)
    # per image: its stage coordinates, or None where none can be placed
    stages: list[list[float] | None] = []
    for position in settings.positions:
        offsets = stage_offsets(settings, position)
        placed = any(v is not None for v in offsets)
        stages.append([v or 0.0 for v in offsets] if placed else None)
    return _ngff06.restated(groups, layout, stages, scene=not settings.is_ragged)


def _documents(
    settings: AcquisitionSettings, layout: ZarrLayout, *, stage: bool
) -> dict[str, dict[str, Any]]:
    """The 0.5 or 0.4 documents (0.6rc0 restates the 0.5 ones); `stage`:
    stage positions in the levels' translations."""
    version = ngff_version(settings)
    models = _models(version)

    def attributes(model: Any) -> dict[str, Any]:
        return _attributes(version, _dump(model))

    def image(name: str | None, position: Position) -> dict[str, Any]:
        return _attributes(version, named_image(name, position))

    groups: dict[str, dict[str, Any]] = {}
    positions = settings.positions
    named_image = _ImageAttributes(settings, stage)
    if layout.kind == "plate":
        plate = settings.plate
        assert plate is not None
        well_defs = [
            models.PlateWell(
                path=well_path(r, c),
                rowIndex=plate.row_names.index(r),
                columnIndex=plate.column_names.index(c),
            )
            for r, c in layout.wells
        ]
        plate_def = models.PlateDef(
            name=plate.name,
            rows=[models.Row(name=safe_segment(r)) for r in plate.row_names],
            columns=[models.Column(name=safe_segment(c)) for c in plate.column_names],
            wells=well_defs,
        )
        # bioformats2raw's plates: the layout key beside the plate, and the
        # series for readers that know no plates (NGFF "bioformats2raw.layout")
        bf2raw = _dump(models.Bf2Raw(bioformats2raw_layout=3))
        groups["."] = _attributes(
            version, {**bf2raw, **_dump(models.Plate(plate=plate_def))}
        )
        groups["OME"] = attributes(models.Series(series=list(layout.image_paths)))
        for (r, c), fovs in layout.wells.items():
            groups.setdefault(safe_segment(r), {})
            images = [models.FieldOfView(path=f) for f in fovs]
            groups[well_path(r, c)] = attributes(
                models.Well(well=models.WellDef(images=images))
            )
        for p, path in zip(positions, layout.image_paths, strict=True):
            groups[path] = image(p.name, p)
    elif layout.kind == "collection":
        coordinates = settings.geometry.series_coordinates
        bf2raw = models.Bf2Raw(bioformats2raw_layout=3)
        groups["."] = attributes(bf2raw)
        groups["OME"] = attributes(models.Series(series=list(layout.image_paths)))
        for k, (p, name) in enumerate(zip(positions, layout.image_paths, strict=True)):
            groups[name] = image(p.name, p)
            if coordinates is not None:  # which index of each series dimension
                groups[name]["ome_writers"] = {"series": coordinates[k]}
    else:
        groups["."] = image(None, positions[0])
        if layout.ome_xml:  # the root's own group is the one series
            groups["OME"] = attributes(models.Series(series=[ROOT_SERIES]))
    return groups


def build_layout(settings: AcquisitionSettings) -> ZarrLayout:
    """Paths and group documents of `settings` (single image, collection or plate)."""
    layout = plan_layout(settings)
    layout.groups = group_documents(settings, layout)
    return layout
