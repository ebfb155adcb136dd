"""`ome-writers info`: the bytes and files a dataset takes, and for one being
written what it will take once every declared frame is acquired."""

from __future__ import annotations

import json
import os
from typing import TYPE_CHECKING

import numpy as np
import pytest

from ome_writers import AcquisitionSettings, Dimension, create_stream
from ome_writers.tools.cli import main
from ome_writers.tools.info import inspect_dataset

if TYPE_CHECKING:
    from pathlib import Path


def _settings(root: Path, backend: str) -> AcquisitionSettings:
    return AcquisitionSettings(
        root_path=str(root),
        dimensions=[
            Dimension(name="t", count=20),
            Dimension(name="y", count=128),
            Dimension(name="x", count=128),
        ],
        dtype="uint16",
        format=backend,
    )


def _bytes(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(
        os.path.getsize(os.path.join(folder, name))
        for folder, _, names in os.walk(path)
        for name in names
    )


@pytest.mark.parametrize(
    ("backend", "name"), [("tensorstore", "run.ome.zarr"), ("tifffile", "run.ome.tiff")]
)
def test_size_of_a_complete_dataset(tmp_path: Path, backend: str, name: str) -> None:
    settings = _settings(tmp_path / name, backend)
    with create_stream(settings) as stream:
        for n in range(20):
            stream.append(np.full((128, 128), n, "uint16"))
    report = inspect_dataset(tmp_path / name)
    assert report.size is not None
    assert report.size[0] == _bytes(tmp_path / name)
    assert report.expected_bytes() is None  # complete: nothing more to come
    assert any(line.strip().startswith("on disk: ") for line in report.lines())


def test_a_dataset_being_written_states_its_expected_size(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = tmp_path / "run.ome.zarr"
    stream = create_stream(_settings(root, "tensorstore"))
    try:
        for n in range(5):
            stream.append(np.full((128, 128), n + 1, "uint16"))
        stream.checkpoint()
        report = inspect_dataset(root)
        assert report.size is not None
        expected = report.expected_bytes()
        assert expected is not None
        # a quarter of the frames written: about four times the bytes
        assert 3.5 * report.size[0] < expected < 4.5 * report.size[0]
        assert main(["info", str(root), "--json"]) in (0, None)
        data = json.loads(capsys.readouterr().out)
        entry = data[0] if isinstance(data, list) else data
        assert entry["size"]["expected_bytes"] == expected
    finally:
        stream.close()
