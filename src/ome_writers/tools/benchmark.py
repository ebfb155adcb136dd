"""Write-throughput benchmark of ome-writers, using only the public API.

Each measurement runs in its own process (so peak RSS belongs to one writer),
on pre-generated, realistic frames (structured background + shot noise). The
same bytes are also written directly with tensorstore, acquire-zarr and
tifffile ("raw" rows) and with one sequential file write per frame ("disk"),
so our overhead shows as a ratio. ``--compare PYTHON`` runs the same public-API
code under another interpreter, e.g. a virtual environment holding
ome-writers 0.3.2; ``--repeat N`` interleaves the rows N times (the raw
baselines after every repeat of the others) and reports medians, which is
what makes figures from a noisy machine comparable.

Scenarios (frame sizes before ``--quick``, which divides them by 8):

a. 200 frames 2048², chunk = frame, uncompressed
b. t4 c2 z16 of 1024², chunks (1, 1, 16, 256, 256): chunks span frames
c. 100 frames 2048², 512² chunks, one shard per frame
d. (a) with blosc-zstd
e. t10, 8 positions, c2 of 1024²
f. unbounded t, 500 frames of 512²
g. the demo camera through pymmcore-plus ``mda.run`` at its top rate, and its
   sequence acquisition drained zero-copy from the ring buffer
h. a 96-well plate, 4 fields per well (384 positions), c2 of 256²
p. (a) with a 4-level mean pyramid written while streaming; "÷flat" is its
   durable throughput over (a)'s with the same backend in the same run

Every writer row also reports the time `create_stream` took (the first stream
of the process, after ``import ome_writers`` and the backend's library, and the
median of five more) and the throughput from before `create_stream` to after
``os.sync()`` ("+create"), so fixed costs count. Our modules are byte-compiled
before the first row, as installing a wheel does (`compile_package`).

Object storage: ``--s3`` adds an "→ S3" row per OME-Zarr backend that writes
``s3://``, into a loopback S3 server (moto's server mode on 127.0.0.1, a
separate process; moto comes with the test extra); "÷local" is its durable
throughput over the same backend's local-disk row.

Latency under a camera's rate: ``--fps 100`` offers frames at 100 fps (as fast
as appends return otherwise) and counts appends that outlast a frame period;
``--paced 0.7`` offers them at 70 % of the plain sequential write measured for
the same scenario in the same repeat (a sustainable camera rate).

Usage: ``ome-writers bench [-s a b ...] [--repeat 3] [--compare PY] [--json]``
(or ``python -m ome_writers.benchmark``). The file also runs as a script under
an interpreter that has any ome-writers installed: that is how ``--compare``
measures other versions.

``--plot FILE.png`` also draws durable throughput and append-latency
distributions (`ome_writers.tools.plots`, the ``plot`` extra), after a run or
from rows saved with ``--json`` (``--load``). Each row keeps a sample of its
append latencies for that (``latencies_ms``, at most 2000 values), which the
tables leave out.
"""

from __future__ import annotations

import argparse
import importlib
import json
import math
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

RAW = ["tensorstore", "acquire-zarr", "tifffile"]  # libraries driven directly


def file_backends() -> list[str]:
    """Every registered backend that writes files (the registry's order).

    Read when the parent process needs it: as a ``--compare`` worker this file
    runs under other ome-writers versions, which have no such registry.
    """
    from ome_writers._registry import BACKENDS

    return [r.name for r in BACKENDS if r.writes_files]


DESCRIPTIONS = {
    "a": "200 frames 2048², chunk = frame, uncompressed",
    "b": "t4 c2 z16 1024², chunks (1,1,16,256,256)",
    "c": "100 frames 2048², 512² chunks, one shard per frame",
    "d": "(a) with blosc-zstd",
    "e": "t10 x 8 positions x c2, 1024²",
    "f": "unbounded t, 500 frames 512²",
    "g": "demo camera, mda.run at top rate",
    "h": "96-well plate x 4 fields x c2, 256²",
    "p": "(a) with a 4-level mean pyramid",
    "w": "unbounded t, 3000 frames 512², loss window 1 s (÷off: over n)",
    "n": "(w) without the loss window",
    "m": "unbounded t in chunks of 1024, 16² frames, 6 metadata keys per frame",
}
TIFF_SCENARIOS = "abefhpwnm"  # c and d differ from (a) only in chunks and blosc
OURS_ONLY = "pn"  # features no raw library row or older version has
#: frames of scenario m unless --metadata-frames says otherwise
METADATA_FRAMES = 10_000


