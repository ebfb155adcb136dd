"""The OME models of an OME-TIFF file set: built at close, patched afterwards.

In "redundant" mode every file holds the same model but its own root UUID; it
is built and serialised once and the root UUID is substituted per file, so the
cost of closing does not grow with the number of files.

At close the models hold no per-plane metadata: the Plane elements and their
MapAnnotations are written as text into the serialised document
(`OmeXmlBuilder.planes_xml`): building and serialising a model per plane
would dominate the close of a long acquisition. Whoever asks for the models
afterwards (`models`, `copies`, ...) gets them with their Planes
(`OmeXmlBuilder.plane_models`, the same content).

A model is serialised (`ome_xml`) as `ome_types.to_xml` does it, but with one
binding context for the process: xsdata builds the bindings of each model
class once per context, which took longer than serialising the document, at
every close. The writer builds them while the acquisition leaves time for it
(`prepare_ome_xml`).
"""

from __future__ import annotations

import copy
import threading
from typing import TYPE_CHECKING, Any

from ome_types import model as m
from ome_types import to_xml

from ome_writers._io._paths import replace_file
from ome_writers.backends.tiff._provisional_xml import replace_description
from ome_writers.metadata._ome_model import (
    assemble_ome,
    not_acquired_annotation,
    set_global_annotation,
)

if TYPE_CHECKING:
    from collections.abc import Iterable

    from ome_writers.backends.tiff._file_set import TiffFileSet
    from ome_writers.metadata._ome_model import OmeXmlBuilder


