"""The interface every backend implements."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from ome_writers._registry import BY_NAME
from ome_writers.metadata._display import DisplaySettings

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping, Sequence

    from ome_writers._registry import BackendRecord
    from ome_writers._router import FrameRouter
    from ome_writers._schema import AcquisitionSettings
    from ome_writers.metadata._display_ranges import DisplayRanges
    from ome_writers.metadata._frame_metadata import FrameMetadataLog
    from ome_writers.metadata._progress import ProgressRecord

# One item per storage dimension (index dims in storage order, then Y, X):
# a non-negative int or a slice with explicit start/stop/step.
StorageKey = tuple[int | slice, ...]


@dataclass(frozen=True)
class BackendContext:
    """What a backend is created with.

    Attributes
    ----------
    settings : AcquisitionSettings
        The stream's own (validated, copied) settings.
    router : FrameRouter
        Frame number -> (position, storage index), for backends that plan ahead.
    frame_metadata : FrameMetadataLog
        Per-frame metadata appended with the frames.
    display_ranges : DisplayRanges | None
        Observed pixel range per image and channel (sampled by the stream),
        for display windows; None without a channel axis.
    progress : ProgressRecord | None
        The dataset's progress record (docs/reading.md), stated in its
        metadata at every loss-window visit, checkpoint and close; None for a
        part of a dataset that states none of its own.
    ome_xml : bool
        Whether an OME-Zarr backend writes the dataset's
        ``OME/METADATA.ome.xml``; False for a part of a dataset that is
        described as a whole by another writer.
    display : DisplaySettings
        What the user set for displaying each channel (written at loss-window
        visits and close).
    """

    settings: AcquisitionSettings
    router: FrameRouter
    frame_metadata: FrameMetadataLog
    display_ranges: DisplayRanges | None = None
    progress: ProgressRecord | None = None
    ome_xml: bool = True
    display: DisplaySettings = field(default_factory=DisplaySettings)

    @classmethod
    def for_settings(
        cls,
        settings: AcquisitionSettings,
        extents: Callable[[int], Sequence[int]] | None = None,
    ) -> BackendContext:
        """A context with a new router and an empty frame metadata log;
        `extents` (frames -> the extent every dimension reached) for the
        progress record, C order by default."""
        from ome_writers._router import FrameRouter
        from ome_writers._schema import effective_type
        from ome_writers.metadata._display_ranges import DisplayRanges
        from ome_writers.metadata._frame_metadata import FrameMetadataLog
        from ome_writers.metadata._progress import ProgressRecord

        router = FrameRouter(settings)
        ranges = None
        index_dims = settings.storage_index_dimensions
        channel = next(
            (i for i, d in enumerate(index_dims) if effective_type(d) == "channel"),
            None,
        )
        if channel is not None and not settings.is_ragged:
            count = int(index_dims[channel].count or 1)
            ranges = DisplayRanges(len(settings.positions), count, channel)
        progress = ProgressRecord(settings, extents)
        return cls(settings, router, FrameMetadataLog(router), ranges, progress)


class Backend(ABC):
    """Writes frames of one format with one library.

    A backend receives storage indices, never acquisition order. Lifecycle:
    ``check_settings`` (class level, before anything is created) -> ``__init__``
    -> ``prepare`` -> ``write``/``skip`` ... -> ``finalize`` (exactly once).
    ``read`` must work before, during and after writing.
    """

    #: the registry record's name; every other fact about the backend (format,
    #: compressions, capabilities) is read from that record
    name: ClassVar[str]

    @classmethod
    def record(cls) -> BackendRecord:
        """This backend's registry record."""
        return BY_NAME[cls.name]

    @classmethod
    def check_settings(cls, settings: AcquisitionSettings) -> str | None:
        """Return why `settings` cannot be written by this backend, else None."""
        problem = _location_problem(cls.record(), settings)
        if problem:
            return problem
        from ome_writers._schema._format import OmeZarrFormat

        fmt = settings.format
        if isinstance(fmt, OmeZarrFormat) and not cls.record().writes_zarr_format(
            fmt.zarr_format
        ):
            return (
                f"the {cls.name} backend does not write Zarr v{fmt.zarr_format} "
                f"(OME-Zarr {fmt.ngff_version})"
            )
        compression = settings.compression or "none"
        allowed = cls.record().compressions
        if allowed and compression not in allowed:
            return (
                f"the {cls.name} backend does not support compression "
                f"{compression!r}; supported: {allowed}"
            )
        return None

    def explain_failure(self, error: BaseException) -> BaseException:
        """The error to report for a failed write (default: `error` itself)."""
        return error

    def __init__(self, context: BackendContext) -> None:
        settings = context.settings
        self.settings = settings
        self.router = context.router
        self.frame_metadata = context.frame_metadata
        self.display_ranges = context.display_ranges
        self.display = context.display
        dims = settings.array_storage_dimensions
        self.storage_names = tuple(d.name for d in dims)
        self.storage_shape: tuple[int | None, ...] = tuple(d.count for d in dims)
        self.dtype = np.dtype(settings.dtype)
        self.num_positions = len(settings.positions)
        self.global_metadata: dict[str, dict[str, Any]] = {}

    @property
    def label(self) -> str:
        """What writes the data, for people (the library's name)."""
        return self.name

    def output_paths(self) -> tuple[str, ...]:
        """Where the dataset is written: absolute paths (or ``s3://`` URLs).

        Default: the root, one directory (what every OME-Zarr backend writes).
        """
        from ome_writers._io._paths import resolve_root

        settings = self.settings
        return (str(resolve_root(settings.output_path, settings.s3)),)

    @abstractmethod
    def prepare(self) -> None:
        """Create the output (files, groups, arrays)."""

    @abstractmethod
    def write(self, position: int, index: tuple[int, ...], frame: np.ndarray) -> None:
        """Store one frame. `frame` has the right shape and dtype.

        The caller may reuse `frame`'s memory as soon as this returns.
        """

    def frame_writer(self) -> Callable[[int, tuple[int, ...], np.ndarray], None]:
        """What the stream calls for each frame: `write`, or the object a
        backend delegates every frame to, so an append goes straight there."""
        return self.write

    def skip(self, position: int, index: tuple[int, ...]) -> None:
        """Leave the frame at `index` unwritten (reads as zeros)."""

    @abstractmethod
    def finalize(self, frames_done: int) -> None:
        """Flush everything and write final metadata (called exactly once)."""

    @abstractmethod
    def read(self, position: int, key: StorageKey) -> np.ndarray:
        """Read a region of one position's array; unwritten parts are zeros."""

    def read_level(self, level: int, position: int, key: StorageKey) -> np.ndarray:
        """Read a region of pyramid `level` (0: `read`) of one position."""
        if level == 0:
            return self.read(position, key)
        raise NotImplementedError(f"the {self.name} backend writes no pyramid levels")

    def checkpoint(self, frames_done: int) -> None:
        """Make what is written so far durable and readable (optional)."""

    def make_readable(self, frames_done: int) -> None:
        """Make every frame written so far readable if the process dies now.

        Called under the stream's lock at least every loss window (see
        `AcquisitionSettings.loss_window`), only when something arrived since
        the last call: pending writes land (frames of partially filled chunks
        are written provisionally), and metadata describes what is there,
        per-frame metadata included (the stream forgets it afterwards). No
        sync: the operating system holds the data.
        """

    def start_readable(self, frames_done: int) -> Callable[[], object] | None:
        """`make_readable` in two parts: this one under the stream's lock, and
        what it returns (None: nothing) without it, so that appends need not
        wait for it. Default: all of it under the lock."""
        self.make_readable(frames_done)
        return None

    def start_checkpoint(self, frames_done: int) -> Callable[[], object] | None:
        """`checkpoint` in two parts, as `start_readable`: this one under the
        stream's lock, what it returns (None: nothing) without it, making the
        data durable while appends go on. Default: all of it under the lock."""
        self.checkpoint(frames_done)
        return None

    def _readable_then(
        self, frames_done: int, sync: Callable[[], object]
    ) -> Callable[[], None]:
        """`start_checkpoint` of a backend whose checkpoint is `make_readable`
        then `sync`: `start_readable` now, its finisher and `sync` later."""
        finish = self.start_readable(frames_done)

        def durable() -> None:
            if finish is not None:
                finish()
            sync()

        return durable

    def closing(self) -> None:
        """Close is about to start: work in the background that close redoes
        (a loss-window visit in progress) may end early. Called without the
        stream's lock."""

    def enable_live_reads(self) -> None:
        """A live view exists: keep whatever reads during acquisition need."""

    # metadata -------------------------------------------------------------

    def set_global_metadata(self, namespace: str, metadata: dict[str, Any]) -> None:
        """Store a namespaced mapping at the dataset level."""
        self.global_metadata[namespace] = metadata

    def get_metadata(self) -> Any:
        """Format-specific metadata objects (see the format's documentation)."""
        return None

    def update_metadata(self, metadata: Any) -> None:
        """Replace metadata returned by `get_metadata`."""


