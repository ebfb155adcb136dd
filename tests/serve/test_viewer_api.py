"""The viewer's API over a dataset held in memory: info, planes, errors, token."""

from __future__ import annotations

import asyncio
import json
import re
import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pytest
from aiohttp.test_utils import TestClient, TestServer

from ome_writers.serve._viewer import make_viewer_app, page_html
from ome_writers.serve._viewer_data import REFRESH_INTERVAL
from tests.serve.viewer_fakes import Channel, FakeView

if TYPE_CHECKING:
    from pathlib import Path

    from aiohttp import web


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


def fetch(
    app: web.Application, *paths: str, headers: dict[str, str] | None = None
) -> list[Reply]:
    """GET each path in turn from `app`, then shut it down (cleanup run)."""

    async def run() -> list[Reply]:
        replies = []
        async with TestClient(TestServer(app)) as client:
            for path in paths:
                async with client.get(path, headers=headers) as r:
                    replies.append(Reply(r.status, dict(r.headers), await r.read()))
        return replies

    return asyncio.run(run())


def sample(dtype: str = "uint16") -> FakeView:
    """t=3, c=2, 16x24, two levels; two time points written."""
    rng = np.random.default_rng(7)
    data = rng.integers(0, 4000, (3, 2, 16, 24)).astype(dtype)
    view = FakeView(
        [data, data[..., ::2, ::2].copy()],
        ("t", "c", "y", "x"),
        [Channel("DAPI", "#0000FF", (10, 3000)), Channel("FITC", "#00FF00")],
        complete=False,
    )
    view.touch((2, 2, 16, 24))
    return view


def app_over(
    view: FakeView, tmp_path: Path, token: str | None = None
) -> web.Application:
    return make_viewer_app(tmp_path, token=token, opener=lambda path: view)


def test_info_describes_the_dataset(tmp_path: Path) -> None:
    view = sample()
    view.labels = {"c": ["DAPI", "FITC"]}
    (reply,) = fetch(app_over(view, tmp_path), "/_viewer/info")
    assert reply.status == 200
    assert reply.headers["Cache-Control"] == "no-store"
    info = reply.json()
    assert info["name"] == tmp_path.name
    assert info["dims"] == ["t", "c", "y", "x"]
    assert info["shape"] == [2, 2, 16, 24]
    assert info["dtype"] == info["sent_dtype"] == "uint16"
    assert info["labels"] == {"c": ["DAPI", "FITC"]}  # t counts: no labels
    assert info["channel_dim"] == "c"
    assert info["channels"] == [
        {"name": "DAPI", "color": "#0000FF", "window": [10, 3000], "visible": True},
        {"name": "FITC", "color": "#00FF00", "window": None, "visible": True},
    ]
    assert info["levels"] == 2
    assert info["level_shapes"] == [[2, 2, 16, 24], [2, 2, 8, 12]]
    assert info["complete"] is False
    assert info["status"] == "writing"
    assert info["updated"] == view.updated.isoformat()  # type: ignore[union-attr]


def test_plane_is_the_frame_at_the_indices(tmp_path: Path) -> None:
    view = sample()
    level0, level1 = view.levels_data
    replies = fetch(
        app_over(view, tmp_path),
        "/_viewer/plane?t=1&c=1",
        "/_viewer/plane?level=1&c=1&t=0",
        "/_viewer/plane",  # dimensions not named: index 0
    )
    assert [r.status for r in replies] == [200, 200, 200]
    one, reduced, first = replies
    assert one.headers["Content-Type"] == "application/octet-stream"
    assert one.headers["X-Plane-Shape"] == "16,24"
    assert one.headers["X-Plane-Dtype"] == "uint16"
    assert one.body == level0[1, 1].astype("<u2").tobytes()
    assert reduced.headers["X-Plane-Shape"] == "8,12"
    assert reduced.body == level1[0, 1].astype("<u2").tobytes()
    assert first.body == level0[0, 0].astype("<u2").tobytes()


