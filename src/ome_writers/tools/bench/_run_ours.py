"""The rows of ome-writers: its public API, and the demo camera through
pymmcore-plus.

ome-writers is imported when a run starts, not when this module loads: under
``--compare`` these run against whichever version the interpreter has.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import statistics
import time
from pathlib import Path
from typing import Any

from ._measure import peak_rss_mb, timed_run
from ._readers import HttpReaders
from ._s3 import S3_BUCKET, S3_CREDENTIALS


def run_public_api(
    spec: dict[str, Any],
    backend: str,
    out: Path,
    s3_endpoint: str | None = None,
    readers: int = 0,
    reader_interval: float = 0.1,
    reader_nice: int = 0,
) -> dict[str, Any]:
    """ome-writers (whichever version is installed) through its public API;
    into the bucket ``bench`` at `s3_endpoint` when given; with `readers`
    processes polling the dataset over HTTP every `reader_interval` seconds
    while it is written (at niceness `reader_nice`)."""
    import ome_writers
    from ome_writers import AcquisitionSettings, Dimension, create_stream

    for module in spec.get("preload", ()):  # the backend's library: once a session
        try:
            with _loaded_as_ours(module):
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
    http = None
    if readers:
        frame_bytes = spec["frame_shape"][0] * spec["frame_shape"][1] * 2
        http = HttpReaders(
            out,
            Path(settings.root_path).name,
            "tiff" if tiff else "zarr",
            readers,
            reader_interval,
            settings.loss_window,
            frame_bytes,
            reader_nice,
        )

    def create() -> tuple[Any, Any]:
        stream = create_stream(settings)
        append: Any = lambda i, f: stream.append(f)  # noqa: E731
        if spec.get("frame_metadata"):  # six keys, as a microscope records them
            append = lambda i, f: stream.append(  # noqa: E731
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
        if http is None:
            return append, stream.close
        http.go()
        appended = http.appended
        plain = append

        def published(i: int, frame: Any) -> None:
            plain(i, frame)
            appended[0] = i + 1  # readable a loss window from now

        return published, stream.close

    try:
        result = timed_run(spec, None, None, create)
    finally:
        counts = http.stop() if http is not None else {}
    result.update(counts)
    if http is not None:
        result["reader_interval_s"] = reader_interval
        result["reader_nice"] = reader_nice
    result["version"] = ome_writers.__version__
    result["package"] = our_package()
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


def _loaded_as_ours(module: str) -> contextlib.AbstractContextManager[None]:
    """Load `module` as this version's backend does: acquire-zarr's OpenMP
    runtime with the passive wait policy (another version loads it plainly)."""
    try:
        from ome_writers._io._openmp import passive_openmp
    except ImportError:  # another version (--compare)
        return contextlib.nullcontext()
    return passive_openmp() if module == "acquire_zarr" else contextlib.nullcontext()


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
        "peak_rss_mb": peak_rss_mb(),
    }


def our_package() -> str:
    """Directory of the ome-writers this interpreter imports."""
    import ome_writers

    return str(Path(ome_writers.__file__).resolve().parent)
