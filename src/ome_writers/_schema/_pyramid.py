"""`Pyramid`: resolution levels written while the acquisition runs, and their geometry.

Level 0 is the full resolution; level k+1 reduces level k by 2 along Y and X
(and along the z axes when `Pyramid.reduce_z` is set), so level k is reduced
by 2**k. Sizes round up: a last odd row, column or plane is reduced over what
exists. Chunk and shard sizes carry over to every level, clipped to its shape.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field, model_validator

from ome_writers._schema._base import SettingsModel
from ome_writers._schema._storage import effective_type

if TYPE_CHECKING:
    from collections.abc import Sequence

    from ome_writers._schema._dimension import Dimension

ReductionMethod = Literal["mean", "decimate", "min", "max"]
AUTO_TILE = 256  # "auto" levels stop once a level fits this many pixels per side


class Pyramid(SettingsModel):
    """Resolution levels written while frames arrive.

    An int or "auto" given for `AcquisitionSettings.pyramid` means
    ``Pyramid(levels=...)``.

    Parameters
    ----------
    levels : int | "auto"
        Number of resolution levels, counting the full resolution (1 = no
        pyramid). "auto": reduce until a level fits one Y/X chunk, or 256 px
        per side when a chunk is the whole frame.
    method : "mean" | "decimate" | "min" | "max"
        How a 2x2 (2x2x2 with `reduce_z`) block becomes one pixel. Integer
        means round half up (``(sum + n // 2) // n``, n the pixels that exist in
        the block); float means are summed in float64 in block order and
        rounded once to the pixel type. "decimate" keeps the block's first
        (top-left, lowest z) pixel.
    reduce_z : bool
        Also halve the z axis (space dimensions other than Y, X) per level.
        Z is kept where its count is 1. OME-Zarr only: OME-TIFF levels are
        SubIFDs of each 2D page.
    """

    levels: int | Literal["auto"] = Field(default="auto")
    method: ReductionMethod = "mean"
    reduce_z: bool = False

    @model_validator(mode="before")
    @classmethod
    def _from_levels(cls, data: Any) -> Any:
        if isinstance(data, (int, str)) and not isinstance(data, bool):
            return {"levels": data}
        return data

    @model_validator(mode="after")
    def _check_levels(self) -> Pyramid:
        if isinstance(self.levels, int) and self.levels < 1:
            raise ValueError(
                f"Pyramid levels must be >= 1 (1 = full resolution only), "
                f"got {self.levels}"
            )
        return self


def reduced_axes(pyramid: Pyramid, dims: Sequence[Dimension]) -> tuple[bool, ...]:
    """Per dimension of `dims` (the last two Y, X): whether levels reduce it."""
    n = len(dims)
    return tuple(
        i >= n - 2
        or (
            pyramid.reduce_z
            and effective_type(d) == "space"
            and d.count != 1  # z of one plane is kept
        )
        for i, d in enumerate(dims)
    )


def level_count(pyramid: Pyramid | None, dims: Sequence[Dimension]) -> int:
    """How many levels (>= 1) `pyramid` gives an array with dimensions `dims`."""
    if pyramid is None:
        return 1
    sizes = [int(d.count or 1) for d in dims[-2:]]
    if pyramid.levels != "auto":
        return pyramid.levels
    tiles = [
        d.chunk_size if d.chunk_size and d.chunk_size < n else AUTO_TILE
        for d, n in zip(dims[-2:], sizes, strict=True)
    ]
    levels = 1
    while any(
        math.ceil(n / 2 ** (levels - 1)) > t for n, t in zip(sizes, tiles, strict=True)
    ):
        levels += 1
    return levels


def check_levels(pyramid: Pyramid | None, dims: Sequence[Dimension]) -> str | None:
    """Why `pyramid` cannot reduce frames of `dims`, or None."""
    if pyramid is None or pyramid.levels == "auto":
        return None
    sizes = [int(d.count or 1) for d in dims[-2:]]
    most = max(1, math.floor(math.log2(max(sizes)))) + 1
    if pyramid.levels > most:
        return (
            f"pyramid levels={pyramid.levels} is too many for {sizes[0]}x{sizes[1]} "
            f"frames: level {most} would already be 1 pixel along each side "
            f"(at most {most} levels)"
        )
    return None


def level_dimensions(
    pyramid: Pyramid, dims: Sequence[Dimension], level: int
) -> tuple[Dimension, ...]:
    """`dims` as they are at `level`: reduced axes ceil-divided by 2**level.

    Unbounded dimensions stay unbounded; chunk and shard sizes are kept (the
    writers clip them to the shape). Scales and translations are not changed
    (see `level_transform`).
    """
    if level == 0:
        return tuple(dims)
    factor = 2**level
    out = []
    for d, reduced in zip(dims, reduced_axes(pyramid, dims), strict=True):
        if reduced and d.count is not None:
            d = d.model_copy(update={"count": math.ceil(d.count / factor)})
        out.append(d)
    return tuple(out)


def level_transform(
    pyramid: Pyramid, dims: Sequence[Dimension], level: int
) -> tuple[list[float], list[float]]:
    """(scale, translation) of `level` for NGFF, per dimension of `dims`.

    Scales multiply by 2**level on reduced axes. A reduced pixel of "mean",
    "min" or "max" covers a block, whose centre lies (2**level - 1) / 2 base
    pixels further; "decimate" keeps the block's first pixel: no shift.
    """
    factor = 2**level
    scale: list[float] = []
    translation: list[float] = []
    for d, reduced in zip(dims, reduced_axes(pyramid, dims), strict=True):
        # 0, negative or missing scales mean "unknown": never write a zero scale
        base = float(d.scale) if d.scale and d.scale > 0 else 1.0
        shift = float(d.translation or 0.0)
        if reduced and level:
            if pyramid.method != "decimate":
                shift += (factor - 1) / 2 * base
            base *= factor
        scale.append(base)
        translation.append(shift)
    return scale, translation
