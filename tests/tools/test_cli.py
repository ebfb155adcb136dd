"""The `ome-writers` command."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from ome_writers import AcquisitionSettings, Dimension, create_stream
from ome_writers.tools.cli import main


def test_info_scratch_dataset(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = tmp_path / "scratch"
    s = AcquisitionSettings(
        root_path=str(root),
        format="scratch",
        dimensions=[
            Dimension(name="t", count=None),
            Dimension(name="y", count=2),
            Dimension(name="x", count=3),
        ],
        dtype="uint8",
    )
    with create_stream(s) as stream:
        for _ in range(3):
            stream.append(np.ones((2, 3), "uint8"))
    assert main(["info", str(root)]) == 0
    out = capsys.readouterr().out
    assert "pos_0.dat: shape=(3, 2, 3) dtype=uint8 axes=t,y,x" in out
    assert "valid" in out


def test_info_rejects_unknown(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["validate", str(tmp_path)]) == 1
    assert "INVALID" in capsys.readouterr().out


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["--version"])
    assert "0.4" in capsys.readouterr().out


# ------------------------------------------------------------ missing paths


def test_missing_path_is_said_not_to_exist(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "nothing.ome.zarr"
    assert main(["info", str(missing)]) == 1
    assert capsys.readouterr().out.splitlines() == [
        f"{missing} (unreadable)",
        "  problem: does not exist",
        "  NOT READ",
    ]
    assert main(["repair", str(missing)]) == 1
    assert capsys.readouterr().err == f"error: {missing}: does not exist\n"
