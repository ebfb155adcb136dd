"""OME-XML built as text, without the OME model library.

ome-types is slow to import; documents written while a stream is open, or
that are all a format needs of OME-XML, are built here by string building
instead:

- the provisional descriptions of OME-TIFF (`backends/tiff/_provisional_xml.py`,
  compact), from `root` and `ImageText`;
- the bioformats2raw collection document ``OME/METADATA.ome.xml`` of OME-Zarr
  (`collection_text`): one metadata-only Image per position, a StageLabel,
  series MapAnnotations and the Plate. It is the text ome-types writes for
  the same settings (tests compare it with a document built from the
  models): the same elements, attributes and IDs in the same order,
  numbers, dates and indentation as ome-types writes them.

Elements follow the OME schema's order (in OME: Plate, Image,
StructuredAnnotations; in Image: AcquisitionDate, StageLabel, Pixels,
AnnotationRef; in Pixels: Channel, MetadataOnly). Attribute values are
escaped with `quoteattr`, character data with `escape`; a carriage return in
character data is written as a reference (ome-types writes it as it is,
which a parser reads back as a line feed).
"""

from __future__ import annotations

import json
import math
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from ome_writers._schema._units import LENGTH_SYMBOLS, TIME_SYMBOLS
from ome_writers.metadata._colors import channel_color
from ome_writers.metadata._tiff_axes import PIXEL_TYPES, TiffAxes, check_tiff_settings

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

    from ome_writers._schema import AcquisitionSettings, Dimension, Position
    from ome_writers.metadata._display import ChannelSetting

OME_NS = "http://www.openmicroscopy.org/Schemas/OME/2016-06"
SERIES = "ome_writers.series"
_UM = "µm"


# `xml.sax.saxutils.escape`/`quoteattr`, the same output: that module imports
# urllib.request, whose import would sit on the path to the first frame
_ENTITIES = (("&", "&amp;"), (">", "&gt;"), ("<", "&lt;"))
_ATTRIBUTE_ENTITIES = {"\n": "&#10;", "\r": "&#13;", "\t": "&#9;"}


def escape(data: str, entities: dict[str, str] | None = None) -> str:
    """`data` as XML character data (`entities`: more replacements)."""
    for char, ref in _ENTITIES:
        data = data.replace(char, ref)
    for char, ref in (entities or {}).items():
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
    unit = LENGTH_SYMBOLS.get(dim.unit or "") or _UM
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


# ------------------------------------------------------- the collection document
# Laid out as ome-types writes it (two spaces per level), so that the text is
# the same whichever of the two made it.


def _stage_label(pos: Position) -> str | None:
    """StageLabel of a position with stage coordinates (None: none)."""
    attrs = ""
    for axis in "xyz":
        value = getattr(pos, f"{axis}_coord")
        if value is not None:
            attrs += f' {axis.upper()}="{number(value)}" {axis.upper()}Unit="{_UM}"'
    return f"<StageLabel Name={quoteattr(pos.name)}{attrs}/>" if attrs else None


def _map_annotation(ann_id: str, namespace: str, values: Iterable[Any]) -> list[str]:
    """The lines of a MapAnnotation (level 2) of (key, value) pairs."""
    out = [
        f"    <MapAnnotation ID={quoteattr(ann_id)} Namespace={quoteattr(namespace)}>",
        "      <Value>",
    ]
    for k, v in values:
        value = text(annotation_value(v))
        key = quoteattr(str(k))
        out.append(
            f"        <M K={key}>{value}</M>" if value else f"        <M K={key}/>"
        )
    return [*out, "      </Value>", "    </MapAnnotation>"]


def _naming(names: list[str]) -> str | None:
    if all(n.isalpha() for n in names):
        return "letter"
    if all(n.isdigit() for n in names):
        return "number"
    return None


def _plate(settings: AcquisitionSettings) -> list[str]:
    """The lines of the Plate (level 1; none when the settings describe none)."""
    plate = settings.plate
    if plate is None:
        return []
    positions = settings.positions
    wells: dict[tuple[int, int], list[int]] = {}
    for i, p in enumerate(positions):
        if p.plate_row in plate.row_names and p.plate_column in plate.column_names:
            key = (
                plate.row_names.index(p.plate_row),
                plate.column_names.index(p.plate_column),
            )
            wells.setdefault(key, []).append(i)
    attrs = ' ID="Plate:0"'
    if plate.name:
        attrs += f" Name={quoteattr(plate.name)}"
    for attr, names in (("Column", plate.column_names), ("Row", plate.row_names)):
        convention = _naming(names)
        if convention is not None:
            attrs += f' {attr}NamingConvention="{convention}"'
    attrs += f' Rows="{len(plate.row_names)}" Columns="{len(plate.column_names)}"'
    if not wells:
        return [f"  <Plate{attrs}/>"]
    out = [f"  <Plate{attrs}>"]
    for (r, c), images in wells.items():
        out.append(f'    <Well ID="Well:{r}_{c}" Column="{c}" Row="{r}">')
        for i in images:
            out += _well_sample(i, positions[i])
        out.append("    </Well>")
    return [*out, "  </Plate>"]


def _well_sample(index: int, pos: Position) -> list[str]:
    attrs = ""
    for axis in "xy":
        value = getattr(pos, f"{axis}_coord")
        if value is not None:
            attrs += f' Position{axis.upper()}="{number(value)}"'
            attrs += f' Position{axis.upper()}Unit="{_UM}"'
    return [
        f'      <WellSample ID="WellSample:{index}"{attrs} Index="{index}">',
        f'        <ImageRef ID="Image:{index}"/>',
        "      </WellSample>",
    ]


def collection_text(
    settings: AcquisitionSettings,
    outer_extents: list[int] | None = None,
    created: datetime | None = None,
) -> str | None:
    """OME-XML describing every image of a bioformats2raw collection.

    One metadata-only Image per position (series order); `outer_extents` gives
    the written extent of an unbounded first dimension per position. None when
    the dimensions cannot be expressed as OME Z/C/T.
    """
    if check_tiff_settings(settings) is not None:
        return None
    axes = TiffAxes(settings)
    images = ImageText(settings, axes, optics=True)
    date = date_time(created or datetime.now(timezone.utc))
    coordinates = settings.geometry.series_coordinates
    out = [root(), *_plate(settings)]
    annotations: list[str] = []  # the series coordinates, if any
    for position, pos in enumerate(settings.positions):
        # OME sizes are >= 1 (a metadata-only image may be empty)
        outer = max(1, outer_extents[position]) if outer_extents else None
        sizes = axes.sizes(outer if axes.letters else None)
        out.append(f"  <Image{images.image_attributes(position)}>")
        out.append(f"    <AcquisitionDate>{date}</AcquisitionDate>")
        stage = _stage_label(pos)
        if stage is not None:
            out.append(f"    {stage}")
        out.append(f"    <Pixels{images.pixels_attributes(position, sizes)}>")
        out += [f"      {c}" for c in images.channels(position, sizes["c"])]
        out += ["      <MetadataOnly/>", "    </Pixels>"]
        if coordinates is not None:  # which index of each series dimension
            ann_id = f"Annotation:{position}"
            items = coordinates[position].items()
            annotations += _map_annotation(ann_id, SERIES, items)
            out.append(f'    <AnnotationRef ID="{ann_id}"/>')
        out.append("  </Image>")
    if annotations:
        out += ["  <StructuredAnnotations>", *annotations, "  </StructuredAnnotations>"]
    return "\n".join([*out, "</OME>", ""])
