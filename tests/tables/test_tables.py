"""Per-frame tables: rows written beside the frames, read back by pyarrow."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

pa = pytest.importorskip("pyarrow")
pq = pytest.importorskip("pyarrow.parquet")

import ome_writers as ow  # noqa: E402
from ome_writers import AcquisitionSettings, Dimension, create_stream  # noqa: E402
from ome_writers.errors import StreamClosedError  # noqa: E402
from ome_writers.tools.cli import main  # noqa: E402

FORMATS = {
    "zarr": ({"name": "ome-zarr", "backend": "tensorstore"}, "run.ome.zarr"),
    "tiff": ("ome-tiff", "run.ome.tiff"),
    "scratch": ("scratch", "run_scratch"),
}
# where each format keeps table "cells", relative to tmp_path
TABLE_DIR = {
    "zarr": "run.ome.zarr/tables/cells",
    "tiff": "run/run.tables/cells",  # several positions: files in run/
    "scratch": "run_scratch/tables/cells",
}


def tpcz(fmt: Any, root: str | None, **kwargs: Any) -> AcquisitionSettings:
    """t=2 × p=2 × c=2 × z=3 frames of 8×8, in that (acquisition) order."""
    return AcquisitionSettings(
        root_path=root,
        dimensions=[
            Dimension(name="t", count=2, type="time"),
            Dimension(name="p", type="position", coords=["A1", "B2"]),
            Dimension(name="c", type="channel", coords=["DAPI", "FITC"]),
            Dimension(name="z", count=3, type="space"),
            Dimension(name="y", count=8, type="space"),
            Dimension(name="x", count=8, type="space"),
        ],
        dtype="uint16",
        format=fmt,
        **kwargs,
    )


def expected_keys() -> list[dict[str, int]]:
    out = []
    n = 0
    for t in range(2):
        for p in range(2):
            for c in range(2):
                for z in range(3):
                    out.append({"frame": n, "position": p, "t": t, "c": c, "z": z})
                    n += 1
    return out


def row(n: int) -> dict[str, Any]:
    return {
        "count": n * 3,
        "focus": n / 4,
        "label": f"cell{n}",
        "ok": n % 2 == 0,
        "centroid": [n, n + 0.5],
    }


@pytest.mark.parametrize("fmt", FORMATS)
def test_round_trip_with_key_columns(fmt: str, tmp_path: Path) -> None:
    spec, name = FORMATS[fmt]
    settings = tpcz(spec, str(tmp_path / name))
    with create_stream(settings) as stream:
        for n in range(24):
            stream.append(np.full((8, 8), n, "uint16"))
            stream.write_row("cells", row(n))
        live = stream.read_table("cells")
    table_dir = tmp_path / TABLE_DIR[fmt]
    # an independent reader of the directory as one dataset
    stored = pq.read_table(table_dir)
    assert stored.column_names == [
        *("frame", "position", "t", "c", "z"),
        *("count", "focus", "label", "ok", "centroid"),
    ]
    for column in ("frame", "position", "t", "c", "z", "count"):
        assert stored.schema.field(column).type == pa.int64()
    assert stored.schema.field("focus").type == pa.float64()
    assert stored.schema.field("ok").type == pa.bool_()
    assert stored.schema.field("label").type == pa.string()
    assert stored.schema.field("centroid").type == pa.list_(pa.float64())
    rows = sorted(stored.to_pylist(), key=lambda r: r["frame"])
    assert rows == [
        {**k, **row(k["frame"]), "centroid": [k["frame"], k["frame"] + 0.5]}
        for k in expected_keys()
    ]
    assert live.to_pylist() == rows
    assert not [p for p in table_dir.iterdir() if not p.name.endswith(".parquet")]


def test_tiff_single_file_tables_beside_it(tmp_path: Path) -> None:
    settings = AcquisitionSettings(
        root_path=str(tmp_path / "one.ome.tif"),
        dimensions=[
            Dimension(name="t", count=3, type="time"),
            Dimension(name="y", count=8, type="space"),
            Dimension(name="x", count=8, type="space"),
        ],
        dtype="uint8",
        format="ome-tiff",
    )
    with create_stream(settings) as stream:
        for n in range(3):
            stream.append(np.zeros((8, 8), "uint8"))
            stream.write_row("focus", {"score": float(n)})
    rows = pq.read_table(tmp_path / "one.tables" / "focus").to_pylist()
    assert rows == [
        {"frame": n, "position": 0, "t": n, "score": float(n)} for n in range(3)
    ]
    with ow.open(tmp_path / "one.ome.tif") as view:
        assert view.tables.names == ["focus"]
        assert view.tables["focus"].to_pylist() == rows


def test_scratch_in_memory(tmp_path: Path) -> None:
    with create_stream(tpcz("scratch", None)) as stream:
        for n in range(5):
            stream.append(np.zeros((8, 8), "uint16"))
            stream.write_row("cells", {"count": n})
        stream.checkpoint()
        stream.write_row("cells", {"count": 99}, frame=0)
        table = stream.read_table("cells")
    assert table.column("count").to_pylist() == [0, 1, 2, 3, 4, 99]
    assert table.column("frame").to_pylist() == [0, 1, 2, 3, 4, 0]
    assert not list(tmp_path.iterdir())


def test_open_lists_and_reads_tables(tmp_path: Path) -> None:
    root = tmp_path / "run.ome.zarr"
    with create_stream(tpcz(FORMATS["zarr"][0], str(root))) as stream:
        for n in range(4):
            stream.append(np.zeros((8, 8), "uint16"))
            stream.write_row("cells", {"count": n})
            stream.write_row("focus", {"score": n / 2, "note": None if n else "x"})
    with ow.open(root) as view:
        assert view.tables.names == ["cells", "focus"]
        assert "focus" in view.tables
        assert view.tables.rows("cells") == 4
        notes = view.tables["focus"].column("note").to_pylist()
        assert notes == ["x", None, None, None]
        with pytest.raises(KeyError, match="nope"):
            view.tables["nope"]


def test_schema_errors_keep_earlier_rows(tmp_path: Path) -> None:
    root = tmp_path / "run.ome.zarr"
    with create_stream(tpcz(FORMATS["zarr"][0], str(root))) as stream:
        stream.append(np.zeros((8, 8), "uint16"))
        stream.write_row("cells", {"count": 1, "score": 0.5})
        stream.checkpoint()  # the first row is in a part file
        stream.write_row("cells", {"count": 2, "score": 1})  # int into float: fine
        with pytest.raises(ValueError, match=r"missing \['score'\]"):
            stream.write_row("cells", {"count": 3})
        with pytest.raises(ValueError, match=r"unknown \['extra'\]"):
            stream.write_row("cells", {"count": 3, "score": 1.0, "extra": 1})
        with pytest.raises(ValueError, match="Column 'count' holds int64"):
            stream.write_row("cells", {"count": 1.5, "score": 1.0})
        with pytest.raises(ValueError, match="Column 'count' holds int64"):
            stream.write_row("cells", {"count": "3", "score": 1.0})
        with pytest.raises(ValueError, match="key columns"):
            stream.write_row("other", {"t": 1})
        with pytest.raises(ValueError, match="first row"):
            stream.write_row("other", {"a": None})
        with pytest.raises(ValueError, match="cannot be stored"):
            stream.write_row("other", {"a": {"nested": 1}})
        for bad in ("", "../x", ".hidden", "a b", "a/b"):
            with pytest.raises(ValueError, match="Table name"):
                stream.write_row(bad, {"a": 1})
        with pytest.raises(IndexError, match="not appended yet"):
            stream.write_row("cells", {"count": 4, "score": 1.0}, frame=1)
        stream.write_row("cells", {"count": 4, "score": None}, frame=0)
        assert stream.read_table("cells").column("count").to_pylist() == [1, 2, 4]
        with pytest.raises(KeyError):
            stream.read_table("other")  # no row was ever kept
    stored = pq.read_table(root / "tables" / "cells")
    assert stored.column("count").to_pylist() == [1, 2, 4]
    assert stored.column("score").to_pylist() == [0.5, 1.0, None]
    assert not (root / "tables" / "other").exists()
    with pytest.raises(StreamClosedError):
        stream.write_row("cells", {"count": 5, "score": 1.0})


def test_no_frame_yet(tmp_path: Path) -> None:
    with create_stream(tpcz("scratch", None)) as stream:
        with pytest.raises(ValueError, match="no frame appended yet"):
            stream.write_row("cells", {"a": 1})
        with pytest.raises(IndexError, match="not appended yet"):
            stream.write_row("cells", {"a": 1}, frame=0)


def test_part_files_are_renamed_into_place(tmp_path: Path) -> None:
    """Every visit with new rows adds a part named in write order; a reader
    never sees a temporary name ending in .parquet."""
    root = tmp_path / "run.ome.zarr"
    settings = tpcz(FORMATS["zarr"][0], str(root))
    with create_stream(settings, checkpoint_seconds=None) as stream:
        for n in range(3):
            stream.append(np.zeros((8, 8), "uint16"))
            stream.write_row("cells", {"count": n})
            stream.checkpoint()
        stream.checkpoint()  # nothing new: no part
    names = sorted(p.name for p in (root / "tables" / "cells").iterdir())
    assert names == [f"part-{k:06d}.parquet" for k in range(3)]


def _tiff_time_lapse(root: Path, frames: int) -> AcquisitionSettings:
    """`frames` time points of 8×8 into the OME-TIFF `root`, replacing it."""
    return AcquisitionSettings(
        root_path=str(root),
        dimensions=[
            Dimension(name="t", count=frames, type="time"),
            Dimension(name="y", count=8, type="space"),
            Dimension(name="x", count=8, type="space"),
        ],
        dtype="uint8",
        format="ome-tiff",
        overwrite=True,
    )


def test_overwrite_removes_the_earlier_runs_parts(tmp_path: Path) -> None:
    root = tmp_path / "one.ome.tiff"
    for run in range(2):
        settings = _tiff_time_lapse(root, 4)
        with create_stream(settings, checkpoint_seconds=None) as stream:
            for _ in range(4 - 2 * run):
                stream.append(np.zeros((8, 8), "uint8"))
                stream.write_row("cells", {"run": run})
                stream.checkpoint()
    rows = pq.read_table(tmp_path / "one.tables" / "cells").to_pylist()
    assert [r["run"] for r in rows] == [1, 1]


def test_overwrite_removes_tables_the_new_run_does_not_write(tmp_path: Path) -> None:
    root = tmp_path / "one.ome.tiff"
    for run in range(2):
        settings = _tiff_time_lapse(root, 2)
        with create_stream(settings) as stream:
            for _ in range(2):
                stream.append(np.zeros((8, 8), "uint8"))
                if run == 0:
                    stream.write_row("cells", {"run": run})
    assert not (tmp_path / "one.tables").exists()
    view = ow.open(root)
    try:
        assert dict(view.tables) == {}
    finally:
        view.close()


def test_info_lists_tables(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = tmp_path / "run.ome.zarr"
    with create_stream(tpcz(FORMATS["zarr"][0], str(root))) as stream:
        for n in range(5):
            stream.append(np.zeros((8, 8), "uint16"))
            stream.write_row("cells", {"count": n, "focus": 0.5})
    assert main(["info", str(root)]) == 0
    out = capsys.readouterr().out
    assert "table cells: 5 rows, columns: frame, position, t, c, z, count, focus" in out
    assert main(["info", "--json", str(root)]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["tables"] == [
        {
            "name": "cells",
            "rows": 5,
            "columns": ["frame", "position", "t", "c", "z", "count", "focus"],
        }
    ]


def test_missing_pyarrow_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    import builtins

    real_import = builtins.__import__

    def no_pyarrow(name: str, *args: Any, **kwargs: Any) -> Any:
        if name == "pyarrow" or name.startswith("pyarrow."):
            raise ImportError(f"No module named {name!r}")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_pyarrow)
    with create_stream(tpcz("scratch", None)) as stream:
        stream.append(np.zeros((8, 8), "uint16"))
        with pytest.raises(ImportError, match=r"ome-writers\[tables\]"):
            stream.write_row("cells", {"a": 1})
