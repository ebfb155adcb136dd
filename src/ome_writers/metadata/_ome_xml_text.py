"""OME-XML built as text, without the OME model library.

ome-types is slow to import; documents written while a stream is open, or
that are all a format needs of OME-XML, are built here by string building
instead:

- the provisional descriptions of OME-TIFF (`backends/tiff/_provisional_xml.py`,
  compact), from `root` and `ImageText`;
- the Plane elements and their MapAnnotations (`plane_xml`), which the
  complete OME-XML of OME-TIFF inserts into the serialised models at close;
- ``OME/METADATA.ome.xml`` of OME-Zarr (`_zarr_ome_xml.py`).

What is written as ome-types writes it (two spaces per level, its numbers,
dates, attribute order and escaping) is the same text whichever of the two
made it; tests compare the documents. A carriage return in character data
is written as a reference (ome-types writes it as it is, which a parser
reads back as a line feed).
"""

from __future__ import annotations

import json
import math
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from ome_writers._schema._units import LENGTH_SYMBOLS, TIME_SYMBOLS
from ome_writers.metadata._colors import channel_color
from ome_writers.metadata._frame_metadata import SPECIAL_KEYS
from ome_writers.metadata._tiff_axes import PIXEL_TYPES

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping
    from datetime import datetime

    from ome_writers._schema import AcquisitionSettings, Dimension
    from ome_writers.metadata._display import ChannelSetting
    from ome_writers.metadata._tiff_axes import TiffAxes

OME_NS = "http://www.openmicroscopy.org/Schemas/OME/2016-06"
SERIES = "ome_writers.series"
#: the MapAnnotation naming an image's planes no frame was for (jagged runs)
NOT_ACQUIRED = "ome_writers.not_acquired"
UM = "µm"


# `xml.sax.saxutils.escape`/`quoteattr`, the same output: that module imports
# urllib.request, whose import would sit on the path to the first frame
_ENTITIES = (("&", "&amp;"), (">", "&gt;"), ("<", "&lt;"))
_ATTRIBUTE_ENTITIES = {"\n": "&#10;", "\r": "&#13;", "\t": "&#9;"}


def escape(data: str, entities: dict[str, str] | None = None) -> str:
    """`data` as XML character data (`entities`: more replacements)."""
    for char, ref in _ENTITIES:
        if char in data:
            data = data.replace(char, ref)
    if entities:
        for char, ref in entities.items():
            if char in data:
                data = data.replace(char, ref)
    return data


def quoteattr(data: str) -> str:
    """`data` as a quoted XML attribute value."""
    data = escape(data, _ATTRIBUTE_ENTITIES)
    if '"' not in data:
        return f'"{data}"'
    if "'" not in data:
        return f"'{data}'"
    return '"{}"'.format(data.replace('"', "&quot;"))


def annotation_value(value: Any) -> str:
    """Text of a MapAnnotation value: strings as-is, anything else as JSON."""
    return value if isinstance(value, str) else json.dumps(value)


def positive(value: float | None) -> float | None:
    return float(value) if value is not None and value > 0 else None


def number(value: float) -> str:
    """A float as ome-types writes it (``2.5``, ``1E-07``, ``INF``, ``NaN``)."""
    value = float(value)
    if math.isnan(value):
        return "NaN"
    return repr(value).upper().replace("E+", "E")


def date_time(value: datetime) -> str:
    """A datetime as ome-types writes it (``2024-05-06T07:08:09.120Z``)."""
    text = f"{value.year:04d}-{value.month:02d}-{value.day:02d}T"
    text += f"{value.hour:02d}:{value.minute:02d}:{value.second:02d}"
    micro = value.microsecond
    if micro % 1000:
        text += f".{micro:06d}"
    elif micro:
        text += f".{micro // 1000:03d}"
    offset = value.utcoffset()
    if offset is None:
        return text
    minutes = int(offset.total_seconds()) // 60
    if minutes == 0:
        return text + "Z"
    hours, minutes = divmod(abs(minutes), 60)
    sign = "-" if offset.total_seconds() < 0 else "+"
    return f"{text}{sign}{hours:02d}:{minutes:02d}"


def text(value: str) -> str:
    """`value` as character data."""
    return escape(value, {"\r": "&#13;"})


