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
frames arrive: each Plane's text is made once, when its frame is added, and
kept compressed in batches; a document is made in parts, written one after
the other (`ZarrOmeXml.parts`), never joined whole. Elements follow the OME
schema's order (in OME: Plate, Image, StructuredAnnotations; in Image:
AcquisitionDate, StageLabel, Pixels, AnnotationRef; in Pixels: Channel,
MetadataOnly, Plane).
"""

from __future__ import annotations

import json
import pickle
import zlib
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from ome_writers.metadata._display import NAMESPACE as DISPLAY
from ome_writers.metadata._display import ChannelSetting, annotation_values
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
    from collections.abc import Iterable, Iterator, Mapping, Sequence

    from ome_writers._schema import AcquisitionSettings, Position


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


#: characters of Plane and MapAnnotation text kept as it is before it is
#: compressed into a batch (a long acquisition's document stays on the heap
#: at a few bytes per Plane)
SEAL_CHARS = 1 << 18


class _Batch:
    """Planes in DimensionOrder, compressed: their text and MapAnnotations,
    and (to reopen the batch when a frame arrives out of order) the sort keys
    and text lengths."""

    __slots__ = ("annotations", "count", "index", "last", "planes")

    def __init__(
        self, keys: list[tuple[int, ...]], planes: list[str], annotations: list[str]
    ) -> None:
        self.last, self.count = keys[-1], len(keys)
        self.planes = zlib.compress("".join(planes).encode(), 1)
        self.annotations = zlib.compress("".join(annotations).encode(), 1)
        lengths = ([len(p) for p in planes], [len(a) for a in annotations])
        self.index = zlib.compress(pickle.dumps((keys, lengths)), 1)

    def plane_text(self) -> str:
        return zlib.decompress(self.planes).decode()

    def annotation_text(self) -> str:
        return zlib.decompress(self.annotations).decode()

    def items(self) -> tuple[list[tuple[int, ...]], list[str], list[str]]:
        """Its keys, Planes and MapAnnotations, one each per frame."""
        keys, (plane_lengths, annotation_lengths) = pickle.loads(
            zlib.decompress(self.index)
        )
        return (
            keys,
            _split(self.plane_text(), plane_lengths),
            _split(self.annotation_text(), annotation_lengths),
        )


def _split(text: str, lengths: list[int]) -> list[str]:
    out = []
    at = 0
    for n in lengths:
        out.append(text[at : at + n])
        at += n
    return out


class _Planes:
    """One image's Plane elements and their MapAnnotations, as text.

    Kept in DimensionOrder (what readers index planes by); frames that
    arrive in another order are sorted in when the text is asked for or
    sealed. Text beyond `SEAL_CHARS` is sealed into compressed batches, each
    after the one before in DimensionOrder (a frame that arrives before a
    sealed one reopens the batches it belongs among).
    """

    __slots__ = (
        "annotated",
        "annotations",
        "batches",
        "chars",
        "in_order",
        "keys",
        "planes",
    )

    def __init__(self) -> None:
        self.batches: list[_Batch] = []
        self.keys: list[tuple[int, ...]] = []  # DimensionOrder sort keys
        self.planes: list[str] = []
        self.annotations: list[str] = []
        self.in_order = True
        self.chars = 0  # of the text not sealed
        self.annotated = False  # a Plane has a MapAnnotation

    def add(self, key: tuple[int, ...], plane: str, annotation: str) -> None:
        if self.keys and key < self.keys[-1]:
            self.in_order = False
        self.keys.append(key)
        self.planes.append(plane)
        self.annotations.append(annotation)
        self.chars += len(plane) + len(annotation)
        self.annotated = self.annotated or bool(annotation)
        if self.chars >= SEAL_CHARS:
            self._seal()

    def __len__(self) -> int:
        return sum(b.count for b in self.batches) + len(self.planes)

    def _sort(self) -> None:
        """The text not sealed in DimensionOrder, after every sealed batch."""
        batches = self.batches
        while batches and self.keys and min(self.keys) < batches[-1].last:
            keys, planes, annotations = batches.pop().items()
            self.keys = keys + self.keys
            self.planes = planes + self.planes
            self.annotations = annotations + self.annotations
            self.in_order = False
        if not self.in_order:
            order = sorted(range(len(self.keys)), key=self.keys.__getitem__)
            self.keys = [self.keys[i] for i in order]
            self.planes = [self.planes[i] for i in order]
            self.annotations = [self.annotations[i] for i in order]
            self.in_order = True

    def _seal(self) -> None:
        self._sort()
        self.batches.append(_Batch(self.keys, self.planes, self.annotations))
        self.keys, self.planes, self.annotations = [], [], []
        self.chars = 0

    def plane_parts(self) -> Iterator[str]:
        """The Plane elements, in parts (each ends in a line feed)."""
        self._sort()
        for batch in self.batches:
            yield batch.plane_text()
        if self.planes:
            yield "".join(self.planes)

    def annotation_parts(self) -> Iterator[str]:
        """Their MapAnnotations, in parts (each ends in a line feed)."""
        self._sort()
        for batch in self.batches:
            yield batch.annotation_text()
        if self.annotations:
            yield "".join(self.annotations)


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

    def recovery_state(self) -> dict[str, Any]:
        """What the document says besides the settings and its Planes, as
        JSON (`recovered` makes the same document again)."""
        return {
            "created": self._date,
            "display": {
                str(c): {
                    "color": s.color,
                    "limits": None if s.limits is None else list(s.limits),
                    "visible": s.visible,
                }
                for c, s in self.display.items()
            },
            "global_metadata": self.global_metadata,
            "not_acquired": {str(p): cells for p, cells in self._not_acquired.items()},
        }

    @classmethod
    def recovered(
        cls, settings: AcquisitionSettings, state: Mapping[str, Any]
    ) -> ZarrOmeXml:
        """The document of `settings` with what `recovery_state` returned (no
        Planes yet)."""
        doc = cls(settings)
        doc._date = str(state["created"])
        doc.display = {
            int(c): ChannelSetting(
                color=s.get("color"),
                limits=None if s.get("limits") is None else tuple(s["limits"]),
                visible=s.get("visible"),
            )
            for c, s in state.get("display", {}).items()
        }
        doc.global_metadata = dict(state.get("global_metadata", {}))
        doc._not_acquired = {
            int(p): cells for p, cells in state.get("not_acquired", {}).items()
        }
        return doc

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
        return "".join(self.parts(outer_extents))

    def parts(self, outer_extents: Sequence[int] | None = None) -> Iterator[str]:
        """The document (as `text`) in parts, to be written one after the
        other: the Planes of a long acquisition are never joined whole."""
        axes, images = self.axes, self._images
        coordinates = self.settings.geometry.series_coordinates
        head = [root(), *self._plate]
        annotations: list[str] = []  # the images' own
        count = 0  # their IDs: Annotation:<count>
        for position, pos in enumerate(self.settings.positions):
            outer = None
            if outer_extents is not None and axes.letters:
                outer = max(1, outer_extents[position])
            sizes = axes.sizes(outer, self._outer_axis or 0)
            out = [*head, f"  <Image{images.image_attributes(position)}>"]
            head = []
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
            yield "".join(f"{line}\n" for line in out)
            yield from self._planes[position].plane_parts()
            out = ["    </Pixels>"]
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
            yield "".join(f"{line}\n" for line in out)
        for namespace, metadata in self.global_metadata.items():
            ann_id = f"Annotation:{count}"
            count += 1
            annotations += map_annotation(
                ann_id, namespace, metadata.items(), as_json=True
            )
        out = head
        if annotations or any(p.annotated for p in self._planes):
            out.append("  <StructuredAnnotations>")
            out += annotations
            yield "".join(f"{line}\n" for line in out)
            for planes in self._planes:
                yield from planes.annotation_parts()
            out = ["  </StructuredAnnotations>"]
        yield "".join(f"{line}\n" for line in [*out, "</OME>"])
