"""Replacing a metadata file whole (`replace_file`)."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

import pytest

from ome_writers._io._paths import replace_file

if TYPE_CHECKING:
    from pathlib import Path


def test_text_is_written_as_utf8_and_nothing_is_left_aside(tmp_path: Path) -> None:
    target = tmp_path / "zarr.json"
    target.write_text("old")
    replace_file(target, '{"name": "µm"}')
    assert target.read_bytes() == '{"name": "µm"}'.encode()
    assert [p.name for p in tmp_path.iterdir()] == ["zarr.json"]


def test_bytes_go_through_the_named_file_aside(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "x.companion.ome"
    renamed: list[tuple[str, str]] = []
    real = os.replace

    def replace(src: str | Path, dst: str | Path) -> None:
        renamed.append((os.path.basename(src), os.path.basename(dst)))
        real(src, dst)

    monkeypatch.setattr(os, "replace", replace)
    replace_file(target, b"<OME/>", aside=".x.companion.ome.writing")
    assert renamed == [(".x.companion.ome.writing", "x.companion.ome")]
    assert target.read_bytes() == b"<OME/>"


def test_a_failed_rename_keeps_the_old_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "manifest.json"
    target.write_text("old")

    def fail(src: str | Path, dst: str | Path) -> None:
        raise OSError("disk gone")

    monkeypatch.setattr(os, "replace", fail)
    with pytest.raises(OSError, match="disk gone"):
        replace_file(target, "new")
    assert target.read_text() == "old"
