"""The progress record a dataset states while it is written (docs/reading.md).

Written at each checkpoint here (`loss_window=None`: nothing else writes it),
read back without our code: the root group's ``zarr.json`` (OME-Zarr, every
backend), the first page's description (OME-TIFF, parsed with the standard
library and tifffile).
"""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

import numpy as np
import pytest
import tifffile
import zarr

from ome_writers import AcquisitionSettings, Dimension, create_stream
from tests.backends.params import backend_params
from tests.conftest import frame_for

if TYPE_CHECKING:
    from pathlib import Path

H, W = 8, 8
ZARR = backend_params(format="ome-zarr")


def _settings(root: Path, backend: str, **kw: Any) -> AcquisitionSettings:
    return AcquisitionSettings(
        root_path=str(root),
        dimensions=[
            Dimension(name="t", count=3, type="time", chunk_size=1),
            Dimension(name="p", type="position", coords=["A", "B"]),
            Dimension(name="c", count=2, type="channel"),
            Dimension(name="y", count=H, type="space"),
            Dimension(name="x", count=W, type="space"),
        ],
        dtype="uint16",
        format={
            "name": "ome-zarr" if backend != "tifffile" else "ome-tiff",
            "backend": backend,
        },
        loss_window=None,
        **kw,
    )


def _zarr_record(root: Path) -> dict[str, Any]:
    doc = json.loads((root / "zarr.json").read_text())
    return dict(doc["attributes"]["ome_writers"]["progress"])


@pytest.mark.parametrize("backend", ZARR)
def test_zarr_states_what_is_on_disk(tmp_path: Path, backend: str) -> None:
    root = tmp_path / "run.ome.zarr"
    stream = create_stream(_settings(root, backend), checkpoint_seconds=None)
    first = _zarr_record(root)
    assert first["status"] == "writing" and first["frames"] == 0
    assert first["images"] == 0 and first["total"] == 12
    assert first["order"] == ["t", "p", "c"]
    assert first["image_paths"] == ["A", "B"]
    before = datetime.now(timezone.utc)
    stated = []
    for n in range(12):
        stream.append(frame_for(n, (H, W)))
        if n in (4, 7):
            stream.checkpoint()
            record = _zarr_record(root)
            stated.append(record["frames"])
            updated = datetime.fromisoformat(record["updated"].replace("Z", "+00:00"))
            assert updated >= before.replace(microsecond=0)
            # every frame counted reads back as appended
            for k in range(record["frames"]):
                t, rest = divmod(k, 4)
                p, c = divmod(rest, 2)
                array = zarr.open_array(root / "AB"[p] / "0", mode="r")
                np.testing.assert_array_equal(array[t, c], frame_for(k, (H, W)))
    stream.close()
    final = _zarr_record(root)
    if backend == "acquire-zarr":  # frames of complete first-dimension shards
        assert stated == [4, 8]
    else:
        assert stated == [5, 8]
    assert final["status"] == "complete" and final["frames"] == 12
    assert final["extent"] == {"t": 3, "c": 2} and final["images"] == 2


def test_zarr_states_a_run_closed_early(tmp_path: Path) -> None:
    root = tmp_path / "run.ome.zarr"
    with create_stream(_settings(root, "tensorstore")) as stream:
        for n in range(5):
            stream.append(frame_for(n, (H, W)))
    record = _zarr_record(root)
    assert record["status"] == "complete"
    assert record["frames"] == 5
    assert record["extent"] == {"t": 2, "c": 2}


