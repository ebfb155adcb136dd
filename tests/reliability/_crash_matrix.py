"""Writer processes killed with SIGKILL at random moments, for the loss window.

A child process appends frames at a steady rate and reports, after each
`append` returns, the frame number and its CLOCK_MONOTONIC time (system-wide
on Linux, so comparable with the parent's `time.monotonic()`). The parent kills
it at a seeded random moment and keeps what the child reported: which frames
must be readable follows from the kill time and the loss window.
"""

from __future__ import annotations

import json
import math
import os
import random
import signal
import subprocess
import sys
import textwrap
import threading
import time
import zlib
from dataclasses import dataclass, field
from itertools import pairwise, product
from typing import TYPE_CHECKING, Any

import numpy as np

from ome_writers import AcquisitionSettings, Dimension

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

Y, X = 24, 32
PERIOD = 0.025  # seconds between appends
LOSS_WINDOW = 1.0  # the default of AcquisitionSettings.loss_window
KILL_AFTER = (1.2, 3.0)  # seconds after the first frame
DEFAULT_SEED = 20250611


def expected_frame(n: int) -> np.ndarray:
    """Frame `n`: every pixel encodes the frame number, its row and column.

    Frames differ in every pixel (by 7 per frame number) and no pixel is 0, so
    a torn frame, a misplaced one and the fill value are told apart.
    """
    rows = np.arange(Y, dtype=np.int64)[:, None] * 3
    cols = np.arange(X, dtype=np.int64)[None, :]
    return ((n * 7 + rows + cols + 1) % 65536).astype("uint16")


def frame_number_of(data: np.ndarray) -> int | None:
    """The frame number whose pattern `data` (a whole frame) is, if any."""
    n, rest = divmod(int(data[0, 0]) - 1, 7)
    if rest or n < 0 or not np.array_equal(data, expected_frame(n)):
        return None
    return n


CHILD = textwrap.dedent(
    """
    import json, sys, time
    import numpy as np
    from ome_writers import AcquisitionSettings, Dimension, create_stream

    backend, root, dims, period = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]
    Y, X = int(sys.argv[5]), int(sys.argv[6])
    options = json.loads(sys.argv[7])
    version = options.pop("ngff_version", None)
    fmt = backend if version is None else {"backend": backend, "ngff_version": version}
    settings = AcquisitionSettings(
        root_path=root,
        format=fmt,
        dimensions=[Dimension(**d) for d in json.loads(dims)],
        dtype="uint16",
        **options,
    )
    assert settings.loss_window == 1.0, settings.loss_window
    stream = create_stream(settings, checkpoint_seconds=None)
    rows = np.arange(Y, dtype=np.int64)[:, None] * 3
    cols = np.arange(X, dtype=np.int64)[None, :]
    total = settings.num_frames or 100_000
    period = float(period)
    start = time.monotonic()
    for n in range(total):
        wait = start + n * period - time.monotonic()
        if wait > 0:
            time.sleep(wait)
        frame = ((n * 7 + rows + cols + 1) % 65536).astype("uint16")
        stream.append(frame, frame_metadata={"n": n, "delta_t": n * period})
        sys.stdout.write(f"{n} {time.monotonic()!r}\\n")
        sys.stdout.flush()
    time.sleep(600)  # never closed: the parent kills it
    """
)


