"""A single-file OME-Zarr (``.ozx``) served: one file, read in place over
HTTP by tensorstore (a ``zip`` kvstore over an ``http`` one) and by the
viewer page; neuroglancer's link points inside the archive."""

from __future__ import annotations

import json
import zipfile
from typing import TYPE_CHECKING
from urllib.parse import unquote

import numpy as np

from ome_writers.serve import start
from ome_writers.serve._links import banner, dataset_kind, viewer_links
from tests.serve.conftest import raw_request

if TYPE_CHECKING:
    from pathlib import Path

    from tests.serve.conftest import Written


def pack(root: Path, target: Path) -> Path:
    with zipfile.ZipFile(target, "w") as z:
        for path in sorted(root.rglob("*")):
            if path.is_file() and not path.is_symlink():
                z.write(path, path.relative_to(root).as_posix())
    return target


def test_an_ozx_is_served_as_one_file_read_in_place(
    zarr_dataset: Written, tmp_path: Path
) -> None:
    import tensorstore as ts

    archive = pack(zarr_dataset.path, tmp_path / "run.ozx")
    assert dataset_kind(archive) == "ozx"
    with start(archive, token="t0k") as served:
        assert served.kind == "ozx"
        assert served.url == f"http://127.0.0.1:{served.port}/run.ozx"
        assert set(served.links) == {"neuroglancer"}
        state = unquote(served.links["neuroglancer"].partition("#!")[2])
        source = json.loads(state)["layers"][0]["source"]
        assert source == f"{served.url}?token=t0k|zip:|zarr3:"
        auth = {"Authorization": "Bearer t0k"}
        ranged = raw_request(
            served.port, "/run.ozx", headers={**auth, "Range": "bytes=0-3"}
        )
        assert ranged.status == 206 and ranged.body == b"PK\x03\x04"
        spec = {
            "driver": "zarr3",
            "kvstore": {
                "driver": "zip",
                "base": f"{served.url}?token=t0k",
                "path": "0/",
            },
        }
        read = ts.open(spec, read=True).result().read().result()
        np.testing.assert_array_equal(read, zarr_dataset.data)
        described = raw_request(served.port, "/_viewer/info", headers=auth)
        info = json.loads(described.body)
        assert info["dims"] == ["t", "c", "y", "x"]
        assert info["shape"] == list(zarr_dataset.data.shape)
        plane = raw_request(served.port, "/_viewer/plane?t=1&c=1", headers=auth)
        assert plane.body == zarr_dataset.data[1, 1].astype("<u2").tobytes()


def test_the_banner_says_which_link_there_is(tmp_path: Path) -> None:
    url = "http://127.0.0.1:8123/run.ozx"
    lines = banner(tmp_path / "run.ozx", url, "ozx", None, "127.0.0.1")
    assert any("which neuroglancer reads in place" in line for line in lines)
    assert set(viewer_links(url, "ozx", None)) == {"neuroglancer"}
