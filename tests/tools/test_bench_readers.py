"""``ome-writers bench --readers``: HTTP readers polling the dataset being
written; their figures are not asserted, their requests and errors are."""

from __future__ import annotations

import contextlib
import json
import time
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

import numpy as np
import pytest

from ome_writers import AcquisitionSettings, Dimension, create_stream
from ome_writers.tools.bench._plan import run_order, targets_for
from ome_writers.tools.bench._summary import add_ratios, median_of_repeats
from ome_writers.tools.bench._tables import COLUMNS, render, render_markdown
from ome_writers.tools.benchmark import main

if TYPE_CHECKING:
    from pathlib import Path

pytest.importorskip("aiohttp")
pytest.importorskip("tensorstore")

FRAMES, SIZE = 6, 64


def _series(path: Path, fmt: str, t_chunk: int | None = None) -> AcquisitionSettings:
    """An unbounded time series of SIZE² frames at `path` (`t_chunk`: frames
    per chunk; None: the default layout, shards of small frames)."""
    return AcquisitionSettings(
        root_path=str(path),
        format=fmt,
        dimensions=[
            Dimension(name="t", count=None, type="time", chunk_size=t_chunk),
            Dimension(name="y", count=SIZE),
            Dimension(name="x", count=SIZE),
        ],
        dtype="uint16",
    )


def _written(folder: Path, fmt: str) -> str:
    """A closed dataset of FRAMES frames in `folder`; its name."""
    name = "bench.ome.tiff" if fmt == "tifffile" else "bench.ome.zarr"
    # a chunk file per frame: the readers poll the newest
    settings = _series(folder / name, fmt, t_chunk=1)
    with create_stream(settings) as stream:
        for i in range(FRAMES):
            stream.append(np.full((SIZE, SIZE), i, "uint16"))
    return name


def _poll_once(
    folder: Path,
    name: str,
    readers: int = 1,
    window: float = 0.0,
    seconds: float = 0.0,
) -> dict[str, Any]:
    """`readers` readers' counts after one poll each (or polls for `seconds`),
    every frame appended (and readable unless the loss `window` is long)."""
    from ome_writers.tools.bench._readers import HttpReaders

    kind = "tiff" if name.endswith(".tiff") else "zarr"
    interval = 0.02 if seconds else 0.0
    http = HttpReaders(folder, name, kind, readers, interval, window, SIZE * SIZE * 2)
    http.appended[0] = FRAMES
    http.go()
    time.sleep(seconds)
    return http.stop()  # a reader polls once at least, then sees its stdin end


def _set_record(folder: Path, name: str, record: dict[str, Any] | None) -> None:
    """Replace the progress record of a Zarr dataset's root group (None:
    remove it, as in a dataset another writer wrote)."""
    root_doc = folder / name / "zarr.json"
    root = json.loads(root_doc.read_text())
    if record is None:
        del root["attributes"]["ome_writers"]
    else:
        root["attributes"]["ome_writers"]["progress"] = record
    root_doc.write_text(json.dumps(root))


def _assert_not_yet_then_error(folder: Path, name: str, message: str) -> None:
    """A poll within the loss window counts what is missing as not yet; once
    the frames are readable, the same is one error, saying `message`."""
    counts = _poll_once(folder, name, window=3600.0)
    assert counts["reader_errors"] == 0, counts["reader_error_sample"]
    assert counts["reader_not_yet"] >= 1  # one a poll, and it may poll twice
    counts = _poll_once(folder, name, window=0.0)
    assert counts["reader_errors"] >= 1
    assert all(message in m for m in counts["reader_error_sample"])


@pytest.mark.parametrize("fmt", ["tensorstore", "tifffile"])
def test_readers_read_documents_and_pixels_without_errors(
    tmp_path: Path, fmt: str
) -> None:
    counts = _poll_once(tmp_path, _written(tmp_path, fmt), readers=2)
    assert counts["readers"] == 2
    assert counts["reader_errors"] == 0, counts["reader_error_sample"]
    # zarr: two documents and the newest frame's chunk; tiff: HEAD, tail,
    # header, IFD, XML
    assert counts["reader_requests"] >= 2 * (5 if fmt == "tifffile" else 3)
    assert counts["reader_data_requests"] >= 2
    # each poll reads a whole frame: the newest readable (tiff: the last bytes)
    assert counts["reader_bytes"] >= counts["reader_data_requests"] * SIZE * SIZE * 2
    assert counts["reader_not_yet"] == 0
    # the CPU the readers and the server used while polling, the server's
    # from /proc (Linux)
    assert counts["reader_cpu_s"] > 0 and counts["server_cpu_s"] >= 0
    assert counts["reader_cores"] > 0
    assert counts["reader_rps"] > 0 and counts["reader_mbps"] > 0


