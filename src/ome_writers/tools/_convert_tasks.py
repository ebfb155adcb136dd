"""The tasks of a parallel conversion: one image each, on threads, local
processes or a dask.distributed cluster.

A task streams one image into its own place of the dataset (`_Task`). When a
task fails, the others are told to stop: each looks at a stop flag when it
reports progress and leaves its stream closed; a task that has not started
writes nothing. The runner returns (or raises the first failure) only when
no task is writing any more, so the caller may remove what was written.

Threads are the default: the writers and codecs release the GIL, and a
script calling `convert` needs no ``if __name__ == "__main__":`` guard.
Local worker processes fork from a server process that imported this module
and the writers once (``forkserver``; ``spawn`` where there is none), never
from the calling process and its library threads; like any process pool
they import the program's main module.
"""

from __future__ import annotations

import os
import threading
import time
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ome_writers import AcquisitionSettings, create_stream
from ome_writers.tools._sources import SourceImage, read_planes

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Mapping
    from concurrent.futures import Future

    from ome_writers import OMEStream

# report progress from a task (and look at the stop flag) at most this often (s)
_REPORT_INTERVAL = 0.2

_PRELOAD = [
    "ome_writers.tools._convert_tasks",
    "ome_writers.backends.tiff._writer",
    "ome_writers.backends.tiff._ome_models",
    "ome_writers.backends.zarr._tensorstore",
    "ome_writers.backends.zarr._zarr_python",
]


class ConversionError(RuntimeError):
    """A conversion failed: a task raised, or the output did not validate."""


def failed(image: SourceImage, error: BaseException) -> ConversionError:
    """The error of converting `image` (raise it from `error`)."""
    return ConversionError(
        f"Converting {image.path} (position {image.name!r}) failed: "
        f"{str(error).rstrip('.')}."
    )


class _Stopped(Exception):
    """A task stopped because another one failed."""


@dataclass(frozen=True)
class Task:
    """One image written into its place of the dataset (a worker's job)."""

    image: SourceImage
    settings: AcquisitionSettings


def stream_image(stream: OMEStream, image: SourceImage) -> Iterator[None]:
    """Append every plane of `image` (with its per-frame metadata) to
    `stream`, yielding after each."""
    metadata = image.frame_metadata
    for k, plane in enumerate(read_planes(image)):
        if plane is None:
            stream.skip(frames=1)
        elif metadata and metadata[k]:
            stream.append(plane, frame_metadata=metadata[k])
        else:
            stream.append(plane)
        yield


def _write_image(
    task: Task, report: Callable[[int], None], stopped: Callable[[], bool]
) -> int:
    """Stream one image into its single-position dataset; frames written."""
    if stopped():
        raise _Stopped
    pending = 0
    last = time.monotonic()
    with create_stream(task.settings, checkpoint_seconds=None, finite_only=False) as s:
        for _ in stream_image(s, task.image):
            pending += 1
            if time.monotonic() - last > _REPORT_INTERVAL:
                report(pending)
                pending, last = 0, time.monotonic()
                if stopped():
                    raise _Stopped
    if pending:
        report(pending)
    return task.image.num_planes


def _first_failure(
    futures: Mapping[Future[int], Task], first: set[Future[int]]
) -> tuple[Task, BaseException] | None:
    """The task that failed (preferring those in `first`) and its error."""
    for group in (first, futures):
        for future in group:
            if future.cancelled():
                continue
            error = future.exception()
            if error is not None and not isinstance(error, _Stopped):
                return futures[future], error
    return None


def _collect(futures: Mapping[Future[int], Task], stop: Callable[[], None]) -> None:
    """Wait for the tasks; at the first failure, stop the others, wait for
    them, and raise it."""
    from concurrent.futures import FIRST_EXCEPTION, wait
    from concurrent.futures.process import BrokenProcessPool

    done, pending = wait(futures, return_when=FIRST_EXCEPTION)
    if not pending and all(f.exception() is None for f in done):
        return
    stop()
    for future in pending:
        future.cancel()
    wait(futures)  # the running tasks stop at their next report
    failure = _first_failure(futures, done)
    if failure is None:  # every task was told to stop, none failed
        raise ConversionError("The conversion was stopped.")
    task, error = failure
    if isinstance(error, BrokenProcessPool):
        raise ConversionError(
            "A worker process died or could not start. Worker processes "
            "(processes=N) import the main module of the program, as for any "
            "process pool: a script asking for them calls convert() under "
            "`if __name__ == '__main__':` (threads, processes=None, need no guard)."
        ) from error
    raise failed(task.image, error) from error