class TiffModels:
    """OME model per file (key -1: companion file) of one OME-TIFF file set.

    `global_metadata` is the dataset-level metadata mapping, shared with the
    writer (read when the models are built).
    """

    def __init__(
        self,
        files: TiffFileSet,
        builder: OmeXmlBuilder,
        global_metadata: dict[str, dict[str, Any]],
    ) -> None:
        self.files = files
        self.builder = builder
        self.global_metadata = global_metadata
        self._models: dict[int, m.OME] = {}
        # keys holding the shared full model (root UUID set per file on write)
        self.shared: set[int] = set()
        self.with_planes = True  # the models hold their Planes
        self.companion_uuid = files.companion_uuid

    def uuid_of(self, key: int) -> str:
        """Root UUID of the file behind `key`."""
        return self.companion_uuid if key == -1 else self.files.uuids[key]

    def full_keys(self) -> list[int]:
        """Keys whose model carries the full metadata (global metadata goes there)."""
        return self.files.full_keys()

    @property
    def models(self) -> dict[int, m.OME]:
        """File index (-1: companion) -> its OME model, Planes included."""
        if not self.with_planes:
            self._add_planes()
        return self._models

    def build(self) -> None:
        """Build every file's model from what was written (without Planes)."""
        b = self.files
        self._models, self.shared = {}, set()
        self.with_planes = False
        n_files = len(b.paths)
        if b.single_file or b.metadata_mode == "redundant":
            full = self._full(b.uuids[0])
            for key in range(n_files):
                self._models[key] = full
            self.shared = set(range(1, n_files))
        elif b.metadata_mode == "master-tiff":
            self._models[0] = self._full(b.uuids[0])
            for key in range(1, n_files):
                self._models[key] = binary_only_model(
                    b.uuids[key], b.paths[0].name, b.uuids[0]
                )
        else:  # companion-file
            assert b.companion is not None
            self._models[-1] = self._full(self.companion_uuid)
            for key in range(n_files):
                self._models[key] = binary_only_model(
                    b.uuids[key], b.companion.name, self.companion_uuid
                )

    def _full(self, file_uuid: str) -> m.OME:
        b = self.files
        builder = self.builder
        annotations: list[m.MapAnnotation] = []
        images = []
        for position, image in enumerate(b.images):
            outer = b.outer_extent(position)
            uuid = None
            if not b.single_file:
                f = image.file_index
                uuid = m.TiffData.UUID(value=b.uuids[f], file_name=b.paths[f].name)
            tiff_data = builder.tiff_data(image.planes, outer, uuid)
            ome_image = builder.image(position, outer, annotations, tiff_data)
            if b.padded[position]:
                not_acquired = sorted(
                    list(builder.zct(index)) for index in b.padded[position]
                )
                ann_id = f"Annotation:{len(annotations)}"
                annotations.append(not_acquired_annotation(ann_id, not_acquired))
                ome_image.annotation_refs.append(m.AnnotationRef(id=ann_id))
            images.append(ome_image)
        return assemble_ome(
            images, annotations, builder.plate(), self.global_metadata, file_uuid
        )

    def _full_models(self) -> list[m.OME]:
        """The distinct models holding images (not BinaryOnly pointers)."""
        out: dict[int, m.OME] = {}
        for model in self._models.values():
            if model.binary_only is None:
                out[id(model)] = model
        return list(out.values())

    def _add_planes(self) -> None:
        """Give the models their Plane elements (per-frame metadata)."""
        self.with_planes = True
        images = self.files.images
        for model in self._full_models():
            added: list[m.MapAnnotation] = []
            for ome_image in model.images:
                position = int(ome_image.id.rpartition(":")[2])
                planes, annotations = self.builder.plane_models(
                    position, images[position].planes
                )
                ome_image.pixels.planes = planes
                added += annotations
            if added:
                if model.structured_annotations is None:
                    model.structured_annotations = m.StructuredAnnotations()
                model.structured_annotations.map_annotations.extend(added)

    def _xml(self, model: m.OME) -> str:
        """`model` serialised, with the text of its Planes when it holds none."""
        xml = ome_xml(model)
        if self.with_planes or model.binary_only is not None:
            return xml
        parts, annotations, at, search = [], [], 0, 0
        images = self.files.images
        for ome_image in model.images:
            position = int(ome_image.id.rpartition(":")[2])
            planes, added = self.builder.planes_xml(position, images[position].planes)
            tag = xml.index("</Pixels>", search)
            end = _line_of(xml, tag, at)
            parts += [xml[at:end], planes]
            annotations.append(added)
            at, search = end, tag + len("</Pixels>")
        text = "".join(annotations)
        if text:
            close = xml.find("</StructuredAnnotations>", at)
            if close >= 0:
                close = _line_of(xml, close, at)
            else:  # after the last Image (the schema's order)
                close = xml.rindex("</Image>") + len("</Image>")
                text = f"<StructuredAnnotations>\n{text}</StructuredAnnotations>"
            parts += [xml[at:close], text]
            at = close
        parts.append(xml[at:])
        return "".join(parts)

    def write(self, keys: Iterable[int] | None = None) -> None:
        """Write the OME-XML of `keys` (default: every file) into the files."""
        b = self.files
        cache: dict[Any, tuple[str, str | None]] = {}  # model -> XML, root UUID
        # the first file last: until then it holds the set's recovery record
        # (`TiffFileSet.recovery_record`), for a kill before the end
        order = sorted(self._models if keys is None else keys, key=lambda k: k == 0)
        for key in order:
            model = self._models[key]
            pointer = model.binary_only
            # BinaryOnly pointers differ in their root UUID only: one serialised
            same: Any = id(model)
            if pointer is not None and model.uuid:
                same = (model.creator, pointer.metadata_file, pointer.uuid)
            if same not in cache:
                cache[same] = (self._xml(model), model.uuid)
            xml, uuid = cache[same]
            own = self.uuid_of(key) if key in self.shared else model.uuid
            if uuid != own:  # the root element is the first with a UUID
                xml = xml.replace(f'UUID="{uuid}"', f'UUID="{own}"', 1)
            if key == -1:  # replaced whole: a reader sees the old or the new
                assert b.companion is not None
                aside = f".{b.companion.name}.writing"
                replace_file(b.companion, xml, aside=aside)
            else:
                replace_description(b.paths[key], xml)

    def copies(self) -> dict[int, m.OME]:
        """A deep copy of every file's model, each with its own root UUID."""
        out = {}
        for key, model in self.models.items():
            out[key] = copy.deepcopy(model)
            if key in self.shared:
                out[key].uuid = self.uuid_of(key)
        return out

    def replace(self, metadata: dict[int, m.OME]) -> None:
        """Take the given models for their files and rewrite those files."""
        for key, model in metadata.items():
            self.models[key] = model
            self.shared.discard(key)
        self.write(metadata)

    def set_global(self, namespace: str, metadata: dict[str, Any]) -> None:
        """Put a namespace's MapAnnotation into the written models (after close)."""
        keys = [k for k in self.full_keys() if k in self.models]
        done: set[int] = set()
        for key in keys:
            model = self.models[key]
            if id(model) not in done:
                done.add(id(model))
                set_global_annotation(model, namespace, metadata)
        self.write(keys)


def _line_of(xml: str, tag: int, start: int) -> int:
    """Where the line holding the tag at `tag` starts (its indentation), or
    the tag itself when it shares the line with what comes before."""
    line = xml.rfind("\n", start, tag) + 1
    return line if line and not xml[line:tag].strip() else tag