def test_zarr_states_a_failed_close(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from ome_writers.backends.zarr import _ome_xml_file

    def fail(*args: object, **kwargs: object) -> str:
        raise RuntimeError("no OME-XML today")

    root = tmp_path / "run.ome.zarr"
    stream = create_stream(_settings(root, "tensorstore"))
    for n in range(6):
        stream.append(frame_for(n, (H, W)))
    stream.checkpoint()
    monkeypatch.setattr(_ome_xml_file, "_replace_with_parts", fail)
    stream.append(frame_for(6, (H, W)), frame_metadata={"delta_t": 6.0})
    with pytest.raises(RuntimeError, match="no OME-XML today"):
        stream.close()
    record = _zarr_record(root)
    assert record["status"] == "failed"
    assert record["frames"] == 6  # what was counted stays counted


def _tiff_record(path: Path) -> tuple[dict[str, Any], ET.Element]:
    with tifffile.TiffFile(path) as tif:
        text = tif.pages.first.description
    if not text:  # tifffile drops a value past the end it saw at opening
        raise ValueError(f"{path}: no description read")
    root = ET.fromstring(text)
    found = re.search(r'<M K="progress">(.*?)</M>', text)
    assert found is not None
    return json.loads(ET.fromstring(f"<m>{found.group(1)}</m>").text or ""), root


def test_tiff_states_the_pages_written(tmp_path: Path) -> None:
    root = tmp_path / "run.ome.tiff"
    stream = create_stream(_settings(root, "tifffile"), checkpoint_seconds=None)
    first_file = tmp_path / "run" / "run_p000.ome.tiff"
    for n in range(12):
        stream.append(frame_for(n, (H, W)))
        if n in (2, 6):
            stream.checkpoint()
            record, xml = _tiff_record(first_file)
            assert record["status"] == "writing"
            assert record["frames"] == n + 1
            assert record["dimension_order"] == "XYCTZ"
            assert record["names"] == ["A", "B"]
            assert record["files"] == ["run_p000.ome.tiff", "run_p001.ome.tiff"]
            assert record["sizes"] == {"C": 2, "T": None, "Z": 1}
            assert record["frame"] == [H, W] and record["dtype"] == "uint16"
            assert [c["name"] for c in record["channels"]] == ["c0", "c1"]
            # planes in the TiffData runs and the pages listed
            listed = {(run[0], run[1]) for run in record["pages"]}
            if n == 2:  # t=0 of image 0 complete, t=0 of image 1 begun
                assert record["pages"] == [[1, 0, 1, 0, 0, 0]]
                assert len(xml.findall(".//{*}TiffData")) == 1
            else:  # t=0 of both complete; t=1 of image 0 complete, of 1 begun
                assert record["pages"] == [[1, 2, 1, 0, 0, 1]]
            del listed
    stream.close()
    with tifffile.TiffFile(first_file) as tif:  # complete: no record, no warning
        assert "ome_writers.progress" not in tif.pages.first.description
        assert len(tif.series) == 2


@pytest.mark.parametrize("frame", [(H, W), (512, 512)], ids=["small", "runs"])
@pytest.mark.parametrize("positions", [1, 2])
def test_tiff_states_where_the_newest_page_is(
    tmp_path: Path, frame: tuple[int, int], positions: int
) -> None:
    """A viewer following a file set reads the newest page of an image from
    where the record says its strip is, without walking the IFD chain."""
    root = tmp_path / "run.ome.tiff"
    dims = [
        Dimension(name="t", count=None, type="time"),
        Dimension(name="p", type="position", coords=["A", "B"][:positions]),
        Dimension(name="y", count=frame[0], type="space"),
        Dimension(name="x", count=frame[1], type="space"),
    ]
    settings = AcquisitionSettings(
        root_path=str(root), dimensions=dims, dtype="uint16", format="ome-tiff"
    )
    stream = create_stream(settings, checkpoint_seconds=None)
    files = (
        [root]
        if positions == 1
        else [tmp_path / "run" / f"run_p00{p}.ome.tiff" for p in range(positions)]
    )
    newest: dict[int, int] = {}
    for n in range(10 * positions + 1):
        stream.append(frame_for(n, frame))
        newest[n % positions] = n
        if n % 4 == 3 or n == 10 * positions:
            stream.checkpoint()
            record, _ = _tiff_record(files[0])
            assert len(record["newest"]) == positions
            for p, (ifd, offset, nbytes) in enumerate(record["newest"]):
                assert ifd == newest[p] // positions
                with open(files[p], "rb") as f:
                    f.seek(offset)
                    data = np.frombuffer(f.read(nbytes), "<u2").reshape(frame)
                np.testing.assert_array_equal(data, frame_for(newest[p], frame))
    stream.close()