@pytest.mark.parametrize(
    ("dtype", "sent"),
    [
        (">u2", "uint16"),
        (">f4", "float32"),
        ("int64", "float64"),
        ("uint64", "float64"),
        ("float16", "float32"),
        ("bool", "uint8"),
        ("int8", "int8"),
    ],
)
def test_planes_travel_as_browser_typed_arrays(
    dtype: str, sent: str, tmp_path: Path
) -> None:
    """Little-endian, in a type JavaScript has a typed array for."""
    data = np.arange(2 * 3 * 4).reshape(2, 3, 4).astype(dtype)
    view = FakeView([data], ("t", "y", "x"))
    info, plane = fetch(app_over(view, tmp_path), "/_viewer/info", "/_viewer/plane?t=1")
    assert info.json()["sent_dtype"] == sent
    assert plane.headers["X-Plane-Dtype"] == sent
    expected = data[1].astype(np.dtype(sent).newbyteorder("<"))
    assert np.frombuffer(plane.body, np.dtype(sent).newbyteorder("<")).tolist() == (
        expected.ravel().tolist()
    )


@pytest.mark.parametrize(
    ("query", "status", "message"),
    [
        ("z=0", 400, "unknown dimension 'z': the dataset's are t, c"),
        ("t=one", 400, "t='one' is not an integer index"),
        ("t=2", 404, "t=2 is not written: t has 2 now"),
        ("c=-1", 404, "c=-1 is not written: c has 2 now"),
        ("level=2", 400, "level 2 does not exist: the dataset has 2"),
        ("level=-1", 400, "level='-1' is not a level index"),
        ("level=x", 400, "level='x' is not a level index"),
    ],
)
def test_bad_plane_requests_name_the_problem(
    query: str, status: int, message: str, tmp_path: Path
) -> None:
    (reply,) = fetch(app_over(sample(), tmp_path), "/_viewer/plane?" + query)
    assert reply.status == status
    assert reply.json() == {"error": message}


def test_a_dataset_not_there_yet_is_opened_when_it_is(tmp_path: Path) -> None:
    view = sample()
    attempts: list[str] = []

    def opener(path: str) -> FakeView:
        attempts.append(path)
        if len(attempts) == 1:
            raise FileNotFoundError(f"no such dataset: {path}")
        return view

    (tmp_path / "run.ome.zarr").mkdir()  # its documents not written yet
    app = make_viewer_app(tmp_path / "run.ome.zarr", opener=opener)
    missing, found = fetch(app, "/_viewer/info", "/_viewer/info")
    assert missing.status == 503
    assert missing.json()["error"] == (
        "cannot open run.ome.zarr as a dataset: no such dataset: "
        f"{tmp_path / 'run.ome.zarr'}"
    )
    assert found.status == 200
    assert found.json()["shape"] == [2, 2, 16, 24]


def test_views_are_refreshed_at_most_every_interval_and_closed(
    tmp_path: Path,
) -> None:
    view = sample()
    app = app_over(view, tmp_path)

    async def run() -> tuple[int, int]:
        async with TestClient(TestServer(app)) as client:
            for _ in range(5):
                (await client.get("/_viewer/info")).release()
            quick = view.refreshes
            await asyncio.sleep(REFRESH_INTERVAL * 1.5)
            (await client.get("/_viewer/info")).release()
            return quick, view.refreshes

    quick, later = asyncio.run(run())
    assert (quick, later) == (0, 1)
    assert view.closed  # the server's cleanup closes what it opened


def test_the_token_guards_the_page_and_the_api(tmp_path: Path) -> None:
    paths = ("/", "/_viewer/info", "/_viewer/plane?t=0")
    denied = fetch(app_over(sample(), tmp_path, token="s3cret"), *paths)
    assert [r.status for r in denied] == [401, 401, 401]
    allowed = fetch(
        app_over(sample(), tmp_path, token="s3cret"),
        *paths,
        headers={"Authorization": "Bearer s3cret"},
    )
    assert [r.status for r in allowed] == [200, 200, 200]
    (by_query,) = fetch(app_over(sample(), tmp_path, token="s3cret"), "/?token=s3cret")
    assert by_query.status == 200


def test_the_api_is_read_only(tmp_path: Path) -> None:
    async def run() -> list[int]:
        async with TestClient(TestServer(app_over(sample(), tmp_path))) as client:
            statuses = []
            for method in ("POST", "PUT", "DELETE"):
                for path in ("/", "/_viewer/info", "/_viewer/plane"):
                    async with client.request(method, path) as r:
                        statuses.append(r.status)
            return statuses

    assert set(asyncio.run(run())) == {405}