def root(uuid: str | None = None) -> str:
    """The OME start tag (with a document UUID, if given)."""
    attrs = f" UUID={quoteattr(uuid)}" if uuid is not None else ""
    return (
        f'<OME xmlns="{OME_NS}" '
        'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" '
        f'xsi:schemaLocation="{OME_NS} {OME_NS}/ome.xsd"{attrs} Creator="ome-writers">'
    )


def _physical(attr: str, dim: Dimension | None) -> str:
    value = positive(dim.scale) if dim is not None else None
    if dim is None or value is None:
        return ""
    unit = LENGTH_SYMBOLS.get(dim.unit or "") or UM
    return (
        f' PhysicalSize{attr}="{number(value)}" '
        f"PhysicalSize{attr}Unit={quoteattr(unit)}"
    )


def _color(rrggbb: str) -> int:
    """OME's Color: RGBA as a signed 32-bit integer (opaque)."""
    rgba = int(rrggbb, 16) << 8 | 0xFF
    return rgba - (1 << 32) if rgba >= 1 << 31 else rgba


class ImageText:
    """Attributes of the Image and Pixels elements, and the Channel elements,
    of a dataset's images; each document lays them out (compact or indented).

    Everything that is the same for every image is made once. `optics` adds
    the channels' wavelengths and fluorophore (the complete OME-XML has them;
    OME-TIFF's provisional descriptions leave them to close).
    """

    def __init__(
        self, settings: AcquisitionSettings, axes: TiffAxes, optics: bool = False
    ) -> None:
        self.settings = settings
        self.axes = axes
        self.optics = optics
        self.pixel_type = PIXEL_TYPES[settings.dtype]
        bits = settings.significant_bits
        self.significant = f' SignificantBits="{bits}"' if bits is not None else ""
        y, x = settings.frame_dimensions
        self.size_yx = (int(y.count or 1), int(x.count or 1))
        by_letter = dict(zip(axes.letters, axes.dims, strict=True))
        self.physical = ""
        for attr, dim in (("X", x), ("Y", y), ("Z", by_letter.get("z"))):
            self.physical += _physical(attr, dim)
        t_dim = by_letter.get("t")
        increment = positive(t_dim.scale) if t_dim is not None else None
        if t_dim is not None and increment is not None:
            unit = TIME_SYMBOLS.get(t_dim.unit or "") or "s"
            self.physical += f' TimeIncrement="{number(increment)}"'
            self.physical += f" TimeIncrementUnit={quoteattr(unit)}"

    def image_attributes(self, position: int) -> str:
        name = self.settings.positions[position].name
        return f' ID="Image:{position}" Name={quoteattr(name)}'

    def pixels_attributes(self, position: int, sizes: dict[str, int]) -> str:
        """Attributes of one image's Pixels (`sizes`: SizeZ/C/T)."""
        size_y, size_x = self.size_yx
        return (
            f' ID="Pixels:{position}" DimensionOrder="{self.axes.order}" '
            f'Type="{self.pixel_type}"{self.significant} '
            f'SizeX="{size_x}" SizeY="{size_y}" '
            f'SizeZ="{sizes["z"]}" SizeC="{sizes["c"]}" SizeT="{sizes["t"]}"'
            f"{self.physical}"
        )

    def channels(
        self,
        position: int,
        size_c: int,
        display: Mapping[int, ChannelSetting] | None = None,
    ) -> list[str]:
        """The Channel elements of one image (`display`: the colours the user
        set, by channel index)."""
        out = []
        labels = self.axes.channel_labels(size_c)
        for c, (label, optical) in enumerate(labels):
            attrs = f' Name={quoteattr(label)} SamplesPerPixel="1"'
            if self.optics and optical is not None:
                for attr, nm in (
                    ("Excitation", optical.excitation_wavelength_nm),
                    ("Emission", optical.emission_wavelength_nm),
                ):
                    if nm:
                        attrs += f' {attr}Wavelength="{number(nm)}"'
                        attrs += f' {attr}WavelengthUnit="nm"'
                if optical.fluorophore:
                    attrs += f" Fluor={quoteattr(optical.fluorophore)}"
            shown = display.get(self.axes.channel_of(c)) if display else None
            # the user's, else the channel's own, else guessed
            color = shown.color if shown is not None else None
            color = color or channel_color(optical if optical is not None else label)
            if color is not None:
                attrs += f' Color="{_color(color)}"'
            out.append(f'<Channel ID="Channel:{position}:{c}"{attrs}/>')
        return out


