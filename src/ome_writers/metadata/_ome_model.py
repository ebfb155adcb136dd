"""OME-XML built with ome-types models: OME-TIFF's at close, and the
reference the text versions are tested against.

The axes (which dimension is Z, C or T) come from `_tiff_axes.py`. Per-plane
metadata (a Plane and a MapAnnotation per frame) is the one part also written
as text (`OmeXmlBuilder.planes_xml`): building and serialising a model per
frame would dominate the close of a long acquisition, so at close the models
hold no Planes and their text is inserted into the serialised document; the
Plane models are made only when someone asks for the models
(`OmeXmlBuilder.plane_models`, the same content and IDs).
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from ome_types import model as m

from ome_writers._schema._units import LENGTH_SYMBOLS, TIME_SYMBOLS
from ome_writers.metadata._colors import channel_color
from ome_writers.metadata._display import NAMESPACE as DISPLAY
from ome_writers.metadata._display import annotation_values
from ome_writers.metadata._frame_metadata import SPECIAL_KEYS
from ome_writers.metadata._ome_xml_text import (
    NOT_ACQUIRED,
    SERIES,
    annotation_value,
    plane_annotation_id,
    plane_values,
    plane_xml,
)
from ome_writers.metadata._tiff_axes import (
    PIXEL_TYPES,
    PlaneRecord,
    TiffAxes,
)

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence

    from ome_writers._schema import AcquisitionSettings, Channel, Dimension
    from ome_writers.metadata._display import ChannelSetting, DisplaySettings

_UM = m.UnitsLength.MICROMETER
_S = m.UnitsTime.SECOND
_OME_UNITS = {"s": _S, "um": _UM}
_SPECIAL = {key: _OME_UNITS[unit] for key, unit in SPECIAL_KEYS.items()}


def _positive(value: float | None) -> float | None:
    return float(value) if value is not None and value > 0 else None


def _length_unit(dim: Dimension | None) -> m.UnitsLength:
    symbol = LENGTH_SYMBOLS.get(dim.unit or "") if dim is not None else None
    return m.UnitsLength(symbol) if symbol else _UM


def _physical(kwargs: dict[str, Any], attr: str, dim: Dimension | None) -> None:
    """Set ``physical_size_<attr>`` (and its unit) when the scale is known."""
    value = _positive(dim.scale) if dim is not None else None
    if value is not None:
        kwargs[f"physical_size_{attr}"] = value
        kwargs[f"physical_size_{attr}_unit"] = _length_unit(dim)


def _channel(
    label: str,
    optical: Channel | None,
    image: int,
    c: int,
    display: ChannelSetting | None = None,
) -> m.Channel:
    kwargs: dict[str, Any] = {
        "id": f"Channel:{image}:{c}",
        "name": label,
        "samples_per_pixel": 1,
    }
    color = display.color if display is not None else None
    # the user's, else the channel's own, else guessed from name/emission
    color = color or channel_color(optical if optical is not None else label)
    if color is not None:
        r, g, b = bytes.fromhex(color)
        kwargs["color"] = m.Color((r, g, b))
    if optical is not None:
        if optical.excitation_wavelength_nm:
            kwargs["excitation_wavelength"] = float(optical.excitation_wavelength_nm)
            kwargs["excitation_wavelength_unit"] = m.UnitsLength.NANOMETER
        if optical.emission_wavelength_nm:
            kwargs["emission_wavelength"] = float(optical.emission_wavelength_nm)
            kwargs["emission_wavelength_unit"] = m.UnitsLength.NANOMETER
        if optical.fluorophore:
            kwargs["fluor"] = optical.fluorophore
    return m.Channel(**kwargs)


def _plane(record: PlaneRecord, ann_id: str) -> tuple[m.Plane, m.MapAnnotation | None]:
    z, c, t = record.zct
    kwargs: dict[str, Any] = {"the_z": z, "the_c": c, "the_t": t}
    meta = record.metadata or {}
    for key, value in plane_values(meta).items():
        kwargs[key] = value
        kwargs[f"{key}_unit"] = _SPECIAL[key]
    extra = {k: v for k, v in meta.items() if k not in SPECIAL_KEYS}
    annotation = None
    if extra:
        ms = [m.Map.M(k=str(k), value=annotation_value(v)) for k, v in extra.items()]
        annotation = m.MapAnnotation(id=ann_id, value=m.Map(ms=ms))
        kwargs["annotation_refs"] = [m.AnnotationRef(id=ann_id)]
    return m.Plane(**kwargs), annotation


class OmeXmlBuilder:
    """Builds the OME model(s) of a TIFF dataset from settings and written
    planes (and the channels' display settings, when given)."""

    def __init__(
        self,
        settings: AcquisitionSettings,
        created: datetime | None = None,
        display: DisplaySettings | None = None,
    ) -> None:
        self.settings = settings
        self.display = display
        self.created = created or datetime.now(timezone.utc)
        self.pixel_type = m.PixelType(PIXEL_TYPES[settings.dtype])
        self.axes = TiffAxes(settings)
        self.order = self.axes.order
        self.letters = self.axes.letters
        self.y, self.x = settings.frame_dimensions
        by_letter = dict(zip(self.letters, self.axes.dims, strict=True))
        self.t_dim, self.z_dim = by_letter.get("t"), by_letter.get("z")

    def zct(self, index: Sequence[int]) -> tuple[int, int, int]:
        """(TheZ, TheC, TheT) of a storage index."""
        return self.axes.zct(index)

    def tiff_data(
        self, planes: list[PlaneRecord], outer: int | None, uuid: m.TiffData.UUID | None
    ) -> list[m.TiffData]:
        """One TiffData for pages in DimensionOrder, else one per page."""
        if not planes:
            return []
        planes = sorted(planes, key=lambda p: p.ifd)
        first = planes[0].ifd
        raster = sorted(planes, key=lambda p: self.axes.raster_key(p.zct))
        sizes = self.axes.sizes(outer)
        if [p.ifd for p in raster] == list(range(first, first + len(planes))) and (
            len(planes) == sizes["z"] * sizes["c"] * sizes["t"]
        ):
            return [m.TiffData(ifd=first, plane_count=len(planes), uuid=uuid)]
        return [
            m.TiffData(
                ifd=p.ifd,
                first_z=p.zct[0],
                first_c=p.zct[1],
                first_t=p.zct[2],
                plane_count=1,
                uuid=uuid,
            )
            for p in planes
        ]

    def numbered(self, planes: list[PlaneRecord]) -> list[tuple[int, PlaneRecord]]:
        """The planes with per-frame metadata in DimensionOrder, each with its
        number: the order it arrived in among them (`planes` is in arrival
        order), which names its MapAnnotation whatever comes later."""
        with_metadata = enumerate(p for p in planes if p.metadata is not None)
        return sorted(with_metadata, key=lambda kp: self.axes.raster_key(kp[1].zct))

    def plane_models(
        self, position: int, planes: list[PlaneRecord]
    ) -> tuple[list[m.Plane], list[m.MapAnnotation]]:
        """The Plane of every page with per-frame metadata, and their
        MapAnnotations (the extra keys)."""
        out, annotations = [], []
        for k, record in self.numbered(planes):
            plane, annotation = _plane(record, plane_annotation_id(position, k))
            out.append(plane)
            if annotation is not None:
                annotations.append(annotation)
        return out, annotations

    def planes_xml(self, position: int, planes: list[PlaneRecord]) -> tuple[str, str]:
        """`plane_models` as text: the Plane elements, the MapAnnotations."""
        texts, annotations = [], []
        for k, record in self.numbered(planes):
            ann_id = plane_annotation_id(position, k)
            plane, annotation = plane_xml(record.zct, record.metadata, ann_id)
            texts.append(plane)
            annotations.append(annotation)
        return "".join(texts), "".join(annotations)

    def image(
        self,
        position: int,
        size_outer: int | None,
        annotations: list[m.MapAnnotation],
        tiff_data: list[m.TiffData] | None = None,
        *,
        outer_axis: int = 0,
    ) -> m.Image:
        """The Image element of one position, without Planes (see
        `plane_models`): its pixels in TIFF pages (`tiff_data`), or elsewhere
        (None: MetadataOnly). `size_outer` replaces the count of index
        dimension `outer_axis` (an unbounded one, as far as written)."""
        sizes = self.axes.sizes(size_outer if self.letters else None, outer_axis)
        kwargs: dict[str, Any] = {}
        _physical(kwargs, "x", self.x)
        _physical(kwargs, "y", self.y)
        _physical(kwargs, "z", self.z_dim)
        increment = _positive(self.t_dim.scale) if self.t_dim else None
        if self.t_dim is not None and increment is not None:
            kwargs["time_increment"] = increment
            symbol = TIME_SYMBOLS.get(self.t_dim.unit or "")
            kwargs["time_increment_unit"] = m.UnitsTime(symbol) if symbol else _S
        labels = self.axes.channel_labels(sizes["c"])
        shown = self.display.snapshot()[1] if self.display is not None else {}
        display = [shown.get(self.axes.channel_of(c)) for c in range(len(labels))]
        channels = [
            _channel(name, optical, position, c, display[c])
            for c, (name, optical) in enumerate(labels)
        ]
        for channel, setting in zip(channels, display, strict=True):
            pairs = annotation_values(setting) if setting is not None else []
            if pairs:  # OME has no field for contrast limits and visibility
                ann_id = f"Annotation:{len(annotations)}"
                ms = [m.Map.M(k=k, value=v) for k, v in pairs]
                annotations.append(
                    m.MapAnnotation(id=ann_id, namespace=DISPLAY, value=m.Map(ms=ms))
                )
                channel.annotation_refs.append(m.AnnotationRef(id=ann_id))
        if self.settings.significant_bits is not None:
            kwargs["significant_bits"] = self.settings.significant_bits
        pixels = m.Pixels(
            id=f"Pixels:{position}",
            dimension_order=m.Pixels_DimensionOrder(self.order),
            type=self.pixel_type,
            size_x=int(self.x.count or 1),
            size_y=int(self.y.count or 1),
            size_z=sizes["z"],
            size_c=sizes["c"],
            size_t=sizes["t"],
            channels=channels,
            tiff_data_blocks=tiff_data or [],
            metadata_only=m.MetadataOnly() if tiff_data is None else None,
            **kwargs,
        )
        pos = self.settings.positions[position]
        image: dict[str, Any] = {}
        coordinates = self.settings.geometry.series_coordinates
        if coordinates is not None:  # which index of each series dimension
            ann_id = f"Annotation:{len(annotations)}"
            values = [
                m.Map.M(k=str(k), value=annotation_value(v))
                for k, v in coordinates[position].items()
            ]
            annotations.append(
                m.MapAnnotation(id=ann_id, namespace=SERIES, value=m.Map(ms=values))
            )
            image["annotation_refs"] = [m.AnnotationRef(id=ann_id)]
        if (
            pos.x_coord is not None
            or pos.y_coord is not None
            or pos.z_coord is not None
        ):
            stage: dict[str, Any] = {"name": pos.name}
            for axis in "xyz":
                value = getattr(pos, f"{axis}_coord")
                if value is not None:
                    stage[axis] = float(value)
                    stage[f"{axis}_unit"] = _UM
            image["stage_label"] = m.StageLabel(**stage)
        return m.Image(
            id=f"Image:{position}",
            name=pos.name,
            acquisition_date=self.created,
            pixels=pixels,
            **image,
        )

    def plate(self) -> m.Plate | None:
        """Plate / Well / WellSample elements, when the settings describe a plate."""
        plate = self.settings.plate
        if plate is None:
            return None
        wells: dict[tuple[int, int], list[int]] = {}
        for i, p in enumerate(self.settings.positions):
            if p.plate_row in plate.row_names and p.plate_column in plate.column_names:
                key = (
                    plate.row_names.index(p.plate_row),
                    plate.column_names.index(p.plate_column),
                )
                wells.setdefault(key, []).append(i)
        kwargs: dict[str, Any] = {
            "id": "Plate:0",
            "rows": len(plate.row_names),
            "columns": len(plate.column_names),
        }
        if plate.name:
            kwargs["name"] = plate.name
        for attr, names in (("row", plate.row_names), ("column", plate.column_names)):
            if all(n.isalpha() for n in names):
                kwargs[f"{attr}_naming_convention"] = m.NamingConvention.LETTER
            elif all(n.isdigit() for n in names):
                kwargs[f"{attr}_naming_convention"] = m.NamingConvention.NUMBER
        kwargs["wells"] = [
            m.Well(
                id=f"Well:{r}_{c}",
                row=r,
                column=c,
                well_samples=[self._well_sample(i) for i in images],
            )
            for (r, c), images in wells.items()
        ]
        return m.Plate(**kwargs)

    def _well_sample(self, index: int) -> m.WellSample:
        pos = self.settings.positions[index]
        kwargs: dict[str, Any] = {}
        for axis in "xy":
            value = getattr(pos, f"{axis}_coord")
            if value is not None:
                kwargs[f"position_{axis}"] = float(value)
                kwargs[f"position_{axis}_unit"] = _UM
        return m.WellSample(
            id=f"WellSample:{index}",
            index=index,
            image_ref=m.ImageRef(id=f"Image:{index}"),
            **kwargs,
        )


def global_annotation(
    namespace: str, metadata: dict[str, Any], ann_id: str
) -> m.MapAnnotation:
    """One MapAnnotation holding a namespace's top-level keys (JSON values)."""
    return m.MapAnnotation(
        id=ann_id,
        namespace=namespace,
        value=m.Map(
            ms=[m.Map.M(k=str(k), value=json.dumps(v)) for k, v in metadata.items()]
        ),
    )


def free_annotation_id(annotations: m.StructuredAnnotations) -> str:
    """An ``Annotation:<n>`` ID not used by any annotation in `annotations`."""
    used = {a.id for a in annotations}
    n = len(used)
    while f"Annotation:{n}" in used:
        n += 1
    return f"Annotation:{n}"


def set_global_annotation(ome: m.OME, namespace: str, metadata: dict[str, Any]) -> None:
    """Put (or replace, in place) the MapAnnotation of `namespace` in `ome`."""
    if ome.structured_annotations is None:
        ome.structured_annotations = m.StructuredAnnotations()
    sa = ome.structured_annotations
    maps = sa.map_annotations
    for i, ann in enumerate(maps):
        if ann.namespace == namespace:
            maps[i] = global_annotation(namespace, metadata, ann.id)
            return
    maps.append(global_annotation(namespace, metadata, free_annotation_id(sa)))


def not_acquired_annotation(ann_id: str, planes: list[list[int]]) -> m.MapAnnotation:
    """The planes (``[TheZ, TheC, TheT]``) of an image that no frame was for.

    A jagged acquisition leaves them out by design; they hold zero pages so
    that readers see a regular image.
    """
    return m.MapAnnotation(
        id=ann_id,
        namespace=NOT_ACQUIRED,
        value=m.Map(ms=[m.Map.M(k="planes", value=json.dumps(planes))]),
    )


def assemble_ome(
    images: list[m.Image],
    annotations: list[m.MapAnnotation],
    plate: m.Plate | None,
    global_metadata: dict[str, dict[str, Any]],
    uuid: str | None = None,
) -> m.OME:
    """The OME document of images, their annotations, a plate and the
    dataset-level (namespaced) metadata; no empty StructuredAnnotations."""
    ome = m.OME(
        uuid=uuid,
        creator="ome-writers",
        images=images,
        plates=[plate] if plate else [],
        structured_annotations=m.StructuredAnnotations(map_annotations=annotations),
    )
    for namespace, metadata in global_metadata.items():
        set_global_annotation(ome, namespace, metadata)
    if ome.structured_annotations is not None and not list(ome.structured_annotations):
        ome.structured_annotations = None
    return ome


def check_ome_update(metadata: Any, finalized: bool, known: Iterable[int]) -> None:
    """Raise unless `metadata` maps known file indices to OME models, after close."""
    if not isinstance(metadata, dict):
        raise TypeError(
            f"Expected dict[int, ome_types.model.OME] metadata, got {type(metadata)}"
        )
    for key, value in metadata.items():
        if not isinstance(value, m.OME):
            raise TypeError(
                f"Expected ome_types.model.OME for position {key}, got {type(value)}"
            )
    if not finalized:
        raise RuntimeError(
            "update_metadata() must be called after the stream context exits. "
            "OME-TIFF metadata is written at close; get_metadata() returns the "
            "written models then."
        )
    known = set(known)
    for key in metadata:
        if key not in known:
            raise KeyError(f"Unknown position index: {key}")
