"""Throughput of ome-writers backends, using only the public API.

Runs each backend in its own process (so peak RSS is per backend) on
pre-generated, realistic frames (structured background + noise) and prints
frames/s, GB/s (appends only, including close, and including an os.sync()
after close), append latency percentiles, close time and peak RSS. A plain
sequential file write of the same bytes is the disk baseline.

    python tools/benchmark.py                       # scenario a: 200 x 2048x2048
    python tools/benchmark.py --frames 50 --size 1024 --json
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

BACKENDS = ["tensorstore", "zarr-python", "zarrs-python", "acquire-zarr", "tifffile"]


def make_frames(n_unique: int, size: int) -> list[np.ndarray]:
    """Structured, noisy uint16 frames (cycled during the run)."""
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:size, 0:size].astype("float32")
    base = 800 + 400 * np.sin(xx / size * 6) * np.cos(yy / size * 4)
    return [
        (base + rng.poisson(40, (size, size)) + 10 * i).astype("uint16")
        for i in range(n_unique)
    ]


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def scenario_dims(scenario: str, frames: int, size: int) -> tuple[list, str | None]:
    """Dimensions (acquisition order) and compression of a named scenario.

    a: `frames` frames of size², chunk = frame     d: (a) with blosc-zstd
    b: t4 c2 z16 of size², chunks (1, 1, 16, 256, 256)
    c: `frames` frames of size², 512² chunks, one shard per frame
    e: t10 x 8 positions x c2 of size²            f: unbounded t, `frames` frames
    """
    from ome_writers import Dimension

    def yx(chunk: int | None = None, shard: int | None = None) -> list:
        return [
            Dimension(name=n, count=size, chunk_size=chunk, shard_size_chunks=shard)
            for n in "yx"
        ]

    t = Dimension(name="t", count=frames, type="time")
    if scenario in ("a", "d"):
        return [t, *yx()], "blosc-zstd" if scenario == "d" else None
    if scenario == "b":
        return [
            Dimension(name="t", count=4, type="time"),
            Dimension(name="c", count=2, type="channel"),
            Dimension(name="z", count=16, type="space", chunk_size=16),
            *yx(256),
        ], None
    if scenario == "c":
        return [t, *yx(512, max(1, size // 512))], None
    if scenario == "e":
        return [
            Dimension(name="t", count=10, type="time"),
            Dimension(name="p", type="position", count=8),
            Dimension(name="c", count=2, type="channel"),
            *yx(),
        ], None
    if scenario == "f":
        return [Dimension(name="t", count=None, type="time"), *yx()], None
    raise ValueError(f"unknown scenario {scenario!r}")


def run_backend(
    backend: str,
    frames: int,
    size: int,
    out: Path,
    compression: str | None,
    scenario: str = "a",
) -> dict:
    """One backend: append every frame of a scenario, close, sync; the figures."""
    from ome_writers import AcquisitionSettings, create_stream

    data = make_frames(8, size)
    rss_before = _peak_rss_mb()
    suffix = ".ome.tiff" if backend == "tifffile" else ".ome.zarr"
    dims, default_compression = scenario_dims(scenario, frames, size)
    if backend == "tifffile":  # no chunks, shards or blosc in TIFF
        dims = [
            d.model_copy(update={"chunk_size": None, "shard_size_chunks": None})
            for d in dims
        ]
        default_compression = "zlib" if default_compression else None
    settings = AcquisitionSettings(
        root_path=str(out / f"bench{suffix}"),
        format=backend,
        dimensions=dims,
        dtype="uint16",
        compression=compression or default_compression,
        overwrite=True,
    )
    frames = settings.num_frames or frames
    latencies = np.empty(frames)
    stream = create_stream(settings)
    start = time.perf_counter()
    for i in range(frames):
        t0 = time.perf_counter()
        stream.append(data[i % len(data)])
        latencies[i] = time.perf_counter() - t0
    appended = time.perf_counter()
    stream.close()
    closed = time.perf_counter()
    os.sync()
    synced = time.perf_counter()
    gb = frames * size * size * 2 / 1e9
    return {
        "backend": backend,
        "scenario": scenario,
        "frames": frames,
        "fps": frames / (closed - start),
        "gbps_append": gb / (appended - start),
        "gbps_close": gb / (closed - start),
        "gbps_sync": gb / (synced - start),
        "p50_ms": float(np.percentile(latencies, 50) * 1e3),
        "p99_ms": float(np.percentile(latencies, 99) * 1e3),
        "max_ms": float(latencies.max() * 1e3),
        "close_s": closed - appended,
        "peak_rss_mb": _peak_rss_mb(),
        "rss_growth_mb": _peak_rss_mb() - rss_before,
    }


def run_disk(frames: int, size: int, out: Path) -> dict:
    """The same bytes written with one sequential file write per frame."""
    data = make_frames(8, size)
    path = out / "plain.raw"
    start = time.perf_counter()
    with open(path, "wb") as fh:
        for i in range(frames):
            fh.write(data[i % len(data)].data)
    closed = time.perf_counter()
    os.sync()
    synced = time.perf_counter()
    gb = frames * size * size * 2 / 1e9
    return {
        "backend": "disk (plain write)",
        "frames": frames,
        "fps": frames / (closed - start),
        "gbps_append": gb / (closed - start),
        "gbps_close": gb / (closed - start),
        "gbps_sync": gb / (synced - start),
        "p50_ms": float("nan"),
        "p99_ms": float("nan"),
        "max_ms": float("nan"),
        "close_s": 0.0,
        "peak_rss_mb": _peak_rss_mb(),
        "rss_growth_mb": 0.0,
    }


def run_camera(frames: int, size: int, out: Path) -> dict:
    """The demo camera at its top rate, drained from its ring buffer into a stream."""
    from ome_writers import AcquisitionSettings, Dimension, create_stream
    from ome_writers.adapters.demo_camera import demo_core
    from ome_writers.adapters.pymmcore_plus import stream_sequence_acquisition

    core = demo_core(width=size, height=size, exposure_ms=0)
    settings = AcquisitionSettings(
        root_path=str(out / "camera.ome.zarr"),
        dimensions=[
            Dimension(name="t", count=frames, type="time"),
            Dimension(name="y", count=size),
            Dimension(name="x", count=size),
        ],
        dtype="uint16",
    )
    # the camera alone: how fast it produces frames when nothing consumes them
    start = time.perf_counter()
    core.startSequenceAcquisition(frames, 0, False)
    while core.isSequenceRunning():
        time.sleep(0.001)
    camera_fps = frames / (time.perf_counter() - start)
    core.clearCircularBuffer()
    stream = create_stream(settings)
    stats = stream_sequence_acquisition(core, stream, frames)
    stream.close()
    gb = frames * size * size * 2 / 1e9
    buffer_frames = core.getBufferTotalCapacity()
    return {
        "backend": "demo camera -> tensorstore",
        "frames": stats.frames,
        "fps": stats.fps,
        "camera_fps": camera_fps,
        "gbps_append": gb / stats.seconds,
        "max_frames_buffered": stats.max_frames_buffered,
        "buffer_capacity_frames": buffer_frames,
        "overflowed": False,  # stream_sequence_acquisition raises on overflow
        "zero_copy": stats.zero_copy,
        "peak_rss_mb": _peak_rss_mb(),
    }


def _worker(args: argparse.Namespace) -> None:
    out = Path(tempfile.mkdtemp(prefix="ome-writers-bench-", dir=args.dir))
    try:
        if args.worker == "disk":
            result = run_disk(args.frames, args.size, out)
        elif args.worker == "camera":
            result = run_camera(args.frames, args.size, out)
        else:
            result = run_backend(
                args.worker, args.frames, args.size, out, args.compression
            )
    finally:
        shutil.rmtree(out, ignore_errors=True)
    print(json.dumps(result))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=200)
    parser.add_argument("--size", type=int, default=2048)
    parser.add_argument("--backends", nargs="*", default=BACKENDS)
    parser.add_argument("--compression", default=None)
    parser.add_argument(
        "--scenario", default="a", choices=list("abcdef"), help="see scenario_dims"
    )
    parser.add_argument("--dir", default=None, help="where to write (default: tmp)")
    parser.add_argument("--json", action="store_true", help="print JSON lines only")
    parser.add_argument(
        "--camera", action="store_true", help="also stream the demo camera at top rate"
    )
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        _worker(args)
        return
    results = []
    for name in ["disk", *args.backends, *(["camera"] if args.camera else [])]:
        cmd = [
            sys.executable,
            __file__,
            "--worker",
            name,
            "--frames",
            str(args.frames),
            "--size",
            str(args.size),
            "--scenario",
            args.scenario,
        ]
        if args.compression:
            cmd += ["--compression", args.compression]
        if args.dir:
            cmd += ["--dir", args.dir]
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if proc.returncode:
            print(f"{name}: failed\n{proc.stderr[-2000:]}", file=sys.stderr)
            continue
        results.append(json.loads(proc.stdout.strip().splitlines()[-1]))
    if args.json:
        for r in results:
            print(json.dumps(r))
        return
    header = (
        f"{'backend':<20} {'fps':>7} {'GB/s app':>9} {'GB/s close':>10} "
        f"{'GB/s sync':>9} {'p50 ms':>7} {'p99 ms':>7} {'max ms':>7} "
        f"{'close s':>7} {'RSS MB':>7}"
    )
    print(
        f"scenario {args.scenario}: frames {args.size}x{args.size} uint16, "
        f"compression={args.compression or 'scenario default'}"
    )
    print(header)
    for r in results:
        if "camera_fps" in r:
            print(
                f"{r['backend']}: {r['frames']} frames at {r['fps']:.0f} fps "
                f"(camera alone: {r['camera_fps']:.0f} fps), "
                f"zero-copy={r['zero_copy']}, max {r['max_frames_buffered']} of "
                f"{r['buffer_capacity_frames']} buffer slots used, "
                f"overflow: {r['overflowed']}"
            )
            continue
        print(
            f"{r['backend']:<20} {r['fps']:7.1f} {r['gbps_append']:9.2f} "
            f"{r['gbps_close']:10.2f} {r['gbps_sync']:9.2f} {r['p50_ms']:7.2f} "
            f"{r['p99_ms']:7.2f} {r['max_ms']:7.1f} {r['close_s']:7.2f} "
            f"{r['peak_rss_mb']:7.0f}"
        )


if __name__ == "__main__":
    main()