def read_padded(
    source: Any, allocated: Sequence[int], key: StorageKey, dtype: np.dtype
) -> np.ndarray:
    """Read `key` from `source` where only `allocated` exists; zeros elsewhere.

    `source` is anything numpy-indexable with shape `allocated`.
    """
    inside: list[int | slice] = []
    out_slices: list[slice] = []
    out_shape: list[int] = []
    empty = False
    for k, size in zip(key, allocated, strict=True):
        if isinstance(k, int):
            if k >= size:
                empty = True
                inside.append(0)
            else:
                inside.append(k)
            continue
        start, stop, step = k.start, k.stop, k.step
        n = len(range(start, stop, step))
        out_shape.append(n)
        n_inside = len(range(start, min(stop, size), step)) if start < size else 0
        inside.append(slice(start, start + n_inside * step, step) if n_inside else 0)
        if not n_inside:
            empty = True
        out_slices.append(slice(0, n_inside))
    if not empty and all(
        s.stop == n for s, n in zip(out_slices, out_shape, strict=True)
    ):
        return np.array(source[tuple(inside)], dtype=dtype)
    out = np.zeros(out_shape, dtype=dtype)
    if not empty:
        out[tuple(out_slices)] = source[tuple(inside)]
    return out


def json_safe(mapping: Mapping[str, Any]) -> dict[str, Any]:
    """Validate that `mapping` serialises to JSON; return a plain dict copy."""
    import json

    from ome_writers.metadata._frame_metadata import to_json_value

    data = {str(k): to_json_value(v) for k, v in mapping.items()}
    json.dumps(data)
    return data


def _location_problem(
    record: BackendRecord, settings: AcquisitionSettings
) -> str | None:
    """Why `record`'s backend cannot write to the settings' root path."""
    from ome_writers._schema._object_storage import url_scheme

    scheme = url_scheme(settings.root_path)
    if scheme is None:
        return None
    if scheme not in record.url_schemes:
        return f"the {record.name} backend does not write {scheme}:// URLs"
    from ome_writers._io._object_store import credentials_problem, resolve_s3

    path = resolve_s3(settings.root_path, settings.s3)
    return credentials_problem(path, record.name, record.s3_credentials)
