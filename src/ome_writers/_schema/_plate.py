"""Plate (HCS) description."""

from __future__ import annotations

from pydantic import Field

from ome_writers._schema._base import SettingsModel

_STANDARD_PLATES = {
    6: (2, 3),
    12: (3, 4),
    24: (4, 6),
    48: (6, 8),
    96: (8, 12),
    384: (16, 24),
    1536: (32, 48),
}


def row_letters(index: int) -> str:
    """Row name of a 0-based row index: A..Z, AA, BB, .. ZZ, AAA, ..."""
    return chr(ord("A") + index % 26) * (index // 26 + 1)


class Plate(SettingsModel):
    """A multi-well plate: row and column names, optional name.

    Parameters
    ----------
    row_names : list[str]
        Row names, e.g. ``["A", "B", ...]``.
    column_names : list[str]
        Column names, e.g. ``["1", "2", ...]``.
    name : str | None
        Plate name.
    """

    row_names: list[str]
    column_names: list[str]
    name: str | None = Field(default=None)

    @classmethod
    def from_standard_wells(cls, num_wells_or_shape: int | tuple[int, int]) -> Plate:
        """Build a plate from a standard well count (96, 384, ...) or (rows, cols)."""
        if isinstance(num_wells_or_shape, int):
            if num_wells_or_shape not in _STANDARD_PLATES:
                raise ValueError(
                    f"Unrecognized standard plate size: {num_wells_or_shape}. "
                    f"Supported sizes: {sorted(_STANDARD_PLATES)}"
                )
            n_rows, n_cols = _STANDARD_PLATES[num_wells_or_shape]
        elif isinstance(num_wells_or_shape, tuple):
            shape = num_wells_or_shape
            if len(shape) != 2 or not all(isinstance(n, int) and n > 0 for n in shape):
                raise ValueError(
                    "Plate shape must be a tuple (n_rows, n_columns) with positive "
                    f"integers, got {shape!r}"
                )
            n_rows, n_cols = shape
        else:
            raise TypeError(
                "num_wells_or_shape must be an int or a (n_rows, n_columns) tuple, "
                f"got {type(num_wells_or_shape).__name__}"
            )
        return cls(
            row_names=[row_letters(i) for i in range(n_rows)],
            column_names=[str(j + 1) for j in range(n_cols)],
        )