@dataclass(frozen=True)
class Layout:
    """Dimensions of one cell of the matrix (chunking applies to Zarr only)."""

    name: str
    dims: tuple[dict[str, Any], ...]  # Dimension keyword arguments, Y/X left out
    y_chunking: tuple[tuple[str, int], ...] = ()  # Zarr chunking of y
    period: float = PERIOD  # seconds between appends
    # other settings (pyramid=2); ngff_version goes to the format
    options: tuple[tuple[str, Any], ...] = ()

    def dimension_kwargs(self, zarr: bool) -> list[dict[str, Any]]:
        """Every dimension, Y and X last; without chunking when not `zarr`."""
        chunking = ("chunk_size", "shard_size_chunks")
        out = [
            {k: v for k, v in d.items() if zarr or k not in chunking} for d in self.dims
        ]
        y: dict[str, Any] = {"name": "y", "count": Y, "type": "space"}
        if zarr:
            y.update(self.y_chunking)
        return [*out, y, {"name": "x", "count": X, "type": "space"}]

    def settings(self, backend: str, root: str, zarr: bool) -> AcquisitionSettings:
        options = dict(self.options)
        version = options.pop("ngff_version", None)
        fmt: Any = backend
        if version is not None:
            fmt = {"backend": backend, "ngff_version": version}
        return AcquisitionSettings(
            root_path=root,
            format=fmt,
            dimensions=[Dimension(**d) for d in self.dimension_kwargs(zarr)],
            dtype="uint16",
            **options,
        )

    @property
    def counts(self) -> list[int | None]:
        """Index dimensions' counts, in acquisition order (position included)."""
        return [d["count"] for d in self.dims]

    @property
    def position_axis(self) -> int | None:
        return next(
            (i for i, d in enumerate(self.dims) if d.get("type") == "position"), None
        )

    @property
    def positions(self) -> int:
        p = self.position_axis
        return 1 if p is None else int(self.dims[p]["count"])

    @property
    def image_dims(self) -> list[str]:
        """Names of each image's index dimensions, in acquisition order."""
        p = self.position_axis
        return [d["name"] for i, d in enumerate(self.dims) if i != p]

    def locate(self, n: int) -> tuple[int, tuple[int, ...]]:
        """(position, index in the image) of frame `n`: C order over the dims."""
        counts = self.counts
        index = []
        rest = n
        for c in reversed(counts[1:]):
            rest, i = divmod(rest, c or 1)  # only the first may be unbounded
            index.append(i)
        index.append(rest)
        index.reverse()
        if counts[0] is not None and index[0] >= counts[0]:
            raise IndexError(n)
        p = self.position_axis
        if p is None:
            return 0, tuple(index)
        return index[p], tuple(i for k, i in enumerate(index) if k != p)

    def frame_number(self, position: int, index: tuple[int, ...]) -> int:
        """The frame number of `index` in `position`'s image (inverse of locate)."""
        full = list(index)
        p = self.position_axis
        if p is not None:
            full.insert(p, position)
        n = 0
        for i, c in zip(full, self.counts, strict=True):
            n = n * (int(c) if c is not None else 0) + i
        return n

    def image_cells(self, position: int, shape: tuple[int, ...]) -> Iterator[int]:
        """Frame numbers of every index cell of an image of `shape` (C order)."""
        for index in product(*(range(s) for s in shape)):
            yield self.frame_number(position, index)


LAYOUTS = [
    Layout(
        "single",
        (
            {"name": "t", "count": 80, "type": "time"},
            {"name": "c", "count": 2, "type": "channel"},
        ),
    ),
    Layout(
        "multiposition",
        (
            {"name": "p", "count": 3, "type": "position"},
            {"name": "t", "count": 24, "type": "time"},
            {"name": "c", "count": 2, "type": "channel"},
        ),
    ),
    Layout(
        "zchunk4",
        (
            {"name": "t", "count": 30, "type": "time"},
            {"name": "z", "count": 6, "type": "space", "chunk_size": 4},
        ),
    ),
    Layout(
        "sharded",
        (
            {
                "name": "t",
                "count": 80,
                "type": "time",
                "chunk_size": 1,
                "shard_size_chunks": 4,
            },
            {"name": "c", "count": 2, "type": "channel"},
        ),
        # each frame is two chunks (rows 0-11, 12-23) of one shard, so a frame
        # with one chunk written and not the other shows as torn
        (("chunk_size", 12), ("shard_size_chunks", 2)),
    ),
    # a shard of 32 timepoints of one channel fills over 64 frames (1.6 s), so
    # frames a loss window old still wait in a partially filled shard: only the
    # provisional write makes them readable (the shards above fill in 0.2 s)
    Layout(
        "long-shards",
        (
            {
                "name": "t",
                "count": 80,
                "type": "time",
                "chunk_size": 1,
                "shard_size_chunks": 32,
            },
            {"name": "c", "count": 2, "type": "channel"},
        ),
    ),
    Layout(
        "unbounded",
        (
            {"name": "t", "count": None, "type": "time"},
            {"name": "c", "count": 2, "type": "channel"},
        ),
    ),
]
BY_LAYOUT = {layout.name: layout for layout in LAYOUTS}


def kills_per_cell() -> int:
    """OME_WRITERS_CRASH_KILLS, else 2 on CI and 5 elsewhere."""
    override = os.environ.get("OME_WRITERS_CRASH_KILLS")
    if override:
        return max(1, int(override))
    ci = os.environ.get("CI", "").strip().lower()
    return 2 if ci not in ("", "0", "false", "no") else 5


def base_seed() -> int:
    return int(os.environ.get("OME_WRITERS_CRASH_SEED", DEFAULT_SEED))


def cell_seed(backend: str, layout: str) -> int:
    """A seed per cell, from the base seed (OME_WRITERS_CRASH_SEED)."""
    return base_seed() ^ zlib.crc32(f"{backend}/{layout}".encode())


