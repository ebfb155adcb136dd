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
    from ._ragged import RaggedBackend
    from ._tifffile import TiffBackend


def _children(backend: RaggedBackend) -> list[TiffBackend]:
    return backend.children  # type: ignore[return-value]


def _joined(backend: RaggedBackend) -> m.OME:
    images: list[m.Image] = []
    annotations: list[m.MapAnnotation] = []
    dataset_level = set(backend.global_metadata)
    for k, child in enumerate(_children(backend)):
        own = copy.deepcopy(child.models[0])
        (image,) = own.images
        image.id = f"Image:{k}"
        image.pixels.id = f"Pixels:{k}"
        for c, channel in enumerate(image.pixels.channels):
            channel.id = f"Channel:{k}:{c}"
        file_uuid = m.TiffData.UUID(value=child.uuids[0], file_name=child.files[0].name)
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
    plate = OmeXmlBuilder(backend.settings).plate()
    return assemble_ome(images, annotations, plate, backend.global_metadata)


def file_set_models(backend: RaggedBackend) -> dict[int, m.OME]:
    """Position file index -> its OME model (the whole set, its own UUID).

    When the positions' frames differ in size or type (several cameras), each
    file keeps the description of its own image only: Bio-Formats takes the
    page size and pixel type of the file it opens for the first series of a
    set, so a set of files with other page sizes would be misread.
    """
    if not backend.set_models:
        children = _children(backend)
        if backend.settings.mixed_frames:
            for k, child in enumerate(children):
                backend.set_models[k] = copy.deepcopy(child.models[0])
            return backend.set_models
        joined = _joined(backend)
        for k, child in enumerate(children):
            own = copy.copy(joined)
            own.uuid = child.uuids[0]
            backend.set_models[k] = own
    models: dict[int, m.OME] = backend.set_models
    return models


def _write(backend: RaggedBackend, models: dict[int, m.OME]) -> None:
    children = _children(backend)
    for k, model in models.items():
        xml = to_xml(schema_valid(model))
        tifffile.tiffcomment(children[k].files[0], xml.encode())


def write_file_set(backend: RaggedBackend) -> None:
    """(Re)write every file's OME-XML as the description of the whole set."""
    backend.set_models.clear()
    _write(backend, file_set_models(backend))


def replace_file_set_models(backend: RaggedBackend, metadata: Any) -> None:
    """Write the given models (from `get_metadata`) into their files, after close."""
    check_ome_update(metadata, backend.finalized, backend.set_models)
    backend.set_models.update(metadata)
    _write(backend, metadata)