def run_threads(tasks: list[Task], advance: Callable[[int], None]) -> None:
    """Every task on threads of this process, one per image up to the CPUs."""
    from concurrent.futures import ThreadPoolExecutor

    stop = threading.Event()
    workers = max(1, min(len(tasks), os.cpu_count() or 1))
    with ThreadPoolExecutor(workers, thread_name_prefix="ome-writers-convert") as pool:
        futures = {pool.submit(_write_image, t, advance, stop.is_set): t for t in tasks}
        try:
            _collect(futures, stop.set)
        except BaseException:  # Ctrl-C too: the threads stop before we return
            stop.set()
            pool.shutdown(wait=True, cancel_futures=True)
            raise


# ------------------------------------------------------------ local processes

_QUEUE: Any = None  # a worker process's progress queue (set by the initializer)
_STOP: Any = None  # a worker process's stop flag (set by the initializer)


def _init_process(queue: Any, stop: Any) -> None:
    global _QUEUE, _STOP
    _QUEUE, _STOP = queue, stop


def _write_in_process(task: Task) -> int:
    return _write_image(task, _QUEUE.put, _STOP.is_set)


def run_processes(
    tasks: list[Task], processes: int, advance: Callable[[int], None]
) -> None:
    """Every task on `processes` local worker processes."""
    import multiprocessing
    import queue as queue_module
    from concurrent.futures import ProcessPoolExecutor

    # workers fork from a server that imported this module once (never from
    # this process and its library threads), else they start afresh
    if "forkserver" in multiprocessing.get_all_start_methods():
        context: Any = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload(_PRELOAD)
    else:
        context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    stop = context.Event()
    drained = threading.Event()

    def drain() -> None:
        while not drained.is_set():
            try:
                advance(queue.get(timeout=0.1))
            except queue_module.Empty:
                continue

    reader = threading.Thread(target=drain, daemon=True)
    reader.start()
    try:
        with ProcessPoolExecutor(
            max_workers=max(1, min(processes, len(tasks))),
            mp_context=context,
            initializer=_init_process,
            initargs=(queue, stop),
        ) as pool:
            futures = {pool.submit(_write_in_process, t): t for t in tasks}
            try:
                _collect(futures, stop.set)
            except BaseException:
                stop.set()
                pool.shutdown(wait=True, cancel_futures=True)
                raise
    finally:
        drained.set()
        reader.join()
        while True:  # what arrived after the reader stopped
            try:
                advance(queue.get_nowait())
            except queue_module.Empty:
                break
        queue.close()


# ------------------------------------------------------------------ dask


def _write_on_dask(task: Task, topic: str, stop_name: str) -> int:
    from distributed import Event, get_worker

    worker = get_worker()
    stop = Event(stop_name)  # type: ignore[no-untyped-call]
    return _write_image(task, lambda n: worker.log_event(topic, n), stop.is_set)


def run_dask(tasks: list[Task], address: str, advance: Callable[[int], None]) -> None:
    """Every task on the dask.distributed cluster at `address`."""
    from distributed import Client, Event, as_completed

    name = f"ome-writers-convert-{uuid.uuid4().hex}"
    with Client(address, set_as_default=False) as client:  # type: ignore[no-untyped-call]
        stop = Event(name, client=client)  # type: ignore[no-untyped-call]
        client.subscribe_topic(name, lambda event: advance(int(event[1])))
        try:
            futures = {
                client.submit(
                    _write_on_dask,
                    t,
                    name,
                    name,
                    pure=False,
                    key=f"convert-{t.image.name}-{uuid.uuid4().hex[:8]}",
                ): t
                for t in tasks
            }
            failure: tuple[Task, BaseException] | None = None
            try:
                # every task ends (after a failure, at its next report)
                for future in as_completed(list(futures), loop=client.loop):  # type: ignore[no-untyped-call]
                    if future.status != "error" or failure is not None:
                        continue
                    error = future.exception()
                    if not isinstance(error, _Stopped):
                        failure = (futures[future], error)
                        stop.set()  # type: ignore[no-untyped-call]
            except BaseException:  # Ctrl-C: the tasks stop before we return
                stop.set()  # type: ignore[no-untyped-call]
                for _ in as_completed(list(futures), loop=client.loop):  # type: ignore[no-untyped-call]
                    pass
                raise
            if failure is not None:
                raise failed(failure[0].image, failure[1]) from failure[1]
        finally:
            client.unsubscribe_topic(name)