@dataclass
class Kill:
    """One child process killed at a random moment, and what it reported."""

    backend: str
    layout: Layout
    root: Path
    seed: int
    number: int  # which kill of the cell
    delay: float  # seconds after the first frame
    returned: list[float] = field(default_factory=list)  # frame n -> time
    kill_time: float = math.nan  # time.monotonic() just before the signal
    kill_wall: float = math.nan  # time.time() then (to compare with mtimes)
    returncode: int | None = None
    stderr: str = ""
    error: str = ""  # the child did not get to be killed as planned
    io_pressure: str = ""  # /proc/pressure/io at the kill (Linux)

    @property
    def first_time(self) -> float:
        return self.returned[0] if self.returned else math.nan

    def frames_before(self, seconds: float) -> int:
        """How many frames had returned `seconds` before the kill."""
        limit = self.kill_time - seconds
        return sum(1 for t in self.returned if t <= limit)

    def describe(self) -> str:
        kill = self.kill_time - self.first_time
        return (
            f"[{self.backend} / {self.layout.name}, kill #{self.number} at "
            f"{kill:.3f} s after frame 0 (monotonic {self.kill_time:.3f}), "
            f"{len(self.returned)} appends returned, cell seed {self.seed} "
            f"(OME_WRITERS_CRASH_SEED={base_seed()}), root_path {self.root}; "
            f"{self.stalls()}]"
        )

    def stalls(self) -> str:
        """How long the writer stalled (e.g. on a saturated disk): the longest
        time between two appends returning, and from the last to the kill;
        the system's I/O pressure at the kill."""
        gaps = [(b - a, n + 1) for n, (a, b) in enumerate(pairwise(self.returned))]
        out = []
        if gaps:
            gap, n = max(gaps)
            out.append(f"longest gap between appends {gap * 1000:.0f} ms (frame {n})")
        if self.returned:
            last = (self.kill_time - self.returned[-1]) * 1000
            out.append(f"last append returned {last:.0f} ms before the kill")
        if self.io_pressure:
            out.append(f"I/O pressure: {self.io_pressure}")
        return "; ".join(out)


def run_kills(
    backend: str, layout: Layout, tmp_path: Path, suffix: str, count: int
) -> list[Kill]:
    """`count` children of one cell, run concurrently, each killed at random."""
    seed = cell_seed(backend, layout.name)
    rng = random.Random(seed)
    kills = [
        Kill(
            backend,
            layout,
            tmp_path / f"kill{k}{suffix}",
            seed,
            k,
            rng.uniform(*KILL_AFTER),
        )
        for k in range(count)
    ]
    threads = [threading.Thread(target=_run_one, args=(kill,)) for kill in kills]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return kills


def _run_one(kill: Kill) -> None:
    zarr = not str(kill.root).endswith((".tif", ".tiff"))
    dims = json.dumps(kill.layout.dimension_kwargs(zarr))
    stderr_path = kill.root.with_name(kill.root.name + ".stderr")
    with open(stderr_path, "w+b") as err:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-c",
                CHILD,
                kill.backend,
                str(kill.root),
                dims,
                repr(kill.layout.period),
                str(Y),
                str(X),
                json.dumps(dict(kill.layout.options)),
            ],
            stdout=subprocess.PIPE,
            stderr=err,
            text=True,
        )
        first = threading.Event()
        reader = threading.Thread(target=_read_lines, args=(proc, kill, first))
        reader.start()
        try:
            if not first.wait(60) or not kill.returned:
                kill.error = "the writer reported no frame (see its stderr)"
            else:
                time.sleep(max(0.0, kill.first_time + kill.delay - time.monotonic()))
                if proc.poll() is not None:
                    kill.error = f"the writer exited by itself ({proc.returncode})"
            kill.kill_time = time.monotonic()  # before the signal: conservative
            kill.kill_wall = time.time()
            kill.io_pressure = _io_pressure()
            if proc.poll() is None:
                os.kill(proc.pid, signal.SIGKILL)
        finally:
            if proc.poll() is None:
                proc.kill()
            kill.returncode = proc.wait(60)
            reader.join(60)
            assert proc.stdout is not None
            proc.stdout.close()
        err.seek(0)
        kill.stderr = err.read().decode(errors="replace")[-4000:]


def _io_pressure() -> str:
    try:
        with open("/proc/pressure/io") as f:
            return " / ".join(" ".join(line.split()[:2]) for line in f)
    except OSError:
        return ""


def _read_lines(
    proc: subprocess.Popen[str], kill: Kill, first: threading.Event
) -> None:
    assert proc.stdout is not None
    try:
        for line in proc.stdout:
            n, t = line.split()
            if int(n) != len(kill.returned):
                kill.error = f"frame lines out of order: {line!r}"
            kill.returned.append(float(t))
            first.set()
    finally:
        first.set()  # also when the writer died before its first frame
