"""A label image's dimensions, levels and indices, from the image's settings."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ome_writers._schema import effective_type
from ome_writers._schema._pyramid import Pyramid

if TYPE_CHECKING:
    from ome_writers._schema import AcquisitionSettings, LabelImage


def label_settings(
    settings: AcquisitionSettings, label: LabelImage
) -> AcquisitionSettings:
    """The image's settings as the label image's: its pixel type and
    compression, the channel axis of size 1 (unless per channel), one plane
    per chunk, no shards, levels reduced along Y and X only."""
    dims = []
    last = len(settings.dimensions) - 2
    for i, d in enumerate(settings.dimensions):
        update: dict[str, object] = {"shard_size_chunks": None}
        if i < last and effective_type(d) != "position":
            update["chunk_size"] = 1
            if effective_type(d) == "channel" and not label.per_channel:
                update.update(count=1, coords=None)
        dims.append(d.model_copy(update=update))
    levels = settings.pyramid_levels
    pyramid = None
    if levels > 1:
        # "decimate" keeps a block's first pixel, as "nearest" does; a mode's
        # block is centred like a mean's (`level_transform`)
        method = "decimate" if label.downsample == "nearest" else "mean"
        pyramid = Pyramid(levels=levels, method=method)
    return settings.model_copy(
        update={
            "dimensions": tuple(dims),
            "dtype": label.dtype,
            "compression": label.compression,
            "pyramid": pyramid,
            "labels": (),
            "significant_bits": None,
        }
    )


def channel_axis(settings: AcquisitionSettings, label: LabelImage) -> int | None:
    """The storage axis whose index a label plane does not depend on (the
    channel's, unless the label is per channel), or None."""
    if label.per_channel:
        return None
    dims = settings.array_storage_dimensions
    return next(
        (i for i, d in enumerate(dims[:-2]) if effective_type(d) == "channel"), None
    )
