"""The OME-XML of a ragged OME-TIFF file set: one Image per position file.

Each position's file is written by its own TIFF backend and first describes
that position alone. At close these descriptions are joined (IDs renumbered,
TiffData pointing at each file by UUID, the plate and dataset-level
annotations added once) and every file receives the whole set, so any one file
opens as all the positions (Bio-Formats: one series per position).
"""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING, Any

import tifffile
from ome_types import model as m
from ome_types import to_xml

from ome_writers.metadata._ome_xml import (
    OmeXmlBuilder,
    assemble_ome,
    check_ome_update,
)

from ._tiff_models import schema_valid

if TYPE_CHECKING:
    from ome_writers._schema import AcquisitionSettings

    from ._tifffile import TiffBackend


class RaggedTiffSet:
    """The joined OME models of the per-position files of a ragged OME-TIFF set.

    `global_metadata` is the dataset-level metadata mapping, shared with the
    ragged backend (read at each write).
    """

    def __init__(
        self,
        settings: AcquisitionSettings,
        children: list[TiffBackend],
        global_metadata: dict[str, dict[str, Any]],
    ) -> None:
        self.settings = settings
        self.children = children
        self.global_metadata = global_metadata
        self.models: dict[int, m.OME] = {}  # position file index -> model

    def _joined(self) -> m.OME:
        images: list[m.Image] = []
        annotations: list[m.MapAnnotation] = []
        dataset_level = set(self.global_metadata)
        for k, child in enumerate(self.children):
            own = copy.deepcopy(child.models[0])
            (image,) = own.images
            image.id = f"Image:{k}"
            image.pixels.id = f"Pixels:{k}"
            for c, channel in enumerate(image.pixels.channels):
                channel.id = f"Channel:{k}:{c}"
            files = child.files
            file_uuid = m.TiffData.UUID(
                value=files.uuids[0], file_name=files.paths[0].name
            )
            for block in image.pixels.tiff_data_blocks:
                block.uuid = file_uuid
            renamed: dict[str, str] = {}
            if own.structured_annotations is not None:
                for ann in own.structured_annotations.map_annotations:
                    if ann.namespace in dataset_level:
                        continue
                    renamed[ann.id] = ann.id = f"Annotation:{len(annotations)}"
                    annotations.append(ann)
            refs = [r for p in image.pixels.planes for r in p.annotation_refs]
            for ref in [*refs, *image.annotation_refs]:
                ref.id = renamed.get(ref.id, ref.id)
            images.append(image)
        plate = OmeXmlBuilder(self.settings).plate()
        return assemble_ome(images, annotations, plate, self.global_metadata)

    def file_models(self) -> dict[int, m.OME]:
        """Position file index -> its OME model (the whole set, its own UUID).

        When the positions' frames differ in size or type (several cameras),
        each file keeps the description of its own image only: Bio-Formats
        takes the page size and pixel type of the file it opens for the first
        series of a set, so a set of files with other page sizes would be
        misread.
        """
        if not self.models:
            if self.settings.mixed_frames:
                for k, child in enumerate(self.children):
                    self.models[k] = copy.deepcopy(child.models[0])
                return self.models
            joined = self._joined()
            for k, child in enumerate(self.children):
                own = copy.copy(joined)
                own.uuid = child.files.uuids[0]
                self.models[k] = own
        return self.models

    def _write(self, models: dict[int, m.OME]) -> None:
        for k, model in models.items():
            xml = to_xml(schema_valid(model))
            tifffile.tiffcomment(self.children[k].files.paths[0], xml.encode())

    def write(self) -> None:
        """(Re)write every file's OME-XML as the description of the whole set."""
        self.models.clear()
        self._write(self.file_models())

    def replace(self, metadata: Any, finalized: bool) -> None:
        """Write the given models (from `get_metadata`) into their files."""
        check_ome_update(metadata, finalized, self.models)
        self.models.update(metadata)
        self._write(metadata)
