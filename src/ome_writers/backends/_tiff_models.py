"""The OME models of an OME-TIFF file set: built at close, patched afterwards.

In "redundant" mode every file holds the same model but its own root UUID; it
is built and serialised once and the root UUID is substituted per file, so the
cost of closing does not grow with the number of files.
"""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING, Any

import tifffile
from ome_types import model as m
from ome_types import to_xml

from ome_writers.metadata._ome_xml import (
    assemble_ome,
    not_acquired_annotation,
    set_global_annotation,
)
from ome_writers.metadata._tiff_axes import new_uuid

if TYPE_CHECKING:
    from collections.abc import Iterable

    from ome_writers.metadata._ome_xml import OmeXmlBuilder

    from ._tiff_files import TiffFileSet


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
        self.models: dict[int, m.OME] = {}
        # keys holding the shared full model (root UUID set per file on write)
        self.shared: set[int] = set()
        self.companion_uuid = new_uuid()

    def uuid_of(self, key: int) -> str:
        """Root UUID of the file behind `key`."""
        return self.companion_uuid if key == -1 else self.files.uuids[key]

    def full_keys(self) -> list[int]:
        """Keys whose model carries the full metadata (global metadata goes there)."""
        return self.files.full_keys()

    def build(self) -> None:
        """Build every file's model from what was written."""
        b = self.files
        self.models, self.shared = {}, set()
        n_files = len(b.paths)
        if b.single_file or b.metadata_mode == "redundant":
            full = self._full(b.uuids[0])
            for key in range(n_files):
                self.models[key] = full
            self.shared = set(range(1, n_files))
        elif b.metadata_mode == "master-tiff":
            self.models[0] = self._full(b.uuids[0])
            for key in range(1, n_files):
                self.models[key] = binary_only_model(
                    b.uuids[key], b.paths[0].name, b.uuids[0]
                )
        else:  # companion-file
            assert b.companion is not None
            self.models[-1] = self._full(self.companion_uuid)
            for key in range(n_files):
                self.models[key] = binary_only_model(
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
            ome_image = builder.image(
                position, image.planes, outer, annotations, tiff_data
            )
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

    def write(self, keys: Iterable[int] | None = None) -> None:
        """Write the OME-XML of `keys` (default: every file) into the files."""
        b = self.files
        cache: dict[int, str] = {}
        for key in self.models if keys is None else keys:
            model = self.models[key]
            xml = cache.get(id(model))
            if xml is None:
                xml = cache[id(model)] = to_xml(schema_valid(model))
            if key in self.shared and model.uuid != self.uuid_of(key):
                # the root element is the first to carry a UUID attribute
                xml = xml.replace(
                    f'UUID="{model.uuid}"', f'UUID="{self.uuid_of(key)}"', 1
                )
            if key == -1:
                assert b.companion is not None
                b.companion.write_text(xml, encoding="utf-8")
            else:
                tifffile.tiffcomment(b.paths[key], xml.encode())

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
