"""The OME-XML of a ragged OME-TIFF file set: one Image per position file.

Each position's file is written by its own TIFF backend and first describes
that position alone. At close these descriptions are joined (IDs renumbered,
TiffData pointing at each file by UUID, the plate and dataset-level
annotations added once) and every file receives the whole set, so any one file
opens as all the positions (Bio-Formats: one series per position).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ome_types import model as m

from ome_writers.backends.tiff._ome_models import ome_xml
from ome_writers.backends.tiff._provisional_xml import replace_description
from ome_writers.metadata._ome_model import (
    OmeXmlBuilder,
    assemble_ome,
    check_ome_update,
)

if TYPE_CHECKING:
    from collections.abc import Sequence
    from pathlib import Path

    from ome_writers._schema import AcquisitionSettings
    from ome_writers.backends.tiff._writer import TiffBackend


@dataclass(frozen=True)
class PositionFile:
    """One position's file of a set: its own OME model, root UUID and path."""

    model: m.OME
    uuid: str
    path: Path


def join_position_files(
    settings: AcquisitionSettings,
    files: Sequence[PositionFile],
    global_metadata: dict[str, dict[str, Any]],
) -> list[m.OME]:
    """Per position file, the OME model it should hold: the whole set.

    Each file's own description (one Image) is joined with the others' (IDs
    renumbered, TiffData pointing at each file by UUID, the plate and the
    dataset-level annotations added once); every file gets the joined model
    with its own UUID. When the positions' frames differ in size or type
    (several cameras), each file keeps the description of its own image only:
    Bio-Formats takes the page size and pixel type of the file it opens for
    the first series of a set, so a set of files with other page sizes would
    be misread.
    """
    if settings.mixed_frames:
        return [copy.deepcopy(f.model) for f in files]
    images: list[m.Image] = []
    annotations: list[m.MapAnnotation] = []
    dataset_level = set(global_metadata)
    for k, part in enumerate(files):
        own = copy.deepcopy(part.model)
        (image,) = own.images
        image.id = f"Image:{k}"
        image.pixels.id = f"Pixels:{k}"
        for c, channel in enumerate(image.pixels.channels):
            channel.id = f"Channel:{k}:{c}"
        file_uuid = m.TiffData.UUID(value=part.uuid, file_name=part.path.name)
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
        refs += [r for c in image.pixels.channels for r in c.annotation_refs]
        for ref in [*refs, *image.annotation_refs]:
            ref.id = renamed.get(ref.id, ref.id)
        images.append(image)
    plate = OmeXmlBuilder(settings).plate()
    joined = assemble_ome(images, annotations, plate, global_metadata)
    out = []
    for part in files:
        own = copy.copy(joined)
        own.uuid = part.uuid
        out.append(own)
    return out


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

    def file_models(self) -> dict[int, m.OME]:
        """Position file index -> its OME model (the whole set, its own UUID;
        see `join_position_files`)."""
        if not self.models:
            files = [
                PositionFile(
                    child.models[0], child.files.uuids[0], child.files.paths[0]
                )
                for child in self.children
            ]
            joined = join_position_files(self.settings, files, self.global_metadata)
            self.models.update(enumerate(joined))
        return self.models

    def _write(self, models: dict[int, m.OME]) -> None:
        for k, model in models.items():
            xml = ome_xml(model)
            replace_description(self.children[k].files.paths[0], xml)

    def write(self) -> None:
        """(Re)write every file's OME-XML as the description of the whole set."""
        self.models.clear()
        self._write(self.file_models())

    def replace(self, metadata: Any, finalized: bool) -> None:
        """Write the given models (from `get_metadata`) into their files."""
        check_ome_update(metadata, finalized, self.models)
        self.models.update(metadata)
        self._write(metadata)
