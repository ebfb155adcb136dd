"""Pyramid settings: shorthand, level counts ("auto"), and clear refusals."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from ome_writers import AcquisitionSettings, Dimension, Position, Pyramid


def _dims(y: int, x: int, chunk: int | None = None) -> list[Dimension]:
    return [
        Dimension(name="t", count=2, type="time"),
        Dimension(name="y", count=y, type="space", chunk_size=chunk),
        Dimension(name="x", count=x, type="space", chunk_size=chunk),
    ]


def _settings(
    tmp_path: Path, pyramid: object, y: int = 2048, x: int = 2048, **kw: object
) -> AcquisitionSettings:
    return AcquisitionSettings(
        root_path=str(tmp_path / "a.ome.zarr"),
        dimensions=kw.pop("dims", None) or _dims(y, x, kw.pop("chunk", None)),  # type: ignore[arg-type]
        dtype="uint16",
        pyramid=pyramid,  # type: ignore[arg-type]
        **kw,  # type: ignore[arg-type]
    )


def test_shorthand(tmp_path: Path) -> None:
    assert _settings(tmp_path, 3).pyramid == Pyramid(levels=3)
    assert _settings(tmp_path, "auto").pyramid == Pyramid(levels="auto")
    assert _settings(tmp_path, None).pyramid_levels == 1
    assert _settings(tmp_path, {"levels": 2, "method": "max"}).pyramid == Pyramid(
        levels=2, method="max"
    )


@pytest.mark.parametrize(
    ("y", "x", "chunk", "levels"),
    [
        (2048, 2048, None, 4),  # 2048 -> 1024 -> 512 -> 256 fits 256 px
        (256, 256, None, 1),
        (257, 100, None, 2),
        (2048, 2048, 512, 3),  # until a level fits one 512 px chunk
        (1000, 600, 128, 4),  # 1000 -> 500 -> 250 -> 125
    ],
)
def test_auto_levels(
    tmp_path: Path, y: int, x: int, chunk: int | None, levels: int
) -> None:
    assert _settings(tmp_path, "auto", y, x, chunk=chunk).pyramid_levels == levels


def test_bad_levels(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="levels must be >= 1"):
        Pyramid(levels=0)
    with pytest.raises(ValidationError, match="too many for 16x16 frames"):
        _settings(tmp_path, 6, 16, 16)
    assert _settings(tmp_path, 5, 16, 16).pyramid_levels == 5  # 16, 8, 4, 2, 1
    with pytest.raises(ValidationError, match="method"):
        Pyramid(levels=2, method="median")  # type: ignore[arg-type]


def test_refusals(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="scratch format keeps the full"):
        AcquisitionSettings(dimensions=_dims(64, 64), dtype="uint8", pyramid=2)
    ragged = [
        Dimension(
            name="p",
            type="position",
            coords=[
                Position(name="a"),
                Position(name="b", dimensions=[Dimension(name="t", count=1)]),
            ],
        ),
        *_dims(64, 64),
    ]
    with pytest.raises(ValidationError, match="same dimensions"):
        _settings(tmp_path, 2, dims=ragged)
    with pytest.raises(ValidationError, match="no frame_order"):
        _settings(tmp_path, 2, 64, 64, frame_order=[(1,), (0,)])