class OmeXmlSerialiser:
    """Serialises a model as `ome_types.to_xml` does, through one binding
    context (`context`); raises ImportError where xsdata lacks its options."""

    def __init__(self) -> None:
        from ome_types._conversion import OME_2016_06_URI
        from xsdata_pydantic_basemodel.bindings import (
            SerializerConfig,
            XmlContext,
            XmlSerializer,
        )

        if not hasattr(SerializerConfig, "indent"):
            raise ImportError("xsdata without SerializerConfig.indent")
        self.context = XmlContext()
        # one at a time: a close waits for the bindings being built ahead
        # rather than building them a second time beside it
        self._lock = threading.Lock()
        self._serializer = XmlSerializer
        self._namespaces = {None: OME_2016_06_URI}
        # ome_types.to_xml's defaults: two-space indent, set fields only
        self._config = SerializerConfig(
            indent="  ",
            xml_declaration=False,
            ignore_default_attributes=False,
            ignore_unset_attributes=True,
        )
        self._config.schema_location = f"{OME_2016_06_URI} {OME_2016_06_URI}/ome.xsd"

    def __call__(self, model: m.OME) -> str:
        with self._lock:
            model._update_set_fields()  # noqa: SLF001 (what to_xml does first)
            serializer = self._serializer(config=self._config, context=self.context)
            xml: str = serializer.render(model, ns_map=self._namespaces)
        return xml


try:
    _serialise: OmeXmlSerialiser | None = OmeXmlSerialiser()
except ImportError:
    _serialise = None


def ome_xml(model: m.OME) -> str:
    """`model` as the OME-XML text of a file's description (`schema_valid`)."""
    valid = schema_valid(model)
    if _serialise is None:
        xml: str = to_xml(valid)
        return xml
    return _serialise(valid)


def prepare_ome_xml() -> None:
    """Build the bindings of the model classes an OME-TIFF's OME-XML uses."""
    if _serialise is None:
        return
    uuid = "urn:uuid:00000000-0000-0000-0000-000000000000"

    def pixels(**parts: Any) -> m.Pixels:
        one = dict.fromkeys(("size_x", "size_y", "size_c", "size_z", "size_t"), 1)
        return m.Pixels(dimension_order="XYCZT", type="uint16", **one, **parts)

    annotation = m.MapAnnotation(value=m.Map(ms=[m.Map.M(k="k", value="v")]))
    image = m.Image(
        pixels=pixels(
            physical_size_x=1.0,
            channels=[m.Channel(name="c", color=m.Color(0))],
            tiff_data_blocks=[
                m.TiffData(uuid=m.TiffData.UUID(value=uuid, file_name="f"))
            ],
            planes=[m.Plane(the_z=0, the_c=0, the_t=0, delta_t=0.0, position_x=0.0)],
        ),
        acquisition_date="2020-01-01T00:00:00",
        stage_label=m.StageLabel(name="p", x=0.0),
        annotation_refs=[m.AnnotationRef(id=annotation.id)],
    )
    # an image whose pixels are elsewhere (as an OME-Zarr's OME-XML has them)
    elsewhere = m.Image(pixels=pixels(metadata_only=m.MetadataOnly()))
    sample = m.WellSample(index=0, image_ref=m.ImageRef(id=image.id))
    well = m.Well(column=0, row=0, well_samples=[sample])
    plate = m.Plate(wells=[well], plate_acquisitions=[m.PlateAcquisition()])
    ome_xml(
        m.OME(
            uuid=uuid,
            creator="ome-writers",
            images=[image, elsewhere],
            plates=[plate],
            structured_annotations=m.StructuredAnnotations(
                map_annotations=[annotation],
                comment_annotations=[m.CommentAnnotation(value="c")],
            ),
        )
    )
    ome_xml(binary_only_model(uuid, "f", uuid))


def schema_valid(model: m.OME) -> m.OME:
    """`model`, or just its BinaryOnly part when it has one.

    The schema allows nothing else beside BinaryOnly; callers that add an
    annotation to every model (pymmcore-plus 0.18.1 does) also add it to the
    model holding the full metadata, where it is kept.
    """
    if model.binary_only is None:
        return model
    return m.OME(uuid=model.uuid, creator=model.creator, binary_only=model.binary_only)


def binary_only_model(own_uuid: str, metadata_file: str, target_uuid: str) -> m.OME:
    return m.OME(
        uuid=own_uuid,
        creator="ome-writers",
        binary_only=m.OME.BinaryOnly(metadata_file=metadata_file, uuid=target_uuid),
    )
