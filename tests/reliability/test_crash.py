"""A writer process killed with SIGKILL leaves a readable dataset.

Every frame appended before the last checkpoint is there, read by independent
readers (after ``ome-writers repair`` for OME-TIFF).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
import tifffile
import yaozarrs
import zarr

from ome_writers._registry import BY_NAME
from ome_writers.backends.zarr import _acquire_zarr_staging as _staging_store
from ome_writers.tools.cli import main
from ome_writers.tools.repair import repair
from tests.backends.params import backend_params, suffix

SHAPE = (6, 5)
CHILD = textwrap.dedent(
    """
    import sys, time
    import numpy as np
    from ome_writers import AcquisitionSettings, Dimension, create_stream

    backend, root, unbounded = sys.argv[1], sys.argv[2], sys.argv[3] == "1"
    compression = sys.argv[4] if len(sys.argv) > 4 else None
    settings = AcquisitionSettings(
        root_path=root, format=backend, compression=compression,
        dimensions=[Dimension(name="t", count=None if unbounded else 50,
                              chunk_size=1 if compression else None),
                    Dimension(name="c", count=2),
                    Dimension(name="y", count=6), Dimension(name="x", count=5)],
        dtype="uint16",
    )
    stream = create_stream(settings, checkpoint_seconds=None)
    def frame(n):
        base = np.arange(30, dtype="uint16").reshape(6, 5)
        return (base + 100 * (n + 1)).astype("uint16")
    for n in range(11):
        stream.append(frame(n), frame_metadata={"n": n})
    stream.checkpoint()
    for n in range(11, 14):  # after the checkpoint: may or may not survive
        stream.append(frame(n))
    writer = getattr(getattr(stream._backend, "arrays", None), "writer", None)
    print("READY", type(writer).__name__, flush=True)
    time.sleep(120)
    """
)
# acquire-zarr cannot flush: a checkpoint covers complete timepoints only (the
# checkpoint after frame 11 of t x c=2 declares timepoints 0-4, frames 0-9)
DURABLE = {"acquire-zarr": 10}


def _frame(n: int) -> np.ndarray:
    return (np.arange(30, dtype="uint16").reshape(SHAPE) + 100 * (n + 1)).astype(
        "uint16"
    )


def _kill_after_checkpoint(
    backend: str, root: Path, unbounded: bool, *compression: str
) -> str:
    """Kill the child once it is ready; the name of its Zarr arrays' writer."""
    proc = subprocess.Popen(
        [
            sys.executable,
            "-c",
            CHILD,
            backend,
            str(root),
            "1" if unbounded else "0",
            *compression,
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    assert line.startswith("READY"), line
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(30)
    proc.stdout.close()
    return line.split()[-1]


@pytest.mark.parametrize("unbounded", [True, False])
@pytest.mark.parametrize("backend", backend_params())
def test_sigkill_after_checkpoint(
    tmp_path: Path, backend: str, unbounded: bool
) -> None:
    root = tmp_path / f"crash{suffix(backend)}"
    fmt = BY_NAME[backend].format
    _kill_after_checkpoint(backend, root, unbounded)
    if fmt == "ome-tiff":
        assert main(["repair", str(root)]) == 0
        with tifffile.TiffFile(root) as tif:
            assert tif.is_ome
            data = tif.series[0].asarray().reshape(-1, *SHAPE)
        import ome_types

        ome_types.from_tiff(root)
    elif fmt == "scratch":
        manifest = json.loads((root / "manifest.json").read_text())
        shape = manifest["allocated_shapes"][0]
        raw = np.memmap(
            root / "pos_0.dat", dtype="uint16", mode="r", shape=tuple(shape)
        )
        data = np.asarray(raw).reshape(-1, *SHAPE)
    else:
        yaozarrs.validate_zarr_store(str(root))
        data = zarr.open_array(str(root / "0"), mode="r")[...].reshape(-1, *SHAPE)
        # per-frame metadata up to the checkpoint is in the journal until
        # `repair` moves it into zarr.json
        journal = root / "frame_metadata.jsonl"
        assert len(journal.read_text().splitlines()) == 11
        assert main(["repair", str(root)]) == 0
        assert not journal.exists()
        yaozarrs.validate_zarr_store(str(root))
        attrs = json.loads((root / "zarr.json").read_text())["attributes"]
        assert len(attrs["ome_writers"]["frame_metadata"]) == 11
    durable = DURABLE.get(backend, 11)
    assert len(data) >= durable
    for n in range(durable):
        np.testing.assert_array_equal(data[n], _frame(n))


@pytest.mark.parametrize("compression", ["blosc-zstd", "zstd"])
@pytest.mark.parametrize(
    "backend",
    backend_params(
        format="ome-zarr", names=["tensorstore", "zarr-python", "zarrs-python"]
    ),
)
def test_sigkill_with_compressed_frame_chunks(
    tmp_path: Path, backend: str, compression: str
) -> None:
    """Compressed chunks of one frame each, encoded by threads of ours: every
    frame before the checkpoint decodes exactly, a torn one never appears."""
    root = tmp_path / "crash.ome.zarr"
    writer = _kill_after_checkpoint(backend, root, True, compression)
    assert writer == "ChunkFileWriter"
    yaozarrs.validate_zarr_store(str(root))
    data = zarr.open_array(str(root / "0"), mode="r")[...].reshape(-1, *SHAPE)
    assert len(data) >= 11
    for n in range(11):
        np.testing.assert_array_equal(data[n], _frame(n))
    for n in range(11, len(data)):  # after it: whole frames or the fill value
        assert np.array_equal(data[n], _frame(n)) or not data[n].any()
    assert not list(root.rglob("*.partial")) or main(["repair", str(root)]) == 0


SHARDED_CHILD = textwrap.dedent(
    """
    import sys, time
    import numpy as np
    from ome_writers import AcquisitionSettings, Dimension, create_stream

    root = sys.argv[1]
    if sys.argv[2] == "in-dataset":  # as where there is no shared memory
        from pathlib import Path
        from ome_writers.backends.zarr import _acquire_zarr_staging as _staging_store
        _staging_store.SHARED_MEMORY = Path("/nonexistent/shm")
    settings = AcquisitionSettings(
        root_path=root, format="acquire-zarr", compression="blosc-zstd",
        dimensions=[Dimension(name="t", count=None, chunk_size=1, shard_size_chunks=2),
                    Dimension(name="p", type="position", count=2),
                    Dimension(name="c", count=2),
                    Dimension(name="y", count=32, chunk_size=16, shard_size_chunks=2),
                    Dimension(name="x", count=32, chunk_size=16)],
        dtype="uint16",
        loss_window=None,  # what the explicit checkpoint declares, exactly
    )
    stream = create_stream(settings, checkpoint_seconds=None)
    rng = np.random.default_rng(0)
    for n in range(22):  # position 0 has t0-t5 (three shards), position 1 t0-t4
        stream.append(rng.integers(0, 4000, (32, 32), dtype="uint16"))
    stream.checkpoint()
    for n in range(22, 27):  # completes position 1's shard t4-t5, then t6: not covered
        stream.append(rng.integers(0, 4000, (32, 32), dtype="uint16"))
    print("READY", stream._backend._staging, flush=True)
    time.sleep(120)
    """
)


@pytest.mark.parametrize("store_place", ["shared-memory", "in-dataset"])
def test_sigkill_acquire_zarr_sharded_compressed(
    tmp_path: Path, store_place: str
) -> None:
    """Checkpoints declare whole first-dimension shards, read by two readers;
    acquire-zarr's staging store is removed wherever it was."""
    pytest.importorskip("acquire_zarr")
    ts = pytest.importorskip("tensorstore")
    if store_place == "shared-memory" and not _staging_store.SHARED_MEMORY.is_dir():
        pytest.skip("no shared-memory filesystem here")
    root = tmp_path / "crash.ome.zarr"
    proc = subprocess.Popen(
        [sys.executable, "-c", SHARDED_CHILD, str(root), store_place],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    ready, store = proc.stdout.readline().split()
    assert ready == "READY"
    # give acquire-zarr's threads time to write position 1's shard t4-t5 and
    # roll over past it: what it writes then must not change the declared extent
    time.sleep(0.2)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(30)
    proc.stdout.close()
    rng = np.random.default_rng(0)
    frames = [rng.integers(0, 4000, (32, 32), dtype="uint16") for _ in range(22)]
    yaozarrs.validate_zarr_store(str(root))
    for p in range(2):
        path = root / str(p) / "0"
        data = zarr.open_array(str(path), mode="r")[...]
        spec = {"driver": "zarr3", "kvstore": {"driver": "file", "path": str(path)}}
        independent = ts.open(spec, open=True, read=True).result().read().result()
        np.testing.assert_array_equal(data, independent)
        complete = 6 if p == 0 else 4  # whole shards of 2 timepoints
        assert data.shape == (complete, 2, 32, 32)
        for t in range(complete):
            for c in range(2):
                np.testing.assert_array_equal(data[t, c], frames[t * 4 + p * 2 + c])
    # acquire-zarr's staging store (its own array documents) is ours to remove:
    # inside the dataset, by repair; in shared memory, by the next stream's store
    staging = Path(store)
    if store_place == "shared-memory":
        assert staging.parent == _staging_store.SHARED_MEMORY
        assert staging.is_dir()
        assert not (root / "__acquire_zarr__").exists()
        _staging_store.StagingStore(tmp_path, 1).remove()
        assert not staging.exists()
        assert "staging" not in repair(root)
    else:
        assert staging == root / "__acquire_zarr__"
        assert staging.is_dir()
        assert "removed acquire-zarr's staging store" in repair(root)
        assert not staging.exists()
    yaozarrs.validate_zarr_store(str(root))


SPACED_CHILD = textwrap.dedent(
    """
    import sys, time
    import numpy as np
    from ome_writers import AcquisitionSettings, Dimension, create_stream
    from ome_writers.backends.zarr import _ome_xml_file

    # from 20 Planes on, the document is rewritten only at close
    _ome_xml_file.SPACED_FROM_PLANES = 20
    _ome_xml_file.REWRITE_SPACING = 1e9
    backend, root = sys.argv[1], sys.argv[2]
    settings = AcquisitionSettings(
        root_path=root, format=backend,
        dimensions=[Dimension(name="t", count=None, type="time"),
                    Dimension(name="c", count=2, type="channel"),
                    Dimension(name="y", count=8), Dimension(name="x", count=8)],
        dtype="uint16",
    )
    stream = create_stream(settings, checkpoint_seconds=None)
    for n in range(31):
        meta = {"delta_t": 0.5 * n, "exposure_time": 0.01, "n": n}
        stream.append(np.full((8, 8), n, "uint16"), frame_metadata=meta)
        stream.checkpoint()
    for n in range(31, 35):  # after the checkpoint: may or may not survive
        stream.append(np.full((8, 8), n, "uint16"), frame_metadata={"n": n})
    print("READY", flush=True)
    time.sleep(120)
    """
)


@pytest.mark.parametrize(
    "backend",
    [p for p in backend_params(format="ome-zarr") if p.values[0] != "acquire-zarr"],
)
def test_sigkill_with_rewrites_spaced_then_repair(tmp_path: Path, backend: str) -> None:
    """Past the Planes from which its rewrites are spaced, a killed run's
    OME-XML is whole and describes only frames written, but not all of them;
    `repair` rebuilds it from the journal: a Plane per frame written, as
    ome-types reads it."""
    import ome_types

    from tests.ome_xml import plane_metadata, read_ome_xml

    root = tmp_path / "spaced.ome.zarr"
    proc = subprocess.Popen(
        [sys.executable, "-c", SPACED_CHILD, backend, str(root)],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    assert line.strip() == "READY", line
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(30)
    proc.stdout.close()
    attrs = json.loads((root / "zarr.json").read_text())["attributes"]
    written = attrs["ome_writers"]["progress"]["frames"]
    assert written >= 31
    recovery = root / "OME" / "METADATA.recovery.json"
    assert recovery.is_file()
    stale = plane_metadata(read_ome_xml(root))[0]
    assert len(stale) == 19  # the last write below 20 Planes
    assert [int(p["n"]) for p in stale] == list(range(19))
    assert f"with {written} Plane(s) of the {written} frame(s)" in repair(root)
    ome = read_ome_xml(root)
    planes = plane_metadata(ome)[0]
    assert len(planes) == written
    assert sorted(int(p["n"]) for p in planes) == list(range(written))
    for p in planes:  # frame n is t = n // 2, c = n % 2
        n = int(p["n"])
        assert p["zct"] == (0, n % 2, n // 2)
    assert ome.images[0].pixels.size_t == -(-written // 2)
    assert not recovery.exists()
    yaozarrs.validate_zarr_store(str(root))
    ome_types.from_xml((root / "OME" / "METADATA.ome.xml").read_text())
