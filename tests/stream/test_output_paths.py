"""`OMEStream.output_paths` and the log line naming them when a stream opens."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest

from ome_writers import (
    AcquisitionSettings,
    Dimension,
    OmeTiffFormat,
    Position,
    create_stream,
)
from tests.conftest import frame_for

YX = [Dimension(name="y", count=4), Dimension(name="x", count=6)]


def _settings(
    root: Path | str, positions: int = 1, **kwargs: Any
) -> AcquisitionSettings:
    dims = [Dimension(name="t", count=2)]
    if positions > 1:
        dims.append(
            Dimension(
                name="p", type="position", coords=[f"s{i}" for i in range(positions)]
            )
        )
    return AcquisitionSettings(
        root_path=str(root), dimensions=[*dims, *YX], dtype="uint16", **kwargs
    )


def _write(settings: AcquisitionSettings) -> tuple[str, ...]:
    """Write every frame; the stream's `output_paths` (also after close)."""
    with create_stream(settings) as stream:
        opened = stream.output_paths
        for n in range(settings.num_frames or 0):
            stream.append(frame_for(n, (4, 6)))
    assert stream.output_paths == opened
    return opened


def _opened_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.name == "ome_writers" and r.levelno == logging.INFO
    ]


def test_zarr_root(tmp_path: Path) -> None:
    paths = _write(_settings(tmp_path / "a.ome.zarr"))
    assert paths == (str(tmp_path / "a.ome.zarr"),)
    assert (tmp_path / "a.ome.zarr" / "zarr.json").is_file()


def test_zarr_root_of_several_positions(tmp_path: Path) -> None:
    paths = _write(_settings(tmp_path / "a.ome.zarr", positions=2))
    assert paths == (str(tmp_path / "a.ome.zarr"),)


def test_single_tiff(tmp_path: Path) -> None:
    paths = _write(_settings(tmp_path / "a.ome.tiff"))
    assert paths == (str(tmp_path / "a.ome.tiff"),)
    assert Path(paths[0]).is_file()


def test_multi_position_tiff_one_file_per_position(tmp_path: Path) -> None:
    paths = _write(_settings(tmp_path / "a.ome.tiff", positions=3))
    folder = tmp_path / "a"
    assert paths == tuple(str(folder / f"a_p{i:03d}.ome.tiff") for i in range(3))
    assert sorted(p.name for p in folder.iterdir()) == [Path(p).name for p in paths]


def test_tiff_companion_file_is_listed(tmp_path: Path) -> None:
    fmt = OmeTiffFormat(multi_file_metadata="companion-file")
    paths = _write(_settings(tmp_path / "a.ome.tiff", positions=2, format=fmt))
    folder = tmp_path / "a"
    assert paths == (
        str(folder / "a_p000.ome.tiff"),
        str(folder / "a_p001.ome.tiff"),
        str(folder / "a.companion.ome"),
    )
    assert all(Path(p).is_file() for p in paths)


def test_suffixless_path_gets_ome_zarr(tmp_path: Path) -> None:
    with pytest.warns(UserWarning, match="could not be inferred"):
        settings = _settings(tmp_path / "plain")
    paths = _write(settings)
    assert paths == (str(tmp_path / "plain.ome.zarr"),)
    assert Path(paths[0]).is_dir()


def test_relative_path_is_made_absolute(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    paths = _write(_settings("rel.ome.tiff"))
    assert paths == (str(tmp_path / "rel.ome.tiff"),)


def test_memory_writes_nothing() -> None:
    settings = _settings("", format="memory")
    assert _write(settings) == ()


def test_scratch_with_root_is_its_directory(tmp_path: Path) -> None:
    paths = _write(_settings(tmp_path / "scratch", format="scratch"))
    assert paths == (str(tmp_path / "scratch"),)
    assert Path(paths[0]).is_dir()


def test_positions_of_different_shapes(tmp_path: Path) -> None:
    stack = Position(name="stack", dimensions=[Dimension(name="z", count=2)])
    plane = Position(name="plane", dimensions=[])
    settings = AcquisitionSettings(
        root_path=str(tmp_path / "r.ome.tiff"),
        dimensions=[
            Dimension(name="p", type="position", coords=[stack, plane]),
            Dimension(name="z", count=2, type="space"),
            *YX,
        ],
        dtype="uint16",
    )
    assert settings.is_ragged
    paths = _write(settings)
    folder = tmp_path / "r"
    assert paths == (str(folder / "r_p000.ome.tiff"), str(folder / "r_p001.ome.tiff"))
    assert all(Path(p).is_file() for p in paths)


def test_one_info_line_names_the_paths(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="ome_writers")
    paths = _write(_settings(tmp_path / "a.ome.tiff", positions=2))
    (line,) = _opened_lines(caplog)
    assert all(p in line for p in paths)
    assert "ome-tiff" in line


def test_info_line_for_zarr_and_memory(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="ome_writers")
    (root,) = _write(_settings(tmp_path / "a.ome.zarr"))
    (line,) = _opened_lines(caplog)
    assert root in line
    caplog.clear()
    _write(_settings("", format="memory"))
    (line,) = _opened_lines(caplog)
    assert "memory" in line


def test_info_line_of_many_files_stays_short(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="ome_writers")
    settings = _settings(tmp_path / "many.ome.tiff", positions=40)
    with create_stream(settings) as stream:
        paths = stream.output_paths
    (line,) = _opened_lines(caplog)
    assert len(paths) == 40
    assert "40 files" in line
    assert str(tmp_path / "many") in line
    assert len(line) < 400