def scenario(name: str, quick: bool = False) -> dict[str, Any]:
    """Plain-data description of a scenario (dimensions as keyword dicts)."""
    div = 8 if quick else 1

    def yx(
        size: int, chunk: int | None = None, shard: int | None = None
    ) -> list[dict[str, Any]]:
        size //= div
        chunk = chunk // div if chunk else None
        return [
            {"name": n, "count": size, "chunk_size": chunk, "shard_size_chunks": shard}
            for n in "yx"
        ]

    def t(count: int | None) -> dict[str, Any]:
        return {"name": "t", "count": count, "type": "time"}

    compression = None
    if name == "p":  # (a) plus a pyramid
        return {**scenario("a", quick), "name": "p", "pyramid": 4}
    if name in "ad":
        dims = [t(200 // (4 if quick else 1)), *yx(2048)]
        compression = "blosc-zstd" if name == "d" else None
    elif name == "b":
        dims = [
            t(4),
            {"name": "c", "count": 2, "type": "channel"},
            {"name": "z", "count": 16, "type": "space", "chunk_size": 16},
            *yx(1024, 256),
        ]
    elif name == "c":
        dims = [t(100 // (4 if quick else 1)), *yx(2048, 512, 2048 // 512)]
    elif name == "e":
        dims = [
            t(10),
            {"name": "p", "count": 8, "type": "position"},
            {"name": "c", "count": 2, "type": "channel"},
            *yx(1024),
        ]
    elif name in "fg":
        dims = [t(None), *yx(512)]
    elif name in "wn":
        return {
            **scenario("f", quick),
            "name": name,
            "frames": 3000 // (4 if quick else 1),
            **({"loss_window": None} if name == "n" else {}),
        }
    elif name == "m":
        return {
            "name": name,
            # 1024 frames per chunk: the figures are of the metadata, not of
            # a million chunk files
            "dims": [{**t(None), "chunk_size": 1024}, *yx(16 * div)],
            "compression": None,
            "frames": METADATA_FRAMES,
            "frame_shape": (16, 16),
            "frame_metadata": True,
        }
    elif name == "h":
        rows, columns, fields = "ABCDEFGH", range(1, 13), 4
        wells = [(r, str(c)) for r in rows for c in columns]
        positions = [
            {"name": f"fov{k}", "plate_row": r, "plate_column": c}
            for r, c in wells
            for k in range(fields)
        ]
        dims = [
            {"name": "p", "count": len(positions), "type": "position"},
            {"name": "c", "count": 2, "type": "channel"},
            *yx(256),
        ]
        plate = {"row_names": list(rows), "column_names": [str(c) for c in columns]}
        return {
            "name": name,
            "dims": dims,
            "compression": None,
            "frames": len(positions) * 2,
            "frame_shape": (int(dims[-2]["count"]), int(dims[-1]["count"])),
            "positions": positions,
            "plate": plate,
        }
    else:
        raise ValueError(f"unknown scenario {name!r}")
    frames = 500 // (4 if quick else 1) if name in "fg" else 1
    if name not in "fg":
        frames = math.prod(int(d["count"]) for d in dims[:-2])
    return {
        "name": name,
        "dims": dims,
        "compression": compression,
        "frames": frames,
        "frame_shape": (int(dims[-2]["count"]), int(dims[-1]["count"])),
    }


def make_frames(shape: tuple[int, int], n_unique: int = 8) -> list[np.ndarray]:
    """Structured, noisy uint16 frames (cycled during a run)."""
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0 : shape[0], 0 : shape[1]].astype("float32")
    base = 800 + 400 * np.sin(xx / shape[1] * 6) * np.cos(yy / shape[0] * 4)
    return [
        (base + rng.poisson(40, shape) + 10 * i).astype("uint16")
        for i in range(n_unique)
    ]


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


LATENCY_SAMPLE = 2000  # at most this many append latencies kept per row


def latency_sample(latencies_ms: Any, limit: int = LATENCY_SAMPLE) -> list[float]:
    """Append latencies (ms) small enough for JSON, to 4 significant digits.

    Up to `limit` values are kept as they are, in append order; more become
    `limit` evenly spaced quantiles of them, from the minimum to the maximum,
    so that the distribution, its tail and its maximum survive.
    """
    values = np.asarray(latencies_ms, dtype=float)
    if values.size > limit:
        values = np.quantile(values, np.linspace(0, 1, limit))
    return [float(f"{x:.4g}") for x in values]


def _timed_run(
    spec: dict[str, Any],
    append: Any,
    close: Any,
    create: Any = None,
) -> dict[str, Any]:
    """`create()` (timed), `append(i, frame)` for every frame, then `close()`.

    `create` returns the `(append, close)` pair when the two are only known
    after it (a stream); "+create" figures count from before it.
    """
    frames = make_frames(spec["frame_shape"])
    n = spec["frames"]
    period = 1 / spec["fps"] if spec.get("fps") else 0.0
    rss_setup = _peak_rss_mb()
    latencies = np.empty(n)
    late = 0
    os.sync()  # start from a clean page cache state
    began = time.perf_counter()
    if create is not None:
        append, close = create()
    start = time.perf_counter()
    for i in range(n):
        if period:  # a camera delivers frame i at start + i * period
            wait = start + i * period - time.perf_counter()
            if wait > 0:
                time.sleep(wait)
        t0 = time.perf_counter()
        append(i, frames[i % len(frames)])
        latencies[i] = time.perf_counter() - t0
        if period and latencies[i] > period:
            late += 1  # the camera's next frame arrived during this append
    appended = time.perf_counter()
    close()
    closed = time.perf_counter()
    os.sync()
    synced = time.perf_counter()
    gb = n * frames[0].nbytes / 1e9
    return {
        "frames": n,
        "gb": gb,
        "fps": n / (closed - start),
        "gbps_append": gb / (appended - start),
        "gbps_close": gb / (closed - start),
        "gbps_sync": gb / (synced - start),
        "gbps_total": gb / (synced - began),
        "create_ms": (start - began) * 1e3,
        "p50_ms": float(np.percentile(latencies, 50) * 1e3),
        "p99_ms": float(np.percentile(latencies, 99) * 1e3),
        "max_ms": float(latencies.max() * 1e3),
        "latencies_ms": latency_sample(latencies * 1e3),
        "close_s": closed - appended,
        "peak_rss_mb": _peak_rss_mb(),
        "rss_growth_mb": _peak_rss_mb() - rss_setup,
        **({"offered_fps": 1 / period, "late_frames": late} if period else {}),
    }


# ------------------------------------------------------------ our public API


def run_public_api(
    spec: dict[str, Any], backend: str, out: Path, s3_endpoint: str | None = None
) -> dict[str, Any]:
    """ome-writers (whichever version is installed) through its public API;
    into the bucket ``bench`` at `s3_endpoint` when given."""
    import ome_writers
    from ome_writers import AcquisitionSettings, Dimension, create_stream

    for module in spec.get("preload", ()):  # the backend's library: once a session
        try:
            importlib.import_module(module)
        except ImportError:  # another version may not use it (--compare)
            if not spec.get("preload_optional"):
                raise
    tiff = backend == "tifffile"
    dims = []
    for d in spec["dims"]:
        kwargs = {k: v for k, v in d.items() if v is not None}
        if tiff:  # TIFF has neither chunks nor shards
            kwargs.pop("chunk_size", None)
            kwargs.pop("shard_size_chunks", None)
        if kwargs.get("type") == "position" and spec.get("positions"):
            from ome_writers import Position

            kwargs["coords"] = [Position(**p) for p in spec["positions"]]
        dims.append(Dimension(**kwargs))
    extra: dict[str, Any] = {}
    if "loss_window" in spec:
        extra["loss_window"] = spec["loss_window"]
    if spec.get("pyramid"):
        extra["pyramid"] = spec["pyramid"]
    if spec.get("plate"):
        from ome_writers import Plate

        extra["plate"] = Plate(**spec["plate"])

    base = f"s3://{S3_BUCKET}/{backend}" if s3_endpoint else str(out)
    if s3_endpoint:
        os.environ.update(AWS_ENDPOINT_URL=s3_endpoint, **S3_CREDENTIALS)

    def settings_at(name: str) -> Any:
        return AcquisitionSettings(
            root_path=f"{base}/{name}.ome.tiff" if tiff else f"{base}/{name}.ome.zarr",
            format=backend,
            dimensions=dims,
            dtype="uint16",
            compression=spec["compression"],
            overwrite=True,
            **extra,
        )

    settings = settings_at("bench")

    def create() -> tuple[Any, Any]:
        stream = create_stream(settings)
        if spec.get("frame_metadata"):  # six keys, as a microscope records them
            return (
                lambda i, f: stream.append(
                    f,
                    frame_metadata={
                        "delta_t": i * 0.01,
                        "exposure_time": 0.01,
                        "position_x": 10.5,
                        "position_y": -3.25,
                        "position_z": 100.0 + i % 7,
                        "camera_temperature": -20.0,
                    },
                )
            ), stream.close
        return (lambda i, f: stream.append(f)), stream.close

    result = _timed_run(spec, None, None, create)
    result["version"] = ome_writers.__version__
    result["package"] = _our_package()
    # creation alone, once the process has made a stream: median of five
    warm = []
    for k in range(5):
        again = settings_at(f"create{k}")
        t0 = time.perf_counter()
        stream = create_stream(again)
        warm.append(time.perf_counter() - t0)
        stream.close()
    result["create_warm_ms"] = statistics.median(warm) * 1e3
    if s3_endpoint:  # the server keeps objects in memory: free them
        from ome_writers._io._object_store import resolve_s3

        resolve_s3(base + "/x").parent.remove_tree()
    return result


S3_BUCKET = "bench"
S3_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "bench",
    "AWS_SECRET_ACCESS_KEY": "bench-secret",
    "AWS_REGION": "us-east-1",
}


class LoopbackS3:
    """moto's S3 server in its own process on 127.0.0.1, with one bucket."""

    def __init__(self) -> None:
        import socket

        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        self.endpoint = f"http://127.0.0.1:{port}"
        self._process = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline or self._process.poll() is not None:
                    self.close()
                    raise RuntimeError("the loopback S3 server did not start") from None
                time.sleep(0.1)
        import urllib.request

        # path-style CreateBucket; moto accepts any credentials
        request = urllib.request.Request(f"{self.endpoint}/{S3_BUCKET}", method="PUT")
        urllib.request.urlopen(request, timeout=10).close()

    def close(self) -> None:
        self._process.terminate()
        self._process.wait(timeout=10)


# ------------------------------------------------------------ raw libraries


def _raw_layout(spec: dict[str, Any]) -> tuple[list[int], list[int], list[int]]:
    """Shape, chunk shape and shard shape of one array in acquisition order."""
    dims = spec["dims"]
    shape = [int(d["count"] or spec["frames"]) for d in dims]
    chunks = [
        int(d.get("chunk_size") or (n if i >= len(dims) - 2 else 1))
        for i, (d, n) in enumerate(zip(dims, shape, strict=True))
    ]
    shards = [
        c * int(d.get("shard_size_chunks") or 1)
        for d, c in zip(dims, chunks, strict=True)
    ]
    return shape, chunks, shards


def _frame_index(i: int, shape: list[int]) -> tuple[int, ...]:
    return tuple(int(x) for x in np.unravel_index(i, shape[:-2]))


def run_raw_tensorstore(spec: dict[str, Any], out: Path) -> dict[str, Any]:
    """Frames written directly with tensorstore (async, synced once at the end)."""
    import tensorstore as ts

    shape, chunks, shards = _raw_layout(spec)
    inner: list[dict[str, Any]] = [
        {"name": "bytes", "configuration": {"endian": "little"}}
    ]
    if spec["compression"] == "blosc-zstd":
        blosc = {"cname": "zstd", "clevel": 3, "shuffle": "shuffle"}
        inner.append({"name": "blosc", "configuration": blosc})
    codecs: list[dict[str, Any]] = inner
    grid = chunks
    if shards != chunks:
        grid = shards
        index = [inner[0], {"name": "crc32c"}]
        sharding = {"chunk_shape": chunks, "codecs": inner, "index_codecs": index}
        codecs = [{"name": "sharding_indexed", "configuration": sharding}]
    array = ts.open(
        {
            "driver": "zarr3",
            "kvstore": {"driver": "file", "path": str(out / "raw.zarr")},
            "metadata": {
                "shape": shape,
                "chunk_grid": {
                    "name": "regular",
                    "configuration": {"chunk_shape": grid},
                },
                "codecs": codecs,
                "data_type": "uint16",
            },
            "create": True,
            "delete_existing": True,
        },
        context=ts.Context({"file_io_sync": False}),
    ).result()
    pending: list[Any] = []

    def append(i: int, frame: np.ndarray) -> None:
        futures = array[_frame_index(i, shape)].write(frame)
        futures.copy.result()
        pending.append(futures.commit)

    def close() -> None:
        for future in pending:
            future.result()

    return _timed_run(spec, append, close)


def run_raw_acquire_zarr(spec: dict[str, Any], out: Path) -> dict[str, Any]:
    """Frames streamed directly with acquire-zarr."""
    import acquire_zarr as az

    shape, chunks, shards = _raw_layout(spec)
    kinds = {"time": az.DimensionType.TIME, "channel": az.DimensionType.CHANNEL}
    dims = []
    for i, d in enumerate(spec["dims"]):
        kind = kinds.get(d.get("type"), az.DimensionType.OTHER)
        if i >= len(shape) - 2 or d.get("type") == "space":
            kind = az.DimensionType.SPACE
        dims.append(
            az.Dimension(
                name=d["name"],
                kind=kind,
                array_size_px=int(d["count"] or 0),
                chunk_size_px=chunks[i],
                shard_size_chunks=shards[i] // chunks[i],
            )
        )
    kwargs: dict[str, Any] = {"dimensions": dims, "data_type": az.DataType.UINT16}
    if spec["compression"] == "blosc-zstd":
        kwargs["compression"] = az.CompressionSettings(
            compressor=az.Compressor.BLOSC1,
            codec=az.CompressionCodec.BLOSC_ZSTD,
            level=3,
            shuffle=1,
        )
    stream = az.ZarrStream(
        az.StreamSettings(
            store_path=str(out / "raw.zarr"), arrays=[az.ArraySettings(**kwargs)]
        )
    )
    return _timed_run(spec, lambda i, f: stream.append(f), stream.close)


def run_raw_tifffile(spec: dict[str, Any], out: Path) -> dict[str, Any]:
    """Frames written directly with tifffile, one BigTIFF page each."""
    import tifffile

    tif = tifffile.TiffWriter(out / "raw.tif", bigtiff=True)

    def append(i: int, frame: np.ndarray) -> None:
        tif.write(frame, contiguous=True, photometric="minisblack", metadata=None)

    def close() -> None:
        tif.close()
        with open(out / "raw.tif", "rb+") as fh:
            os.fsync(fh.fileno())

    return _timed_run(spec, append, close)


def run_disk(spec: dict[str, Any], out: Path) -> dict[str, Any]:
    """The same bytes with one sequential file write per frame: the disk limit."""
    fh = open(out / "plain.raw", "wb")  # noqa: SIM115

    def close() -> None:
        fh.close()

    return _timed_run(spec, lambda i, f: fh.write(f.data), close)


# ------------------------------------------------------------ the demo camera


def run_camera(spec: dict[str, Any], out: Path) -> dict[str, Any]:
    """Scenario g: mda.run with and without output, and a zero-copy drain."""
    from useq import MDASequence

    from ome_writers import AcquisitionSettings, Dimension, create_stream
    from ome_writers.adapters.demo_camera import demo_core
    from ome_writers.adapters.pymmcore_plus import stream_sequence_acquisition

    n = spec["frames"]
    height, width = spec["frame_shape"]
    core = demo_core(width=width, height=height, exposure_ms=0)
    sequence = MDASequence(time_plan={"interval": 0, "loops": n})
    start = time.perf_counter()
    core.mda.run(sequence)
    mda_alone = n / (time.perf_counter() - start)
    start = time.perf_counter()
    core.mda.run(sequence, output=str(out / "mda.ome.zarr"))
    mda_fps = n / (time.perf_counter() - start)

    start = time.perf_counter()
    core.startSequenceAcquisition(n, 0, False)
    while core.isSequenceRunning():
        time.sleep(0.001)
    camera_fps = n / (time.perf_counter() - start)
    core.clearCircularBuffer()
    settings = AcquisitionSettings(
        root_path=str(out / "camera.ome.zarr"),
        dimensions=[
            Dimension(name="t", count=n, type="time"),
            Dimension(name="y", count=height),
            Dimension(name="x", count=width),
        ],
        dtype="uint16",
    )
    stream = create_stream(settings)
    stats = stream_sequence_acquisition(core, stream, n)
    stream.close()
    gb = n * height * width * 2 / 1e9
    return {
        "frames": n,
        "gb": gb,
        "fps": mda_fps,
        "mda_alone_fps": mda_alone,
        "camera_fps": camera_fps,
        "drain_fps": stats.fps,
        "gbps_append": gb * stats.fps / n,
        "max_frames_buffered": stats.max_frames_buffered,
        "buffer_capacity_frames": core.getBufferTotalCapacity(),
        "zero_copy": stats.zero_copy,
        "peak_rss_mb": _peak_rss_mb(),
    }


# ------------------------------------------------------------ orchestration


def _worker(job: dict[str, Any]) -> dict[str, Any]:
    spec = scenario(job["scenario"], job["quick"])
    if job.get("metadata_frames") and spec.get("frame_metadata"):
        spec["frames"] = job["metadata_frames"]
    spec["fps"] = job.get("fps")
    spec["preload"] = job.get("preload", [])
    # our backend's requirements, which the compared version may not have
    spec["preload_optional"] = job["target"].startswith("other:")
    out = Path(tempfile.mkdtemp(prefix="ome-writers-bench-", dir=job["dir"]))
    try:
        kind, _, backend = job["target"].partition(":")
        if kind == "disk":
            return run_disk(spec, out)
        if kind == "camera":
            return run_camera(spec, out)
        if kind == "raw":
            runner = {
                "tensorstore": run_raw_tensorstore,
                "acquire-zarr": run_raw_acquire_zarr,
                "tifffile": run_raw_tifffile,
            }[backend]
            return runner(spec, out)
        if kind == "s3":
            return run_public_api(spec, backend, out, s3_endpoint=job["s3"])
        return run_public_api(spec, backend, out)
    finally:
        shutil.rmtree(out, ignore_errors=True)


def targets_for(
    name: str,
    backends: list[str],
    raw: bool,
    compare: str | None,
    s3: bool = False,
) -> list[str]:
    """Rows of one scenario: ``disk``, then ``ours:<b>``, ``s3:<b>``,
    ``other:<b>`` per backend, then ``raw:<lib>`` (which `_run_plan` runs
    after every repeat of the others)."""
    from ome_writers._registry import BY_NAME

    if name == "g":
        return ["camera"]

    def applies(backend: str) -> bool:
        return backend != "tifffile" or name in TIFF_SCENARIOS

    rows = ["disk"]
    for backend in backends:
        if applies(backend):
            rows.append(f"ours:{backend}")
            if s3 and "s3" in BY_NAME[backend].url_schemes:
                rows.append(f"s3:{backend}")
            if compare and name not in OURS_ONLY:
                rows.append(f"other:{backend}")
    if raw and name not in OURS_ONLY:
        rows += [f"raw:{lib}" for lib in RAW if applies(lib)]
    return rows


#: ``--compare self``: the compared rows run this code again, so that their
#: ratios show how far identical code moves on this machine (the noise band)
SELF = "self"


def _run_job(
    job: dict[str, Any], compare: str | None, timeout: float
) -> dict[str, Any]:
    python = sys.executable
    env = None
    other = bool(compare) and job["target"].startswith("other:")
    itself = compare in (SELF, sys.executable)  # this very code, compared
    if other and not itself:
        assert compare is not None
        python = compare
        # the compared interpreter imports its own ome-writers, not one on
        # our PYTHONPATH (a source checkout run with PYTHONPATH=src)
        env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    cmd = [python, os.path.abspath(__file__), "--worker", json.dumps(job)]
    try:
        proc = subprocess.run(
            cmd, capture_output=True, text=True, check=False, timeout=timeout, env=env
        )
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {timeout:.0f} s"}
    if proc.returncode:
        lines = proc.stderr.strip().splitlines() or ["(no output)"]
        return {"error": lines[-1][:200]}
    result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    if other and not itself and result.get("package") == _our_package():
        # another interpreter that found this package: not a comparison
        return {"error": f"{compare} imported this ome-writers, not its own"}
    return result


def _our_package() -> str:
    """Directory of the ome-writers this interpreter imports."""
    import ome_writers

    return str(Path(ome_writers.__file__).resolve().parent)


# kept per repeat as well as their median (None for a repeat that failed), so
# that ratios can pair the rows of one repeat, which ran back to back
EACH_REPEAT = ("gbps_sync", "gbps_total", "p99_ms", "late_frames")


def _median(runs: list[dict[str, Any]]) -> dict[str, Any]:
    ok = [r for r in runs if "error" not in r]
    if not ok:
        return {"error": runs[-1]["error"], "repeats": 0}
    merged: dict[str, Any] = {"repeats": len(ok)}
    for key, value in ok[0].items():
        if key == "latencies_ms":  # every repeat's appends, one distribution
            merged[key] = latency_sample([x for r in ok for x in r.get(key, [])])
        elif isinstance(value, bool) or not isinstance(value, int | float):
            merged[key] = value
        else:
            merged[key] = statistics.median(r[key] for r in ok)
    merged["each_repeat"] = {
        key: [None if "error" in r else r.get(key) for r in runs] for key in EACH_REPEAT
    }
    if any("late_frames" in r for r in ok):  # paced: a median can hide a repeat
        merged["late_worst"] = max(r.get("late_frames", 0) for r in ok)
        merged["p99_worst_ms"] = max(r["p99_ms"] for r in ok)
    return merged


def _each_repeat_ratios(
    row: dict[str, Any], other: dict[str, Any], key: str
) -> list[float]:
    """`row`'s `key` over `other`'s, repeat by repeat (both measured)."""
    mine = row.get("each_repeat", {}).get(key, [])
    theirs = other.get("each_repeat", {}).get(key, [])
    return [a / b for a, b in zip(mine, theirs, strict=False) if a and b]


def compile_package() -> None:
    """Byte-compile ome-writers' modules once, as installing a wheel does.

    From a source checkout (an editable install) with PYTHONDONTWRITEBYTECODE
    set, each worker would otherwise compile every module of ours it imports,
    which an installed package never does (and a version compared against was
    installed from a wheel, compiled); the first `create_stream` of a worker
    then measured up to 50 ms of compiling.
    """
    import compileall

    compileall.compile_dir(_our_package(), quiet=2)


def run(args: argparse.Namespace) -> list[dict[str, Any]]:
    """Every (scenario, row) `args.repeat` times, interleaved; median rows."""
    compile_package()
    plan = [
        (name, target)
        for name in args.scenarios
        for target in targets_for(
            name, args.backends, not args.no_raw, args.compare, args.s3
        )
    ]
    server = LoopbackS3() if args.s3 else None
    try:
        return _run_plan(args, plan, server.endpoint if server else None)
    finally:
        if server is not None:
            server.close()


def _run_plan(
    args: argparse.Namespace, plan: list[tuple[str, str]], s3_endpoint: str | None
) -> list[dict[str, Any]]:
    """Run `plan` `args.repeat` times: every repeat of the compared rows (the
    plain write first), then every repeat of the raw baselines.

    The baselines run apart: raw tensorstore writes (b) by read-modify-write
    (about 4 GB for 0.27 GB of frames), and the runs after it were slow for
    seconds, also past the next plain write; in (b) that decided which
    version of a pair won (benchmarks/results/history.md, "The raw baselines
    run apart"). A paced baseline uses the plain write of its own repeat.
    """
    runs: dict[tuple[str, str], list[dict[str, Any]]] = {key: [] for key in plan}
    compared = [row for row in plan if not row[1].startswith("raw:")]
    baselines = [row for row in plan if row[1].startswith("raw:")]
    plain_fps: list[dict[str, float]] = []  # durable plain-write rate, per repeat
    for repeat in range(args.repeat):
        plain_fps.append({})
        for name, target in run_order(compared, repeat):
            _run_row(args, name, target, repeat, plain_fps[repeat], runs, s3_endpoint)
    for repeat in range(args.repeat):
        for name, target in baselines:
            _run_row(args, name, target, repeat, plain_fps[repeat], runs, s3_endpoint)
    rows = []
    for (name, target), results in runs.items():
        row = _median(results)
        row.update(scenario=name, target=target)
        rows.append(row)
    _add_ratios(rows)
    return rows


def _run_row(
    args: argparse.Namespace,
    name: str,
    target: str,
    repeat: int,
    plain: dict[str, float],
    runs: dict[tuple[str, str], list[dict[str, Any]]],
    s3_endpoint: str | None,
) -> None:
    """Run one row of one repeat; keep its result (and, in `plain`, the
    repeat's plain-write rate of the scenario)."""
    from ome_writers._registry import BY_NAME

    fps = args.fps
    if args.paced and target != "disk" and name in plain:
        fps = args.paced * plain[name]
    backend = target.partition(":")[2]
    record = BY_NAME.get(backend)
    job = {
        "scenario": name,
        "target": target,
        "quick": args.quick,
        "dir": args.dir,
        "fps": fps,
        "preload": list(record.requires) if record else [],
        "s3": s3_endpoint,
        "metadata_frames": getattr(args, "metadata_frames", None),
    }
    result = _run_job(job, args.compare, args.timeout)
    runs[name, target].append(result)
    if target == "disk" and result.get("gbps_sync"):
        plain[name] = result["gbps_sync"] / result["gb"] * result["frames"]
    if not args.quiet:
        state = result.get("error") or f"{result.get('fps', 0):.1f} fps"
        print(
            f"  [{repeat + 1}/{args.repeat}] {name} {target}: {state}",
            file=sys.stderr,
        )


def run_order(plan: list[tuple[str, str]], repeat: int) -> list[tuple[str, str]]:
    """`plan` as run in repeat `repeat`: in every other repeat the compared
    version of a backend runs before ours instead of right after it.

    A run's throughput depends on the run just before it on this kind of
    machine: identical code in both places gave "ours" 1.1-2.4 times the
    "+create" throughput of the compared copy that always ran second
    (benchmarks/results/history.md, "The order of the rows"). Alternating the
    order puts each version first equally often; an even `--repeat` balances
    it.
    """
    if repeat % 2 == 0:
        return list(plan)
    order = list(plan)
    for name, target in plan:
        kind, _, backend = target.partition(":")
        if kind == "other":
            j = order.index((name, f"ours:{backend}"))
            k = order.index((name, target))
            order.insert(j, order.pop(k))
    return order


def _add_ratios(rows: list[dict[str, Any]]) -> None:
    """Durable throughput relative to the disk row and to the compared version."""
    by_key = {(r["scenario"], r["target"]): r for r in rows}
    for row in rows:
        if "gbps_sync" not in row:
            continue
        disk = by_key.get((row["scenario"], "disk"), {})
        if disk.get("gbps_sync"):
            row["vs_disk"] = row["gbps_sync"] / disk["gbps_sync"]
        kind, _, backend = row["target"].partition(":")
        other = by_key.get((row["scenario"], f"other:{backend}"), {})
        if kind == "ours" and other.get("gbps_sync"):
            row["vs_other_sync"] = row["gbps_sync"] / other["gbps_sync"]
            row["vs_other_close"] = row["gbps_close"] / other["gbps_close"]
            if row.get("gbps_total") and other.get("gbps_total"):
                row["vs_other_total"] = row["gbps_total"] / other["gbps_total"]
            each = _each_repeat_ratios(row, other, "gbps_total")
            if each:
                row["vs_other_total_each"] = each
                # pairs of one repeat ran back to back: the machine's drift
                # between repeats cancels in their ratios
                row["vs_other_total_paired"] = statistics.geometric_mean(each)
        flat = by_key.get(("a", row["target"]), {})
        if row["scenario"] == "p" and kind == "ours" and flat.get("gbps_sync"):
            row["vs_flat"] = row["gbps_sync"] / flat["gbps_sync"]
        off = by_key.get(("n", row["target"]), {})
        if row["scenario"] == "w" and kind == "ours" and off.get("fps"):
            row["vs_window_off"] = row["fps"] / off["fps"]
        local = by_key.get((row["scenario"], f"ours:{backend}"), {})
        if kind == "s3" and local.get("gbps_sync"):
            row["vs_local"] = row["gbps_sync"] / local["gbps_sync"]
        raw = by_key.get((row["scenario"], f"raw:{backend}"), {})
        if kind == "ours" and raw.get("gbps_sync"):
            row["vs_raw"] = row["gbps_sync"] / raw["gbps_sync"]


COLUMNS = [
    ("fps", "fps", "{:.1f}"),
    ("gbps_append", "GB/s append", "{:.2f}"),
    ("gbps_close", "GB/s +close", "{:.2f}"),
    ("gbps_sync", "GB/s +sync", "{:.2f}"),
    ("gbps_total", "+create", "{:.2f}"),
    ("create_ms", "create ms", "{:.0f}"),
    ("create_warm_ms", "again ms", "{:.1f}"),
    ("p50_ms", "p50 ms", "{:.2f}"),
    ("p99_ms", "p99 ms", "{:.2f}"),
    ("max_ms", "max ms", "{:.1f}"),
    ("close_s", "close s", "{:.2f}"),
    ("peak_rss_mb", "RSS MB", "{:.0f}"),
    ("late_frames", "late", "{:.0f}"),
    ("late_worst", "late worst", "{:.0f}"),
    ("p99_worst_ms", "p99 worst", "{:.2f}"),
    ("vs_disk", "÷disk", "{:.2f}"),
    ("vs_raw", "÷raw", "{:.2f}"),
    ("vs_flat", "÷flat", "{:.2f}"),
    ("vs_window_off", "÷off", "{:.2f}"),
    ("vs_local", "÷local", "{:.2f}"),
    ("vs_other_sync", "÷other", "{:.2f}"),
    ("vs_other_total", "÷other +create", "{:.2f}"),
    ("vs_other_total_paired", "÷other paired", "{:.2f}"),
]


def _label(row: dict[str, Any]) -> str:
    kind, _, backend = row["target"].partition(":")
    version = row.get("version", "")
    if kind in ("ours", "other"):
        return f"{backend} {version}".strip()
    if kind == "raw":
        return f"raw {backend}"
    if kind == "s3":
        return f"{backend} → S3 (loopback)"
    return "plain write" if kind == "disk" else kind


def render(rows: list[dict[str, Any]]) -> str:
    """The rows as one text table per scenario."""
    lines = []
    for name in dict.fromkeys(r["scenario"] for r in rows):
        lines.append(f"\n{_title(rows, name)}")
        for row in (r for r in rows if r["scenario"] == name):
            if "error" in row:
                lines.append(f"  {_label(row):<26} failed: {row['error']}")
            elif row["target"] == "camera":
                lines.append(f"  {_camera_line(row)}")
        table = [r for r in rows if r["scenario"] == name and "gbps_sync" in r]
        if not table:
            continue
        header = [f"{'':<26}"] + [f"{title:>11}" for _, title, _ in COLUMNS]
        lines.append(" ".join(header))
        for row in table:
            cells = [f"{_label(row):<26}", *(f"{c:>11}" for c in _cells(row))]
            lines.append(" ".join(cells))
    return "\n".join(lines)


def _title(rows: list[dict[str, Any]], name: str) -> str:
    offered = [
        r["offered_fps"] for r in rows if r["scenario"] == name and "offered_fps" in r
    ]
    paced = offered[0] if offered else None
    rate = f", frames offered at {paced:.0f} fps" if paced else ""
    return f"scenario {name}: {DESCRIPTIONS[name]}{rate}"


def _cells(
    row: dict[str, Any], columns: list[tuple[str, str, str]] = COLUMNS
) -> list[str]:
    """The row's `columns`, formatted ("" where it has no value)."""
    return [
        fmt.format(row[key]) if row.get(key) is not None else ""
        for key, _, fmt in columns
    ]


def print_rich(rows: list[dict[str, Any]]) -> bool:
    """Print the rows as rich tables; False when rich is not installed."""
    try:
        from rich.console import Console
        from rich.table import Table
    except ImportError:
        return False
    console = Console(width=None if sys.stdout.isatty() else 200)
    for name in dict.fromkeys(r["scenario"] for r in rows):
        table = Table(title=_title(rows, name))
        table.add_column("")
        scenario_rows = [r for r in rows if r["scenario"] == name]
        # only the columns some row of this table has (narrower tables)
        columns = [
            c for c in COLUMNS if any(r.get(c[0]) is not None for r in scenario_rows)
        ]
        for _, title, _ in columns:
            table.add_column(title, justify="right")
        for row in scenario_rows:
            if "error" in row:
                console.print(f"{_label(row)} failed: {row['error']}")
            elif row["target"] == "camera":
                console.print(_camera_line(row))
            else:
                table.add_row(_label(row), *_cells(row, columns))
        if table.row_count:
            console.print(table)
    return True


def _camera_line(row: dict[str, Any]) -> str:
    return (
        f"mda.run -> OME-Zarr {row['fps']:.0f} fps (mda.run alone "
        f"{row['mda_alone_fps']:.0f}); sequence acquisition drained "
        f"zero-copy={row['zero_copy']} at {row['drain_fps']:.0f} fps "
        f"(camera alone {row['camera_fps']:.0f}), at most "
        f"{row['max_frames_buffered']:.0f} of "
        f"{row['buffer_capacity_frames']:.0f} buffer slots used"
    )


def _pair(row: dict[str, Any] | None, first: str, second: str, fmt: str) -> str:
    if not row or first not in row:
        return ""
    return f"{fmt.format(row[first])} / {fmt.format(row[second])}"


def _triple(row: dict[str, Any] | None, keys: tuple[str, ...], fmt: str) -> str:
    if not row or any(k not in row for k in keys):
        return ""
    return " / ".join(fmt.format(row[k]) for k in keys)


def render_markdown(rows: list[dict[str, Any]]) -> str:
    """Side by side per scenario and backend: ours, the compared version, raw, disk."""
    by_key = {(r["scenario"], r["target"]): r for r in rows if "gbps_sync" in r}
    other_version = next(
        (r.get("version", "") for r in rows if r["target"].startswith("other:")), ""
    )
    other = f"{other_version or 'other'}"
    speeds = ("gbps_close", "gbps_sync", "gbps_total")
    create = ("create_ms", "create_warm_ms")
    lines = [
        f"| scenario | backend | ours GB/s (+close / +sync / +create) | {other} GB/s "
        f"(+close / +sync / +create) | ours ÷ {other} (+sync / +create) "
        f"| raw library GB/s (+sync) | ours create ms (first / again) "
        f"| {other} create ms (first / again) | ours p50 / p99 ms "
        f"| {other} p50 / p99 ms | ours RSS MB | {other} RSS MB "
        f"| ours ÷ {other} +create, each repeat (geometric mean) |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: "
        "| ---: | ---: |",
    ]
    for name in dict.fromkeys(r["scenario"] for r in rows):
        disk = by_key.get((name, "disk"))
        if disk:
            plain = _pair(disk, "gbps_close", "gbps_sync", "{:.2f}")
            lines.append(f"| {name} | plain write | {plain} | | | | | | | | | | |")
        for backend in file_backends():
            ours = by_key.get((name, f"ours:{backend}"))
            theirs = by_key.get((name, f"other:{backend}"))
            raw = by_key.get((name, f"raw:{backend}"))
            if not ours and not theirs:
                continue
            cells = [
                name,
                backend,
                _triple(ours, speeds, "{:.2f}"),
                _triple(theirs, speeds, "{:.2f}"),
                _triple(ours, ("vs_other_sync", "vs_other_total"), "{:.2f}"),
                f"{raw['gbps_sync']:.2f}" if raw else "",
                _triple(ours, create, "{:.0f}"),
                _triple(theirs, create, "{:.0f}"),
                _pair(ours, "p50_ms", "p99_ms", "{:.1f}"),
                _pair(theirs, "p50_ms", "p99_ms", "{:.1f}"),
                f"{ours['peak_rss_mb']:.0f}" if ours else "",
                f"{theirs['peak_rss_mb']:.0f}" if theirs else "",
                _each_repeat_cell(ours),
            ]
            lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _each_repeat_cell(ours: dict[str, Any] | None) -> str:
    """``r1 / r2 / ... (geometric mean)`` of the per-repeat ratios."""
    if not ours or not ours.get("vs_other_total_each"):
        return ""
    cell = " / ".join(f"{x:.2f}" for x in ours["vs_other_total_each"])
    return f"{cell} ({ours['vs_other_total_paired']:.2f})"


def dumps_rows(rows: list[dict[str, Any]]) -> str:
    """The rows as JSON, one key per line (a latency sample on one line)."""
    if not rows:
        return "[]"
    items = [
        " {\n"
        + ",\n".join(f"  {json.dumps(k)}: {json.dumps(v)}" for k, v in row.items())
        + "\n }"
        for row in rows
    ]
    return "[\n" + ",\n".join(items) + "\n]"


def build_parser() -> argparse.ArgumentParser:
    """Arguments of ``ome-writers bench``."""
    parser = argparse.ArgumentParser(
        prog="ome-writers bench", description=__doc__.splitlines()[0]
    )
    parser.add_argument(
        "-s",
        "--scenarios",
        nargs="+",
        default=list(DESCRIPTIONS),
        choices=list(DESCRIPTIONS),
    )
    backends = file_backends()
    parser.add_argument("--backends", nargs="+", default=backends, choices=backends)
    parser.add_argument(
        "--repeat",
        type=int,
        default=1,
        help="interleaved repeats (the raw baselines run after all of them); "
        "with --compare the compared version runs first in every other one "
        "(use an even number)",
    )
    parser.add_argument(
        "--compare",
        metavar="PYTHON",
        help="interpreter with another ome-writers; 'self' runs this code "
        "again (how far identical code moves on this machine)",
    )
    parser.add_argument("--no-raw", action="store_true", help="skip raw baselines")
    parser.add_argument("--quick", action="store_true", help="frames 8x smaller")
    parser.add_argument(
        "--fps",
        type=float,
        default=None,
        help="offer frames at this rate, like a camera (default: as fast as "
        "appends return); 'late' counts appends longer than one frame period",
    )
    parser.add_argument(
        "--paced",
        type=float,
        default=None,
        metavar="FRACTION",
        help="offer frames at FRACTION of the plain sequential write rate "
        "(with sync) measured for the scenario in the same repeat, e.g. 0.7",
    )
    parser.add_argument(
        "--s3",
        action="store_true",
        help="also write each OME-Zarr backend's rows into a loopback S3 server "
        "(moto, from the test extra)",
    )
    parser.add_argument(
        "--metadata-frames",
        type=int,
        default=None,
        metavar="N",
        help=f"frames of scenario m (default {METADATA_FRAMES:,})",
    )
    parser.add_argument("--dir", default=None, help="where to write (default: tmp)")
    parser.add_argument("--timeout", type=float, default=900, help="seconds per run")
    parser.add_argument("--json", action="store_true", help="print JSON rows only")
    parser.add_argument(
        "--markdown",
        action="store_true",
        help="print one Markdown table: ours beside --compare, raw and disk",
    )
    parser.add_argument(
        "--plain", action="store_true", help="plain text tables (default: rich)"
    )
    parser.add_argument(
        "--load",
        metavar="JSON",
        help="render rows saved with --json instead of running",
    )
    parser.add_argument(
        "--plot",
        metavar="FILE.png",
        help="also draw durable throughput and append latency per scenario and "
        "backend into an image (needs matplotlib: the 'plot' extra)",
    )
    parser.add_argument(
        "-q", "--quiet", action="store_true", help="no progress lines on stderr"
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; print a table (or JSON rows), and draw it with --plot."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.plot:  # before a long run, not after it
        from ome_writers.tools.plots import require_matplotlib

        try:
            require_matplotlib()
        except ImportError as exc:
            parser.error(str(exc))
    if args.load:
        rows = [
            row
            for row in json.loads(Path(args.load).read_text())
            if row["scenario"] in args.scenarios
            and row["target"].partition(":")[2] in ("", *args.backends)
        ]
        _add_ratios(rows)  # rows saved by an earlier version lack newer ratios
    else:
        rows = run(args)
    if args.json:
        print(dumps_rows(rows))
    elif args.markdown:
        print(render_markdown(rows))
    elif args.plain or not print_rich(rows):
        print(render(rows))
    status = 0 if all("error" not in r for r in rows) else 1
    if args.plot:
        from ome_writers.tools.plots import plot_benchmark

        titles = {r["scenario"]: _title(rows, r["scenario"]) for r in rows}
        try:
            plot_benchmark(rows, args.plot, titles=titles)
        except ValueError as exc:  # nothing to draw
            print(f"--plot: {exc}", file=sys.stderr)
            return 1
        if not args.quiet:
            print(f"plot written to {args.plot}", file=sys.stderr)
    return status


if __name__ == "__main__":
    if "--worker" in sys.argv:
        # run as a script under any interpreter: never import this directory's
        # modules in place of the installed package
        here = os.path.dirname(os.path.abspath(__file__))
        sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != here]
        print(json.dumps(_worker(json.loads(sys.argv[sys.argv.index("--worker") + 1]))))
    else:
        sys.exit(main())