def test_the_page_is_self_contained() -> None:
    """Nothing is fetched from elsewhere: microscope computers are often offline."""
    html = page_html()
    assert "/*VIEWER_JS*/" not in html
    assert "/*VIEWER_CSS*/" not in html
    assert "window.omeViewer" in html
    assert "#zoombar" in html
    assert not re.findall(r"(?:https?:)?//[a-z0-9.-]+\.[a-z]{2,}", html, re.I)
    assert not re.findall(r"<(?:script|link)[^>]+(?:src|href)=\"(?!data:)", html)


def test_the_page_answers_at_the_root(tmp_path: Path) -> None:
    (reply,) = fetch(app_over(sample(), tmp_path), "/")
    assert reply.status == 200
    assert reply.headers["Content-Type"].startswith("text/html")
    assert reply.body.decode() == page_html()


def test_a_slow_read_does_not_hold_other_requests(tmp_path: Path) -> None:
    """Planes are read on a thread: the files go on being served meanwhile."""
    (tmp_path / "zarr.json").write_text("{}")
    view = sample()
    view.gate = threading.Event()
    app = app_over(view, tmp_path)

    async def run() -> tuple[int, float, bool, int]:
        async with TestClient(TestServer(app)) as client:
            slow = asyncio.ensure_future(client.get("/_viewer/plane?t=0"))
            await asyncio.sleep(0.2)
            start = time.monotonic()
            async with client.get("/zarr.json") as r:
                status, took = r.status, time.monotonic() - start
            pending = not slow.done()
            assert view.gate is not None
            view.gate.set()
            reply = await slow
            reply.release()
            return status, took, pending, reply.status

    status, took, pending, slow_status = asyncio.run(run())
    assert status == 200
    assert pending
    assert took < 5
    assert slow_status == 200


def test_a_failing_read_is_answered_with_its_reason(tmp_path: Path) -> None:
    class Lost(FakeView):
        def __getitem__(self, key: Any) -> np.ndarray:
            raise OSError("disk gone")

    view = sample()
    lost = Lost(view.levels_data, view.dims, view.channels, written=view.written)
    (reply,) = fetch(app_over(lost, tmp_path), "/_viewer/plane")
    assert reply.status == 500
    assert reply.json() == {"error": "reading the dataset failed: OSError: disk gone"}


def test_windows_that_json_cannot_hold_are_left_out(tmp_path: Path) -> None:
    view = sample()
    view.channels = [Channel("a", window=(0.0, np.inf)), Channel("b", window=(0.5, 2))]
    (reply,) = fetch(app_over(view, tmp_path), "/_viewer/info")
    assert [c["window"] for c in reply.json()["channels"]] == [None, [0.5, 2]]


def test_an_ome_zarr_04_dataset(tmp_path: Path) -> None:
    """The files of an OME-Zarr 0.4 dataset (Zarr v2) and the viewer's view
    of it, opened with `ome_writers.open` (no fake)."""
    from ome_writers import AcquisitionSettings, Dimension, create_stream
    from ome_writers.serve._links import dataset_kind

    path = tmp_path / "v04.ome.zarr"
    settings = AcquisitionSettings(
        root_path=str(path),
        format={"ngff_version": "0.4"},
        dimensions=[
            Dimension(name="t", count=2, type="time"),
            Dimension(name="c", type="channel", coords=["DAPI", "FITC"]),
            Dimension(name="y", count=16),
            Dimension(name="x", count=24),
        ],
        dtype="uint16",
    )
    frames = [np.full((16, 24), n + 1, "uint16") for n in range(4)]
    with create_stream(settings) as stream:
        for data in frames:
            stream.append(data)
    assert dataset_kind(path) == "zarr2"
    attrs, info = fetch(make_viewer_app(path), "/.zattrs", "/_viewer/info")
    assert attrs.status == 200
    assert attrs.headers["Content-Type"].startswith("application/json")
    assert attrs.json()["multiscales"][0]["version"] == "0.4"
    described = info.json()
    assert described["dims"] == ["t", "c", "y", "x"]
    assert described["shape"] == [2, 2, 16, 24]
    assert described["complete"] is True
    assert [c["name"] for c in described["channels"]] == ["DAPI", "FITC"]
    (plane,) = fetch(make_viewer_app(path), "/_viewer/plane?level=0&t=1&c=1")
    assert plane.status == 200
    np.testing.assert_array_equal(
        np.frombuffer(plane.body, "<u2").reshape(16, 24), frames[3]
    )
