"""OME-XML for OME-TIFF, built with ome-types models (no hand-written XML)."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

import numpy as np
from ome_types import model as m

from ome_writers._schema import Channel, effective_type
from ome_writers._schema._units import ome_symbol

from ._frames import SPECIAL_KEYS

if TYPE_CHECKING:
    from ome_writers._schema import AcquisitionSettings, Dimension

PIXEL_TYPES = {
    "uint8": "uint8",
    "uint16": "uint16",
    "uint32": "uint32",
    "int8": "int8",
    "int16": "int16",
    "int32": "int32",
    "float32": "float",
    "float64": "double",
}
OME_AXES = ("z", "c", "t")


def tiff_axes(settings: AcquisitionSettings) -> list[str]:
    """OME letter (z/c/t) of each storage index dimension.

    Dimensions named t, c or z (any case) map to themselves; one other
    dimension (e.g. pymmcore-plus's "cam") is stored as C when there is no
    channel dimension.
    """
    letters = []
    for d in settings.storage_index_dimensions:
        name = d.name.lower()
        letters.append(name if name in OME_AXES else "c")
    return letters


def check_tiff_axes(settings: AcquisitionSettings) -> str | None:
    """Why the dimensions cannot be stored as OME-TIFF Z/C/T, or None."""
    letters = tiff_axes(settings)
    dupes = sorted({a for a in letters if letters.count(a) > 1})
    if dupes:
        names = [d.name for d in settings.storage_index_dimensions]
        return (
            f"OME-TIFF stores only Z, C and T besides Y/X; dimensions {names} map "
            f"to {letters} ({dupes} twice). Only one dimension not named t/c/z is "
            "allowed, and only without a channel dimension (it is stored as C)."
        )
    acquisition = settings.index_dimensions
    storage = settings.storage_index_dimensions
    if (
        acquisition
        and acquisition[0].count is None
        and storage[0] is not acquisition[0]
    ):
        return (
            f"OME-TIFF pages grow along the unbounded dimension "
            f"{acquisition[0].name!r}: it must stay first in storage_order"
        )
    if settings.dtype and settings.dtype not in PIXEL_TYPES:
        return (
            f"OME-TIFF cannot store dtype {settings.dtype!r}; supported: "
            f"{sorted(PIXEL_TYPES)}"
        )
    return None


def dimension_order(settings: AcquisitionSettings) -> str:
    """OME DimensionOrder of the storage order (fastest first after XY)."""
    letters = [a.upper() for a in reversed(tiff_axes(settings))]
    letters += [a for a in "ZCT" if a not in letters]
    return "XY" + "".join(letters)


def _positive(value: float | None) -> float | None:
    return float(value) if value is not None and value > 0 else None


def _length_unit(dim: Dimension | None) -> Any:
    if dim is None or not dim.unit or effective_type(dim) != "space":
        return None
    symbol = ome_symbol(dim.unit)
    return m.UnitsLength(symbol) if symbol else None


def _rgba(channel: Channel) -> Any:
    if channel.color is None:
        return None
    r, g, b, *_ = channel.color.as_rgb_tuple(alpha=False)
    return m.Color((r, g, b))


def _channels(dim: Dimension | None, size_c: int, image: int) -> list[m.Channel]:
    out = []
    coords = dim.coords if dim is not None and dim.coords else None
    for c in range(size_c):
        kwargs: dict[str, Any] = {"id": f"Channel:{image}:{c}", "samples_per_pixel": 1}
        label = coords[c] if coords else None
        if isinstance(label, Channel):
            kwargs["name"] = label.name
            if label.color is not None:
                kwargs["color"] = _rgba(label)
            if label.excitation_wavelength_nm:
                kwargs["excitation_wavelength"] = float(label.excitation_wavelength_nm)
                kwargs["excitation_wavelength_unit"] = m.UnitsLength.NANOMETER
            if label.emission_wavelength_nm:
                kwargs["emission_wavelength"] = float(label.emission_wavelength_nm)
                kwargs["emission_wavelength_unit"] = m.UnitsLength.NANOMETER
            if label.fluorophore:
                kwargs["fluor"] = label.fluorophore
        elif label is not None:
            kwargs["name"] = str(label)
        out.append(m.Channel(**kwargs))
    return out


@dataclass
class PlaneRecord:
    """One page: where it is and what it holds."""

    ifd: int
    zct: tuple[int, int, int]
    metadata: dict[str, Any] | None = None


@dataclass
class ImageState:
    """What has been written for one image (position)."""

    file_index: int
    planes: list[PlaneRecord] = field(default_factory=list)


def _annotation_value(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)


def _plane(record: PlaneRecord, annotations: list[Any]) -> m.Plane:
    z, c, t = record.zct
    kwargs: dict[str, Any] = {"the_z": z, "the_c": c, "the_t": t}
    meta = record.metadata or {}
    special = {
        "delta_t": ("delta_t", m.UnitsTime.SECOND),
        "exposure_time": ("exposure_time", m.UnitsTime.SECOND),
        "position_x": ("position_x", m.UnitsLength.MICROMETER),
        "position_y": ("position_y", m.UnitsLength.MICROMETER),
        "position_z": ("position_z", m.UnitsLength.MICROMETER),
    }
    for key, (attr, unit) in special.items():
        value = meta.get(key)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            kwargs[attr] = float(value)
            kwargs[f"{attr}_unit"] = unit
    extra = {k: v for k, v in meta.items() if k not in SPECIAL_KEYS}
    if extra:
        ann_id = f"Annotation:{len(annotations)}"
        annotations.append(
            m.MapAnnotation(
                id=ann_id,
                value=m.Map(
                    ms=[
                        m.Map.M(k=str(k), value=_annotation_value(v))
                        for k, v in extra.items()
                    ]
                ),
            )
        )
        kwargs["annotation_refs"] = [m.AnnotationRef(id=ann_id)]
    return m.Plane(**kwargs)


class OmeXmlBuilder:
    """Builds the OME model(s) of a TIFF dataset from settings and written planes."""

    def __init__(self, settings: AcquisitionSettings) -> None:
        self.settings = settings
        self.created = datetime.now(timezone.utc)
        self.pixel_type = m.PixelType(PIXEL_TYPES[settings.dtype])
        self.order = dimension_order(settings)
        letters = tiff_axes(settings)
        self.sizes = {"z": 1, "c": 1, "t": 1}
        self.letters = letters
        for letter, d in zip(letters, settings.storage_index_dimensions, strict=True):
            self.sizes[letter] = d.count or 1
        self.dims = dict(zip(letters, settings.storage_index_dimensions, strict=True))
        self.y, self.x = settings.frame_dimensions

    def zct(self, index: tuple[int, ...]) -> tuple[int, int, int]:
        """(TheZ, TheC, TheT) of a storage index."""
        by = dict(zip(self.letters, index, strict=True))
        return by.get("z", 0), by.get("c", 0), by.get("t", 0)

    def image(
        self,
        position: int,
        planes: list[PlaneRecord],
        size_outer: int | None,
        annotations: list[Any],
        tiff_data: list[m.TiffData],
    ) -> m.Image:
        """The Image element of one position."""
        sizes = dict(self.sizes)
        if size_outer is not None and self.letters:
            sizes[self.letters[0]] = size_outer
        t_dim = self.dims.get("t")
        z_dim = self.dims.get("z")
        pixels = m.Pixels(
            id=f"Pixels:{position}",
            dimension_order=m.Pixels_DimensionOrder(self.order),
            type=self.pixel_type,
            size_x=int(self.x.count or 1),
            size_y=int(self.y.count or 1),
            size_z=sizes["z"],
            size_c=sizes["c"],
            size_t=sizes["t"],
            physical_size_x=_positive(self.x.scale),
            physical_size_x_unit=_length_unit(self.x) or m.UnitsLength.MICROMETER,
            physical_size_y=_positive(self.y.scale),
            physical_size_y_unit=_length_unit(self.y) or m.UnitsLength.MICROMETER,
            physical_size_z=_positive(z_dim.scale) if z_dim else None,
            physical_size_z_unit=_length_unit(z_dim) or m.UnitsLength.MICROMETER,
            time_increment=_positive(t_dim.scale) if t_dim else None,
            time_increment_unit=m.UnitsTime(ome_symbol(t_dim.unit))
            if t_dim and t_dim.unit and ome_symbol(t_dim.unit)
            else m.UnitsTime.SECOND,
            channels=_channels(self.dims.get("c"), sizes["c"], position),
            tiff_data_blocks=tiff_data,
            planes=[_plane(p, annotations) for p in planes if p.metadata],
            metadata_only=None,
        )
        name = self.settings.positions[position].name
        return m.Image(
            id=f"Image:{position}",
            name=name,
            acquisition_date=self.created,
            pixels=pixels,
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
        if all(r.isalpha() for r in plate.row_names):
            kwargs["row_naming_convention"] = m.NamingConvention.LETTER
        if all(c.isdigit() for c in plate.column_names):
            kwargs["column_naming_convention"] = m.NamingConvention.NUMBER
        kwargs["wells"] = [
            m.Well(
                id=f"Well:{r}_{c}",
                row=r,
                column=c,
                well_samples=[
                    m.WellSample(
                        id=f"WellSample:{i}",
                        index=i,
                        image_ref=m.ImageRef(id=f"Image:{i}"),
                        position_x=self.settings.positions[i].x_coord,
                        position_y=self.settings.positions[i].y_coord,
                    )
                    for i in images
                ],
            )
            for (r, c), images in wells.items()
        ]
        return m.Plate(**kwargs)


def new_uuid() -> str:
    """A fresh ``urn:uuid:`` identifier."""
    return f"urn:uuid:{uuid.uuid4()}"


def global_annotation(
    namespace: str, metadata: dict[str, Any], index: int
) -> m.MapAnnotation:
    """One MapAnnotation holding a namespace's top-level keys (JSON values)."""
    return m.MapAnnotation(
        id=f"Annotation:{index}",
        namespace=namespace,
        value=m.Map(
            ms=[m.Map.M(k=str(k), value=json.dumps(v)) for k, v in metadata.items()]
        ),
    )


def empty_frame(settings: AcquisitionSettings) -> np.ndarray:
    """A zero frame (for padding incomplete acquisitions)."""
    y, x = settings.frame_dimensions
    return np.zeros((int(y.count or 1), int(x.count or 1)), dtype=settings.dtype)


def collection_xml(
    settings: AcquisitionSettings, outer_extents: list[int] | None = None
) -> str | None:
    """OME-XML describing every image of a bioformats2raw collection.

    One metadata-only Image per position (series order); `outer_extents` gives
    the written extent of an unbounded first dimension per position. None when
    the dimensions cannot be expressed as OME Z/C/T.
    """
    from ome_types import to_xml

    if check_tiff_axes(settings) is not None:
        return None
    builder = OmeXmlBuilder(settings)
    images = []
    for position in range(len(settings.positions)):
        # OME sizes are >= 1 (a metadata-only image may be empty)
        outer = max(1, outer_extents[position]) if outer_extents else None
        image = builder.image(position, [], outer, [], [])
        image.pixels.metadata_only = m.MetadataOnly()
        images.append(image)
    plate = builder.plate()
    ome = m.OME(creator="ome-writers", images=images, plates=[plate] if plate else [])
    return str(to_xml(ome))