def test_readers_count_a_torn_document_and_a_missing_chunk(tmp_path: Path) -> None:
    name = _written(tmp_path, "tensorstore")
    array_doc = tmp_path / name / "0" / "zarr.json"
    whole = array_doc.read_bytes()
    array_doc.write_bytes(whole[: len(whole) // 2])  # as a non-atomic write leaves it
    counts = _poll_once(tmp_path, name)
    assert counts["reader_errors"] >= 1
    assert "torn JSON" in counts["reader_error_sample"][0]

    array_doc.write_bytes(whole)
    (tmp_path / name / "0" / "c" / str(FRAMES - 1) / "0" / "0").unlink()
    counts = _poll_once(tmp_path, name)
    assert counts["reader_errors"] >= 1
    assert ": 404" in counts["reader_error_sample"][0]


@pytest.mark.parametrize("fmt", ["tensorstore", "tifffile"])
def test_a_viewer_reads_a_frame_once_per_progress_update(
    tmp_path: Path, fmt: str
) -> None:
    """As the served viewer page does, a reader polls the documents and
    fetches a frame only when the progress record changed: a closed dataset's
    never does, so each reader reads one frame however often it polls."""
    counts = _poll_once(tmp_path, _written(tmp_path, fmt), readers=2, seconds=0.5)
    assert counts["reader_errors"] == 0, counts["reader_error_sample"]
    polls_of_documents = 2 * (4 if fmt == "tifffile" else 2) * 3  # 3 polls at least
    assert counts["reader_requests"] >= polls_of_documents
    assert counts["reader_data_requests"] == 2


def test_a_frame_the_record_counts_must_read(tmp_path: Path) -> None:
    """A frame the progress record counts is on disk: its chunk missing is an
    error, loss window or not. Without a record (another writer's dataset),
    the newest frame's chunk may be missing within the loss window (a Zarr
    reader shows the fill value): counted apart, and an error once the frame
    is readable by the loss window."""
    name = _written(tmp_path, "tensorstore")
    (tmp_path / name / "0" / "c" / str(FRAMES - 1) / "0" / "0").unlink()
    counts = _poll_once(tmp_path, name, window=3600.0)
    assert counts["reader_errors"] == 1  # fetched once: the record never changes
    assert f"404 for frame {FRAMES - 1}" in counts["reader_error_sample"][0]
    _set_record(tmp_path, name, None)
    _assert_not_yet_then_error(tmp_path, name, f"404 for frame {FRAMES - 1}")


def test_a_record_behind_the_appends_is_an_error(tmp_path: Path) -> None:
    """While writing, the record counts every frame appended two loss windows
    before; within that time it may lag, and the reader shows what it counts."""
    name = _written(tmp_path, "tensorstore")
    behind = {"status": "writing", "frames": FRAMES - 2, "extent": {"t": FRAMES - 2}}
    _set_record(tmp_path, name, behind)
    counts = _poll_once(tmp_path, name, window=3600.0)
    assert counts["reader_errors"] == 0, counts["reader_error_sample"]
    assert counts["reader_data_requests"] == 1
    counts = _poll_once(tmp_path, name, window=0.0)
    assert counts["reader_errors"] >= 1  # checked at every poll
    message = counts["reader_error_sample"][0]
    assert f"counts {FRAMES - 2} frames; {FRAMES} were appended" in message


def test_documents_not_written_yet_before_a_frame_is_readable(tmp_path: Path) -> None:
    """create_stream returns before the background threads have written the
    root group's NGFF document (complete at the first loss-window visit): a
    bare group then is "not yet", and an error once a frame is readable."""
    name = _written(tmp_path, "tensorstore")
    bare = {"zarr_format": 3, "node_type": "group", "attributes": {}}
    (tmp_path / name / "zarr.json").write_text(json.dumps(bare))
    _assert_not_yet_then_error(tmp_path, name, "no multiscales")


def test_readers_read_a_frame_through_its_shard_index(tmp_path: Path) -> None:
    """Small frames are stored in shards by default: a reader reads the
    shard's index, then the frame's chunk by range; a frame the index does
    not list is not there yet, and an error once it is readable."""
    name = "sharded.ome.zarr"
    with create_stream(_series(tmp_path / name, "tensorstore")) as stream:
        for i in range(FRAMES):
            stream.append(np.full((SIZE, SIZE), i + 1, "uint16"))
    array = json.loads((tmp_path / name / "0" / "zarr.json").read_text())
    sharding = array["codecs"][0]
    assert sharding["name"] == "sharding_indexed"
    counts = _poll_once(tmp_path, name)
    assert counts["reader_errors"] == 0, counts["reader_error_sample"]
    assert counts["reader_not_yet"] == 0
    # the index and the frame's chunk, not the whole shard
    assert counts["reader_mbps"] > 0
    shard = tmp_path / name / "0" / "c" / "0" / "0" / "0"
    per_shard = array["chunk_grid"]["configuration"]["chunk_shape"][0]  # 1 a chunk
    index_bytes = 16 * per_shard + 4  # crc32c after the entries
    data = bytearray(shard.read_bytes())
    at = len(data) - index_bytes + 16 * (FRAMES - 1)
    data[at : at + 16] = b"\xff" * 16  # the newest frame: not stored
    shard.write_bytes(bytes(data))
    counts = _poll_once(tmp_path, name, window=3600.0)  # counted: it must read
    assert counts["reader_errors"] == 1
    assert f"no chunk for frame {FRAMES - 1}" in counts["reader_error_sample"][0]
    _set_record(tmp_path, name, None)
    _assert_not_yet_then_error(tmp_path, name, f"no chunk for frame {FRAMES - 1}")


def test_readers_count_a_torn_ome_xml(tmp_path: Path) -> None:
    name = _written(tmp_path, "tifffile")
    data = (tmp_path / name).read_bytes()
    end = data.rindex(b"</OME>")
    (tmp_path / name).write_bytes(data[:end] + b"  " + data[end + 2 :])
    counts = _poll_once(tmp_path, name)
    assert counts["reader_errors"] >= 1
    assert "torn OME-XML" in counts["reader_error_sample"][0]


def test_quick_run_with_readers(capsys: pytest.CaptureFixture[str]) -> None:
    """Each backend's row runs again with the dataset served and polled; the
    readers made requests, and none failed."""
    argv = ["--quick", "-s", "f", "--backends", "tensorstore", "tifffile"]
    assert main([*argv, "--no-raw", "--readers", "2", "--json", "-q"]) == 0
    rows = {r["target"]: r for r in json.loads(capsys.readouterr().out)}
    assert set(rows) == {
        "ceiling",
        "disk",
        "ours:tensorstore",
        "served:tensorstore",
        "ours:tifffile",
        "served:tifffile",
    }
    for backend in ("tensorstore", "tifffile"):
        plain, served = rows[f"ours:{backend}"], rows[f"served:{backend}"]
        assert "readers" not in plain
        assert served["readers"] == 2
        assert served["reader_requests"] > 0 and served["reader_rps"] > 0
        assert served["reader_errors"] == 0, served["reader_error_sample"]
        assert served["frames"] == plain["frames"]
        assert served["vs_unread_paired"] > 0 and served["p99_vs_unread_paired"] > 0
    table = render(list(rows.values()))
    assert "tensorstore" in table and "+ 2 HTTP readers" in table
    header = next(line for line in table.splitlines() if "÷no readers" in line)
    assert "reader req/s" in header and "reader errors" in header
    markdown = render_markdown(list(rows.values())).splitlines()
    readers_rows = [
        line for line in markdown if line.startswith("| f | tifffile | 2 |")
    ]
    assert len(readers_rows) == 1 and readers_rows[0].endswith("| 0 |")


def test_runs_with_readers_alternate_with_those_without() -> None:
    plan = [("f", t) for t in targets_for("f", ["tensorstore"], False, None, False, 8)]
    assert plan == [
        ("f", "ceiling"),
        ("f", "disk"),
        ("f", "ours:tensorstore"),
        ("f", "served:tensorstore"),
    ]
    assert run_order(plan, 0) == plan
    assert run_order(plan, 1) == [*plan[:2], plan[3], plan[2]]
    # scenarios of several images or positions have no such rows
    assert "served:tensorstore" not in targets_for(
        "e", ["tensorstore"], False, None, False, 8
    )


def test_reader_errors_of_every_repeat_count() -> None:
    """A median would hide one repeat's errors; the ratios pair each repeat."""

    def run(gbps: float, p99: float, errors: int = 0, **extra: Any) -> dict[str, Any]:
        speeds = {"gbps_close": gbps, "gbps_sync": gbps, "gbps_total": gbps}
        return {**speeds, "p99_ms": p99, "fps": 1.0, **extra}

    def served(gbps: float, p99: float, errors: int) -> dict[str, Any]:
        sample = [f"GET /x: {500 + errors}"] * errors
        return run(
            gbps, p99, readers=8, reader_errors=errors, reader_error_sample=sample
        )

    plain = median_of_repeats([run(1.0, 2.0), run(2.0, 4.0), run(1.0, 2.0)])
    with_readers = median_of_repeats(
        [served(0.9, 3.0, 0), served(2.0, 4.0, 2), served(1.1, 2.0, 0)]
    )
    assert with_readers["reader_errors"] == 2
    assert with_readers["reader_error_sample"] == ["GET /x: 502"] * 2
    rows = [
        {**plain, "scenario": "a", "target": "ours:tensorstore"},
        {**with_readers, "scenario": "a", "target": "served:tensorstore"},
    ]
    add_ratios(rows)
    assert rows[1]["vs_unread_each"] == pytest.approx([0.9, 1.0, 1.1])
    assert rows[1]["vs_unread_paired"] == pytest.approx((0.9 * 1.1) ** (1 / 3))
    assert rows[1]["p99_vs_unread_each"] == pytest.approx([1.5, 1.0, 1.0])
    assert "vs_unread_paired" not in rows[0]
    titles = {title for _, title, _ in COLUMNS}
    assert {"÷no readers", "p99 ÷no readers", "reader errors"} <= titles


def test_readers_option_checks(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(SystemExit):
        main(["-s", "f", "--readers", "-1"])
    assert "must not be negative" in capsys.readouterr().err
    monkeypatch.setitem(__import__("sys").modules, "aiohttp", None)  # not installed
    with pytest.raises(SystemExit):
        main(["-s", "f", "--readers", "2"])
    assert "pip install 'ome-writers[serve]'" in capsys.readouterr().err


class _FileClient:
    """A reader's client over a local file: the ranges asked for, recorded."""

    def __init__(self, path: Path) -> None:
        self.path, self.ranges = path, []

    def request(self, method: str, path: str, *args: Any, **kw: Any) -> Any:
        size = self.path.stat().st_size
        return SimpleNamespace(getheader=lambda key, default="": str(size)), b""

    def range(self, path: str, start: int, stop: int) -> tuple[int, bytes]:
        self.ranges.append((start, stop))
        data = self.path.read_bytes()
        return len(data), data[start:stop]

    def suffix(self, path: str, count: int) -> tuple[int, bytes]:
        raise AssertionError("the newest page is where the record says")


def test_a_tiff_reader_reads_the_newest_page_where_the_record_says(
    tmp_path: Path,
) -> None:
    """While a file is written, its reader reads the strip of the newest page
    the progress record points at, once per update of the record."""
    from ome_writers.tools.bench._http_reader import Counts, Shown, poll_tiff

    path = tmp_path / "live.ome.tiff"
    with create_stream(_series(path, "tifffile")) as stream:
        for i in range(FRAMES):
            stream.append(np.full((SIZE, SIZE), i + 1, "uint16"))
        stream.checkpoint()
        client, counts, shown = _FileClient(path), Counts(), Shown()
        reader_settings: Any = {"dataset": path.name, "frame_bytes": SIZE * SIZE * 2}
        for _ in range(2):  # the record does not change: one page read
            poll_tiff(client, reader_settings, (FRAMES, FRAMES, FRAMES), counts, shown)
        strips = [(a, b) for a, b in client.ranges if b - a == SIZE * SIZE * 2]
        assert len(strips) == 1 and counts.data_requests == 1
        start, stop = strips[0]
        strip = np.frombuffer(path.read_bytes()[start:stop], "uint16")
        assert (strip == FRAMES).all()  # the newest frame's page


def test_a_tiff_reader_reads_no_pixels_before_the_record_counts_a_frame(
    tmp_path: Path,
) -> None:
    """Before the first frame is readable, a poll reads the file's documents
    as far as they are written (what is missing is "not yet", not an error)
    and no pixels; once the record counts a frame, that frame's page."""
    from ome_writers.tools.bench._http_reader import Counts, NotYet, Shown, poll_tiff

    path = tmp_path / "live.ome.tiff"
    # no loss window: the record counts frames at `checkpoint` only
    settings = _series(path, "tifffile").model_copy(update={"loss_window": None})
    with create_stream(settings) as stream:
        client, counts, shown = _FileClient(path), Counts(), Shown()
        reader_settings: Any = {"dataset": path.name, "frame_bytes": SIZE * SIZE * 2}

        def poll(readable: int) -> None:
            with contextlib.suppress(NotYet):
                poll_tiff(client, reader_settings, (1, readable, 0), counts, shown)

        poll(0)  # nothing appended yet: an empty file
        stream.append(np.full((SIZE, SIZE), 7, "uint16"))
        for _ in range(500):  # the page and its IFD are written in the background
            if path.stat().st_size > SIZE * SIZE * 2:
                break
            time.sleep(0.01)
        poll(0)  # written, not yet counted
        assert client.ranges, "the documents are read"
        assert counts.data_requests == 0
        stream.checkpoint()
        poll(1)
        assert counts.data_requests == 1
        start, stop = client.ranges[-1]
        strip = np.frombuffer(path.read_bytes()[start:stop], "uint16")
        assert strip.size == SIZE * SIZE and (strip == 7).all()