# ------------------------------------------------------------- annotations


_END_MAP = "    </MapAnnotation>"


@lru_cache(maxsize=1024)
def _key_attribute(key: str) -> str:
    """`quoteattr` of a MapAnnotation key: the same keys come with every frame."""
    return quoteattr(key)


def _number_json(value: float) -> str:
    """``json.dumps`` of an int or float, without the encoder's overhead."""
    if value.__class__ is int:
        return int.__repr__(value)
    if value != value:
        return "NaN"
    if value in (math.inf, -math.inf):
        return "Infinity" if value > 0 else "-Infinity"
    return float.__repr__(value)


def map_annotation(
    ann_id: str,
    namespace: str | None,
    values: Iterable[tuple[Any, Any]],
    *,
    as_json: bool = False,
) -> list[str]:
    """The lines of a MapAnnotation (level 2) of (key, value) pairs; values as
    `annotation_value` gives them, or all as JSON (`as_json`)."""
    attrs = f"ID={quoteattr(ann_id)}"
    if namespace is not None:
        attrs += f" Namespace={quoteattr(namespace)}"
    out = []
    for k, v in values:
        kind = v.__class__
        if kind is float or kind is int:  # JSON of a number needs no escaping
            value = _number_json(v)
        else:
            value = text(json.dumps(v) if as_json else annotation_value(v))
        key = _key_attribute(k if k.__class__ is str else str(k))
        out.append(
            f"        <M K={key}>{value}</M>" if value else f"        <M K={key}/>"
        )
    if not out:
        return [f"    <MapAnnotation {attrs}>", "      <Value/>", _END_MAP]
    return [
        f"    <MapAnnotation {attrs}>",
        "      <Value>",
        *out,
        "      </Value>",
        _END_MAP,
    ]


# ------------------------------------------------------------------ planes

#: OME Plane attribute and unit of each per-frame key stored as such
_PLANE_ATTRIBUTES = {
    key: (name, UM if SPECIAL_KEYS[key] == "um" else SPECIAL_KEYS[key])
    for key, name in (
        ("delta_t", "DeltaT"),
        ("exposure_time", "ExposureTime"),
        ("position_x", "PositionX"),
        ("position_y", "PositionY"),
        ("position_z", "PositionZ"),
    )
}


def plane_values(meta: Mapping[str, Any]) -> dict[str, float]:
    """The per-frame keys a Plane stores as attributes (finite numbers)."""
    out = {}
    for key in SPECIAL_KEYS:
        value = meta.get(key)
        if value.__class__ in (int, float) and math.isfinite(value):  # no bool
            out[key] = float(value)
    return out


def plane_annotation_id(position: int, k: int) -> str:
    """ID of the MapAnnotation of image `position`'s `k`-th Plane with extra
    per-frame keys (apart from the other annotations' ``Annotation:<n>``)."""
    return f"Annotation:{position}:{k}"


def plane_xml(
    zct: tuple[int, int, int], meta: Mapping[str, Any] | None, ann_id: str
) -> tuple[str, str]:
    """A Plane element (level 3) and the MapAnnotation of its other per-frame
    keys ("": none), as lines of text."""
    z, c, t = zct
    attrs = f'TheZ="{z}" TheT="{t}" TheC="{c}"'
    meta = meta or {}
    for key, value in plane_values(meta).items():
        name, unit = _PLANE_ATTRIBUTES[key]
        attrs += f' {name}="{number(value)}" {name}Unit="{unit}"'
    extra = [(k, v) for k, v in meta.items() if k not in SPECIAL_KEYS]
    if not extra:
        return f"      <Plane {attrs}/>\n", ""
    plane = (
        f"      <Plane {attrs}>\n"
        f'        <AnnotationRef ID="{ann_id}"/>\n      </Plane>\n'
    )
    return plane, "\n".join([*map_annotation(ann_id, None, extra), ""])
