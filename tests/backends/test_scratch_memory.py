"""Scratch format: memory, spill to disk, and the on-disk layout."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from ome_writers import AcquisitionSettings, Dimension, ScratchFormat, create_stream
from tests.conftest import frame_for


def _dims(t: int | None = 3) -> list[Dimension]:
    return [
        Dimension(name="t", count=t, type="time"),
        Dimension(name="p", type="position", coords=["a", "b"]),
        Dimension(name="y", count=2),
        Dimension(name="x", count=3),
    ]


def test_disk_mode_layout(tmp_path: Path) -> None:
    root = tmp_path / "disk"
    s = AcquisitionSettings(
        root_path=str(root), format="scratch", dimensions=_dims(None), dtype="uint16"
    )
    with create_stream(s) as stream:
        for i in range(5):
            stream.append(frame_for(i, (2, 3)), frame_metadata={"delta_t": i / 10})
        stream.set_global_metadata("g", {"a": 1})
    manifest = json.loads((root / "manifest.json").read_text())
    assert manifest["dtype"] == "uint16"
    assert manifest["position_shapes"] == [[3, 2, 3], [2, 2, 3]]
    assert manifest["global_metadata"] == {"g": {"a": 1}}
    assert manifest["format"]["name"] == "scratch"
    lines = (root / "frame_metadata.jsonl").read_text().splitlines()
    assert json.loads(lines[1]) == {"_pos": 1, "_idx": [0], "delta_t": 0.1}
    # readable with numpy alone
    pos0 = np.memmap(root / "pos_0.dat", dtype="uint16", mode="r")
    pos0 = pos0[: 3 * 6].reshape(3, 2, 3)
    np.testing.assert_array_equal(pos0[2], frame_for(4, (2, 3)))
    # views reopen read-only after close; they index (t, p) as declared
    np.testing.assert_array_equal(stream.view()[2, 0], frame_for(4, (2, 3)))


def test_disk_mode_overwrite(tmp_path: Path) -> None:
    root = tmp_path / "disk"
    s = AcquisitionSettings(
        root_path=str(root), format="scratch", dimensions=_dims(), dtype="uint8"
    )
    create_stream(s).close()
    with pytest.raises(FileExistsError, match=r"already exists\. Use overwrite=True"):
        create_stream(s)
    create_stream(s.model_copy(update={"overwrite": True})).close()
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "precious.txt").write_text("keep me")
    s2 = s.model_copy(update={"overwrite": True, "root_path": str(foreign)})
    with pytest.raises(FileExistsError, match="Refusing to overwrite"):
        create_stream(s2)
    assert (foreign / "precious.txt").read_text() == "keep me"


def test_spill_to_disk_and_memory_error() -> None:
    fmt = ScratchFormat(max_memory_bytes=10)
    s = AcquisitionSettings(format=fmt, dimensions=_dims(), dtype="uint16")
    with pytest.warns(UserWarning, match="Using disk-backed storage at"):
        stream = create_stream(s)
    with stream:
        stream.append(frame_for(0, (2, 3)))
    np.testing.assert_array_equal(stream.view()[0, 0], frame_for(0, (2, 3)))
    strict = s.model_copy(
        update={"format": ScratchFormat(max_memory_bytes=10, spill_to_disk=False)}
    )
    with pytest.raises(MemoryError, match="exceeding max_memory_bytes=10"):
        create_stream(strict)


def test_growth_on_inner_storage_axis(tmp_path: Path) -> None:
    """An unbounded dim stored second still grows (disk and memory)."""
    dims = [
        Dimension(name="t", count=None),
        Dimension(name="c", count=2),
        Dimension(name="y", count=2),
        Dimension(name="x", count=3),
    ]
    for root in ("", str(tmp_path / "inner")):
        s = AcquisitionSettings(
            root_path=root,
            format="scratch",
            dimensions=dims,
            dtype="uint16",
            storage_order=["c", "t", "y", "x"],
        )
        with create_stream(s) as stream:
            for i in range(9):
                stream.append(frame_for(i, (2, 3)))
        view = stream.view()
        assert view.dims == ("t", "c", "y", "x")  # declared order, whatever is stored
        assert view.shape == (5, 2, 2, 3)
        np.testing.assert_array_equal(view[4, 0], frame_for(8, (2, 3)))
        np.testing.assert_array_equal(view[3, 1], frame_for(7, (2, 3)))
