"""What a reader finds in the first moments of a dataset, and waits out.

A TIFF file just created whose first page (or its description) is not all
written yet; an OME-Zarr dataset being written whose arrays are not made yet
(acquire-zarr in a bucket makes one at its first shard).
"""

from __future__ import annotations

import json
import shutil
import threading
import time
from typing import TYPE_CHECKING

import numpy as np
import pytest

import ome_writers as ow
from ome_writers import AcquisitionSettings, Dimension, create_stream

if TYPE_CHECKING:
    from pathlib import Path

DIMS = [
    Dimension(name="t", count=2, type="time"),
    Dimension(name="y", count=8, type="space"),
    Dimension(name="x", count=8, type="space"),
]


def _tiff(tmp_path: Path) -> bytes:
    path = tmp_path / "whole.ome.tiff"
    with create_stream(
        AcquisitionSettings(root_path=str(path), dimensions=DIMS, dtype="uint16")
    ) as stream:
        stream.append(np.ones((8, 8), "uint16"))
    return path.read_bytes()


@pytest.mark.parametrize("cut", [16, 200], ids=["header", "description"])
def test_a_tiff_file_whose_first_page_is_being_written(
    tmp_path: Path, cut: int
) -> None:
    whole = _tiff(tmp_path)
    path = tmp_path / "new.ome.tiff"
    path.write_bytes(whole[:cut])
    with pytest.raises(ValueError, match="first page is being written"):
        ow.open(path)

    def finish() -> None:
        time.sleep(0.3)
        path.write_bytes(whole)

    writer = threading.Thread(target=finish)
    writer.start()
    with ow.open(path, live=True) as view:  # waits for the page
        assert view.complete and view.shape == (1, 1, 1, 8, 8)
    writer.join()


@pytest.mark.parametrize("garbage", [b"\xff" * 8, b"\x00" * 8])
def test_a_first_page_whose_tag_count_is_not_written_yet(
    tmp_path: Path, garbage: bytes
) -> None:
    """The header is there, the first page's tag count is not: whatever bytes
    stand there (a huge count, or none) mean "not written yet"."""
    whole = _tiff(tmp_path)
    assert whole[2:4] == b"\x2b\x00"  # BigTIFF, little-endian
    ifd = int.from_bytes(whole[8:16], "little")
    path = tmp_path / "new.ome.tiff"
    path.write_bytes(whole[:ifd] + garbage)
    with pytest.raises(ValueError, match="first page is being written"):
        ow.open(path)


def test_arrays_not_made_yet(tmp_path: Path) -> None:
    root = tmp_path / "run.ome.zarr"
    settings = AcquisitionSettings(
        root_path=str(root),
        dimensions=[Dimension(name="p", type="position", coords=["A", "B"]), *DIMS],
        dtype="uint16",
    )
    with create_stream(settings) as stream:
        for n in range(3):
            stream.append(np.full((8, 8), n + 1, "uint16"))
    doc = json.loads((root / "zarr.json").read_text())
    doc["attributes"]["ome_writers"]["progress"]["status"] = "writing"
    (root / "zarr.json").write_text(json.dumps(doc))
    shutil.rmtree(root / "B" / "0")  # the second image's array: not yet
    with ow.open(root) as view:
        assert view.status == "writing"
        assert int(view[0, 1, 0, 0]) == 2
        assert not view[1, 0].any()  # zeros while the dataset is written
    shutil.rmtree(root / "A" / "0")  # no array at all: not described yet
    with pytest.raises(ValueError, match="first array is not written yet"):
        ow.open(root)


def test_a_description_read_while_rewritten_twice_is_read_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A reader paused between the tag and the text for two updates reads a
    slot being rewritten: text that does not parse, read again."""
    from ome_writers.reading import _tiff_live

    path = tmp_path / "run.ome.tiff"
    with create_stream(
        AcquisitionSettings(
            root_path=str(path), dimensions=DIMS, dtype="uint16", loss_window=None
        )
    ) as stream:
        stream.append(np.ones((8, 8), "uint16"))
        stream.checkpoint()
        whole = _tiff_live.read_description(path)
        assert whole is not None
        torn = [whole[: len(whole) // 2] + " " * 40]
        real = _tiff_live.read_description

        def paused(p: Path) -> str | None:
            return torn.pop() if torn else real(p)

        monkeypatch.setattr(_tiff_live, "read_description", paused)
        with ow.open(path) as view:
            assert view.status == "writing" and view.frames == 1
