"""``OME/METADATA.ome.xml`` of an OME-Zarr dataset, built as text.

The OME-XML of the bioformats2raw layout: one Image per image group, in the
order of the ``OME`` group's ``series`` (a single image at the dataset's root
is its one series), each ``MetadataOnly`` (the pixels are in the Zarr
arrays), with what OME-TIFF's OME-XML says of the same acquisition: channels,
physical sizes, stage label, the Plane of every frame that came with
per-frame metadata (DeltaT, ExposureTime, PositionX/Y/Z; other keys in a
MapAnnotation), the Plate of a plate, and the annotations (the channels'
display settings, series coordinates, planes never acquired, dataset-level
metadata).

It is the text ome-types writes for the model `_ome_model.OmeXmlBuilder`
builds (tests build both and compare them), made without ome-types, which
an OME-Zarr acquisition never imports. `ZarrOmeXml` keeps a document while
frames arrive: each Plane's text is made once, when its frame is added; a
document joins the parts. Elements follow the OME schema's order (in OME:
Plate, Image, StructuredAnnotations; in Image: AcquisitionDate, StageLabel,
Pixels, AnnotationRef; in Pixels: Channel, MetadataOnly, Plane).
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from ome_writers.metadata._display import NAMESPACE as DISPLAY
from ome_writers.metadata._display import annotation_values
from ome_writers.metadata._ome_xml_text import (
    NOT_ACQUIRED,
    SERIES,
    UM,
    ImageText,
    date_time,
    map_annotation,
    number,
    plane_annotation_id,
    plane_xml,
    quoteattr,
    root,
)
from ome_writers.metadata._tiff_axes import TiffAxes, ome_xml_problem

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping, Sequence

    from ome_writers._schema import AcquisitionSettings, Position
    from ome_writers.metadata._display import ChannelSetting


def _stage_label(pos: Position) -> str | None:
    """StageLabel of a position with stage coordinates (None: none)."""
    attrs = ""
    for axis in "xyz":
        value = getattr(pos, f"{axis}_coord")
        if value is not None:
            attrs += f' {axis.upper()}="{number(value)}" {axis.upper()}Unit="{UM}"'
    return f"<StageLabel Name={quoteattr(pos.name)}{attrs}/>" if attrs else None


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
            attrs += f' Position{axis.upper()}Unit="{UM}"'
    return [
        f'      <WellSample ID="WellSample:{index}"{attrs} Index="{index}">',
        f'        <ImageRef ID="Image:{index}"/>',
        "      </WellSample>",
    ]


class _Planes:
    """One image's Plane elements and their MapAnnotations, as text.

    Kept in DimensionOrder (what readers index planes by); frames that
    arrive in another order are sorted in when the text is asked for.
    """

    __slots__ = ("annotations", "in_order", "keys", "planes")

    def __init__(self) -> None:
        self.keys: list[tuple[int, ...]] = []  # DimensionOrder sort keys
        self.planes: list[str] = []
        self.annotations: list[str] = []
        self.in_order = True

    def add(self, key: tuple[int, ...], plane: str, annotation: str) -> None:
        if self.keys and key < self.keys[-1]:
            self.in_order = False
        self.keys.append(key)
        self.planes.append(plane)
        self.annotations.append(annotation)

    def __len__(self) -> int:
        return len(self.planes)

    def text(self) -> tuple[str, str]:
        """The Plane elements, and their MapAnnotations."""
        if not self.in_order:
            order = sorted(range(len(self.keys)), key=self.keys.__getitem__)
            self.keys = [self.keys[i] for i in order]
            self.planes = [self.planes[i] for i in order]
            self.annotations = [self.annotations[i] for i in order]
            self.in_order = True
        return "".join(self.planes), "".join(self.annotations)


def unbounded_axis(settings: AcquisitionSettings) -> int | None:
    """The storage index dimension without a count (it grows), or None."""
    dims = settings.storage_index_dimensions
    return next((i for i, d in enumerate(dims) if d.count is None), None)


class ZarrOmeXml:
    """The OME-XML of an OME-Zarr dataset, kept as frames are described.

    `add_plane` adds a frame's Plane (its per-frame metadata), once;
    `set_not_acquired` names an image's cells no frame is for;
    `global_metadata` holds the dataset-level (namespaced) metadata and
    `display` the channels' display settings (by channel index); `text` is
    the document as it stands. Settings OME-XML cannot describe raise
    ValueError (check `ome_xml_problem` first).
    """

    def __init__(
        self, settings: AcquisitionSettings, created: datetime | None = None
    ) -> None:
        problem = ome_xml_problem(settings)
        if problem is not None:
            raise ValueError(problem)
        self.settings = settings
        self.axes = TiffAxes(settings)
        self._images = ImageText(settings, self.axes, optics=True)
        self._date = date_time(created or datetime.now(timezone.utc))
        self._outer_axis = unbounded_axis(settings)
        self._plate = _plate(settings)
        self._planes = [_Planes() for _ in settings.positions]
        self._added = [0] * len(settings.positions)  # planes added per image
        self._not_acquired: dict[int, list[list[int]]] = {}
        self.global_metadata: dict[str, dict[str, Any]] = {}
        self.display: dict[int, ChannelSetting] = {}

    def planes(self, position: int) -> int:
        """How many Planes image `position` has."""
        return len(self._planes[position])

    def add_plane(
        self, position: int, index: Sequence[int], metadata: Mapping[str, Any]
    ) -> None:
        """The Plane of the frame at storage `index` of image `position`."""
        axes = self.axes
        zct = axes.zct(index)
        k = self._added[position]  # names its MapAnnotation, whatever comes later
        self._added[position] = k + 1
        plane, annotation = plane_xml(zct, metadata, plane_annotation_id(position, k))
        self._planes[position].add(axes.raster_key(zct), plane, annotation)

    def set_not_acquired(self, position: int, indices: Iterable[Sequence[int]]) -> bool:
        """The storage indices of image `position` that no frame is for;
        whether that changed what the document says."""
        planes = sorted(list(self.axes.zct(index)) for index in indices)
        if planes == self._not_acquired.get(position, []):
            return False
        if planes:
            self._not_acquired[position] = planes
        else:
            del self._not_acquired[position]
        return True

    def text(self, outer_extents: Sequence[int] | None = None) -> str:
        """The document; `outer_extents` gives each image's extent along an
        unbounded dimension as far as written (OME sizes are at least 1)."""
        axes, images = self.axes, self._images
        coordinates = self.settings.geometry.series_coordinates
        out = [root(), *self._plate]
        annotations: list[str] = []  # the images' own
        count = 0  # their IDs: Annotation:<count>
        plane_annotations: list[str] = []
        for position, pos in enumerate(self.settings.positions):
            outer = None
            if outer_extents is not None and axes.letters:
                outer = max(1, outer_extents[position])
            sizes = axes.sizes(outer, self._outer_axis or 0)
            out.append(f"  <Image{images.image_attributes(position)}>")
            out.append(f"    <AcquisitionDate>{self._date}</AcquisitionDate>")
            stage = _stage_label(pos)
            if stage is not None:
                out.append(f"    {stage}")
            out.append(f"    <Pixels{images.pixels_attributes(position, sizes)}>")
            channels = images.channels(position, sizes["c"], self.display)
            for c, channel in enumerate(channels):
                shown = self.display.get(axes.channel_of(c))
                pairs = annotation_values(shown) if shown is not None else []
                if pairs:  # OME has no field for contrast limits and visibility
                    ann_id = f"Annotation:{count}"
                    count += 1
                    annotations += map_annotation(ann_id, DISPLAY, pairs)
                    ref = f'        <AnnotationRef ID="{ann_id}"/>'
                    channel = f"{channel[:-2]}>\n{ref}\n      </Channel>"
                out.append(f"      {channel}")
            out.append("      <MetadataOnly/>")
            planes, plane_annotation = self._planes[position].text()
            if planes:
                out.append(planes[:-1])  # its lines end in a line feed
            plane_annotations.append(plane_annotation)
            out.append("    </Pixels>")
            own: list[tuple[str, Iterable[tuple[Any, Any]]]] = []
            if coordinates is not None:  # which index of each series dimension
                own.append((SERIES, coordinates[position].items()))
            if position in self._not_acquired:
                cells = json.dumps(self._not_acquired[position])
                own.append((NOT_ACQUIRED, [("planes", cells)]))
            for namespace, items in own:
                ann_id = f"Annotation:{count}"
                count += 1
                annotations += map_annotation(ann_id, namespace, items)
                out.append(f'    <AnnotationRef ID="{ann_id}"/>')
            out.append("  </Image>")
        for namespace, metadata in self.global_metadata.items():
            ann_id = f"Annotation:{count}"
            count += 1
            annotations += map_annotation(
                ann_id, namespace, metadata.items(), as_json=True
            )
        planes_text = "".join(plane_annotations)
        if annotations or planes_text:
            out.append("  <StructuredAnnotations>")
            out += annotations
            if planes_text:
                out.append(planes_text[:-1])
            out.append("  </StructuredAnnotations>")
        return "\n".join([*out, "</OME>", ""])
