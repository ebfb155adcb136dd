"""`LabelImage`: a label image written beside the frames of an OME-Zarr dataset."""

from __future__ import annotations

import re
from typing import Any, Literal

import numpy as np
from pydantic import Field, field_validator, model_validator

from ome_writers._schema._base import SettingsModel
from ome_writers._schema._pyramid import Pyramid
from ome_writers._schema._storage import effective_type

LabelDownsample = Literal["mode", "nearest"]
#: integer pixel types a label image may have (NGFF: integers only)
LABEL_DTYPES = (
    "uint8",
    "uint16",
    "uint32",
    "uint64",
    "int8",
    "int16",
    "int32",
    "int64",
)
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")


class LabelImage(SettingsModel):
    """A label image of every image of the acquisition (NGFF ``labels/``).

    Written by `OMEStream.write_label`, one plane at a time, in any order,
    while the stream is open; planes never written read as 0 (background).
    Stored in OME-Zarr at ``<image>/labels/<name>/`` with ``image-label``
    metadata, the image's dimensions (the channel axis of size 1 unless
    `per_channel`), and as many resolution levels as the image.

    Parameters
    ----------
    name : str
        The label image's name: letters, digits, ``_``, ``-``, ``.``.
    dtype : str
        Integer pixel type (default ``uint32``).
    per_channel : bool
        One label plane per channel (default False: one per frame
        coordinates other than the channel, shared by every channel).
    colors : dict[int, tuple[int, int, int, int]] | None
        RGBA (0-255) per label value, for viewers.
    properties : dict[int, dict] | None
        Values per label value (NGFF ``properties``; JSON-compatible).
        `OMEStream.set_label_properties` replaces them while the run goes on.
    downsample : "mode" | "nearest"
        How a 2x2 block of a lower resolution level becomes one label: its
        most frequent value (ties: the first in row order), or its top-left
        value. Labels are never averaged.
    compression : str
        Compression of the label arrays (default ``blosc-zstd``: label images
        are mostly runs of equal values).
    """

    name: str
    dtype: str = "uint32"
    per_channel: bool = False
    colors: dict[int, tuple[int, int, int, int]] | None = None
    properties: dict[int, dict[str, Any]] | None = None
    downsample: LabelDownsample = "mode"
    compression: Literal["blosc-zstd", "blosc-lz4", "zstd", "zlib", "none"] = Field(
        default="blosc-zstd"
    )

    @field_validator("name")
    @classmethod
    def _check_name(cls, name: str) -> str:
        if not _NAME.fullmatch(name) or name in {".", ".."}:
            raise ValueError(
                f"label name {name!r}: use letters, digits, '_', '-' and '.' "
                "(not starting with '.' or '-')"
            )
        return name

    @field_validator("dtype", mode="before")
    @classmethod
    def _check_dtype(cls, dtype: Any) -> str:
        try:
            name: str = np.dtype(dtype).name
        except TypeError as e:
            raise ValueError(f"label dtype {dtype!r} is not a numpy dtype") from e
        if name not in LABEL_DTYPES:
            raise ValueError(
                f"label dtype {name!r}: label images hold integers, one of "
                f"{', '.join(LABEL_DTYPES)}"
            )
        return name

    @field_validator("colors")
    @classmethod
    def _check_colors(
        cls, colors: dict[int, tuple[int, int, int, int]] | None
    ) -> dict[int, tuple[int, int, int, int]] | None:
        for value, rgba in (colors or {}).items():
            if any(not 0 <= c <= 255 for c in rgba):
                raise ValueError(f"label {value}: RGBA {rgba} outside 0..255")
        return colors

    @model_validator(mode="after")
    def _check_values(self) -> LabelImage:
        info = np.iinfo(np.dtype(self.dtype))
        for what, values in (("colors", self.colors), ("properties", self.properties)):
            for value in values or {}:
                if not info.min <= value <= info.max:
                    raise ValueError(
                        f"{what}: label value {value} does not fit {self.dtype}"
                    )
        return self


def labels_problem(settings: Any, labels: Any) -> str | None:
    """Why `labels` (LabelImage sequence) cannot be written beside the frames
    of `settings` (AcquisitionSettings), or None."""
    if not labels:
        return None
    names = [label.name for label in labels]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        return f"label images need distinct names: {dupes} given twice"
    fmt = settings.format
    if fmt.name != "ome-zarr":
        return (
            f"label images are written to OME-Zarr only, not {fmt.name}: use a "
            ".ome.zarr root_path"
        )
    if settings.is_ragged or settings.mixed_frames:
        return (
            "label images need every position to have the same dimensions and "
            "pixel type (no per-position dimensions or cameras)"
        )
    return None


def label_settings(settings: Any, label: LabelImage) -> Any:
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


def channel_axis(settings: Any, label: LabelImage) -> int | None:
    """The storage axis whose index a label plane does not depend on (the
    channel's, unless the label is per channel), or None."""
    if label.per_channel:
        return None
    dims = settings.array_storage_dimensions
    return next(
        (i for i, d in enumerate(dims[:-2]) if effective_type(d) == "channel"), None
    )
