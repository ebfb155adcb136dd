"""The backend conformance suite: one set of cases that every backend runs.

Like zarr-python's ``StoreTests``, a backend's test module subclasses the class
for its format and names the backend by its registry name::

    class TestTensorstore(ZarrConformance):
        backend = "tensorstore"

What a backend can do comes from its registry record (format, compressions and
capability flags): cases are skipped by those, never by a backend's name. A
backend whose libraries are missing shows every case as skipped.

Written data are compared with a numpy model (frame n at the C-order cell n of
the declared dimensions; a skipped frame reads as zeros) through one hook,
`read_back`, which reads the dataset without ome-writers: zarr-python (checked
against tensorstore where installed) for OME-Zarr, tifffile (checked against
the OME-XML sizes) for OME-TIFF. The scratch format writes no files, so it has
no independent reader: its hook reads the view of the stream that wrote it.
"""

from __future__ import annotations

import errno
import json
import math
import shutil
import tempfile
import time
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
import pytest
from hypothesis import HealthCheck, event, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from ome_writers import (
    AcquisitionSettings,
    Channel,
    Dimension,
    Plate,
    Position,
    create_stream,
)
from ome_writers._registry import BACKENDS, BY_NAME
from ome_writers.errors import FrameDtypeError, FrameShapeError, StreamClosedError
from tests.conftest import frame_for
from tests.router.strategies import acquisitions

from .params import root_for
from .readers import (
    array_layout,
    attributes,
    ngff,
    read_tiff,
    read_zarr,
    tiff_files,
    tiff_letter,
    to_declared,
    zarr_array_paths,
    zarr_image_groups,
)

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from ome_writers import OMEStream
    from ome_writers._registry import BackendRecord

Y, X = 16, 24
SHAPE = (Y, X)
# every compression name some backend writes (each backend: written or refused)
ALL_COMPRESSIONS = tuple(dict.fromkeys(c for r in BACKENDS for c in r.compressions))


def frame(n: int, shape: tuple[int, int] = SHAPE) -> np.ndarray:
    """Frame number `n` (its pixels encode n)."""
    return frame_for(n, shape)


# ----------------------------------------------------------------- the model


def expected_array(
    settings: AcquisitionSettings, frames: Sequence[np.ndarray | None]
) -> np.ndarray:
    """All frames in the declared dimension order (position included).

    Frame n sits at the C-order cell n; an unbounded first dimension reaches
    as far as the frames (skipped ones included) do.
    """
    dims = settings.dimensions
    counts = [d.count for d in dims[:-2]]
    if counts and counts[0] is None:
        inner = math.prod(c or 1 for c in counts[1:])
        counts[0] = -(-len(frames) // inner)
    frame_shape = [int(d.count or 0) for d in dims[-2:]]
    out = np.zeros([*counts, *frame_shape], settings.dtype)
    flat = out.reshape(-1, *frame_shape)
    for n, data in enumerate(frames):
        if data is not None:
            flat[n] = data
    return out


def position_expected(
    settings: AcquisitionSettings, frames: Sequence[np.ndarray | None], position: int
) -> tuple[np.ndarray, list[int]]:
    """One position's expected array (declared order, no position axis) and,
    per axis, one past the last index a frame was appended (not skipped) at."""
    full = expected_array(settings, frames)
    pidx = settings.position_dimension_index
    counts = full.shape[:-2]
    reached = [0] * len(counts)
    for n, data in enumerate(frames):
        if data is None:
            continue
        cell = np.unravel_index(n, counts)
        if pidx is None or cell[pidx] == position:
            reached = [max(r, int(i) + 1) for r, i in zip(reached, cell, strict=True)]
    if pidx is not None:
        full = np.take(full, position, axis=pidx)
        del reached[pidx]
    return full, reached


def outer_axes(settings: AcquisitionSettings) -> set[int]:
    """Axes (declared order, no position) that a backend may cut short: the
    first declared one and the outermost stored one."""
    names = [d.name for d in settings.array_dimensions[:-2]]
    outer = {0} if names else set()
    order = settings.storage_order
    if isinstance(order, list) and (listed := [n for n in order if n in names]):
        outer.add(names.index(listed[0]))
    return outer


def assert_position(
    settings: AcquisitionSettings,
    frames: Sequence[np.ndarray | None],
    got: np.ndarray,
    position: int,
) -> None:
    """`got` (one position, declared order) holds exactly the model's frames.

    An outermost axis may end after the last frame appended along it (a
    partial acquisition may be cut, an unbounded one must be), never before.
    An axis of OME-TIFF cannot be empty: a position without frames may be
    stored as one zero plane.
    """
    want, reached = position_expected(settings, frames, position)
    assert got.dtype == want.dtype, (got.dtype, want.dtype)
    assert got.ndim == want.ndim, (got.shape, want.shape)
    for axis in range(want.ndim - 2):
        size, expected = got.shape[axis], want.shape[axis]
        if size == expected:
            continue
        most = max(expected, 1)
        assert axis in outer_axes(settings), (
            f"position {position}: axis {axis} has {size} entries, not {expected}"
        )
        assert reached[axis] <= size <= most, (
            f"position {position}: axis {axis} has {size} entries, frames were "
            f"appended up to {reached[axis]} (at most {expected})"
        )
        cut = [slice(None)] * want.ndim
        cut[axis] = slice(size, None)
        assert not want[tuple(cut)].any(), "frames lost beyond the stored extent"
        padded = np.zeros(
            (*want.shape[:axis], most, *want.shape[axis + 1 :]), want.dtype
        )
        padded[tuple(slice(0, k) for k in want.shape)] = want
        want = padded.take(range(size), axis=axis)
    np.testing.assert_array_equal(got, want, err_msg=f"position {position}")


def assert_view(
    settings: AcquisitionSettings, frames: Sequence[np.ndarray | None], view: Any
) -> None:
    """A (dynamic) view holds the model's frames, and none lies beyond it."""
    want = expected_array(settings, frames)
    got = np.asarray(view)
    assert got.ndim == want.ndim, (got.shape, want.shape)
    region = tuple(slice(0, k) for k in got.shape)
    np.testing.assert_array_equal(got, want[region])
    outside = want.copy()
    outside[region] = 0
    assert not outside.any(), f"view {got.shape} misses frames of {want.shape}"


# ---------------------------------------------------------------- scenarios

CHANNELS = Dimension(
    name="c", type="channel", coords=[Channel(name="DAPI", color="blue"), "FITC"]
)


def _field(row: str, column: str, grid: int | None = None) -> Position:
    return Position(
        name="fov",
        plate_row=row,
        plate_column=column,
        grid_row=None if grid is None else 0,
        grid_column=grid,
    )


@dataclass(frozen=True)
class Scenario:
    """Non-frame dimensions, settings keywords and how many frames to append."""

    dims: tuple[Dimension, ...]
    kwargs: Mapping[str, Any] = field(default_factory=dict)
    n_frames: int | None = None  # None: all
    formats: tuple[str, ...] = ("ome-zarr", "ome-tiff", "scratch")


SCENARIOS: dict[str, Scenario] = {
    "tczyx": Scenario(
        (
            Dimension(name="t", count=2, type="time", unit="s", scale=2.0),
            CHANNELS,
            Dimension(name="z", count=3, unit="um", scale=0.25, translation=5.0),
        )
    ),
    "multi-position": Scenario(
        (
            Dimension(name="t", count=2, type="time"),
            Dimension(
                name="p",
                type="position",
                coords=["A", Position(name="B", grid_row=0, grid_column=1), "C"],
            ),
            CHANNELS,
        )
    ),
    "chunks-span-frames": Scenario(
        (
            Dimension(name="t", count=2, type="time"),
            Dimension(name="z", count=5, chunk_size=4, unit="um"),
        )
    ),
    "sharding": Scenario(
        (
            Dimension(
                name="t", count=3, type="time", chunk_size=1, shard_size_chunks=2
            ),
            Dimension(name="z", count=4, chunk_size=2, shard_size_chunks=2),
        ),
        formats=("ome-zarr",),
    ),
    "storage-acquisition": Scenario(
        (Dimension(name="t", count=2), CHANNELS, Dimension(name="z", count=2)),
        {"storage_order": "acquisition"},
    ),
    "storage-ome-tzc": Scenario(
        (Dimension(name="t", count=2), Dimension(name="z", count=3), CHANNELS),
        {"storage_order": "ome"},
    ),
    # two fields in well A/1, listed around one in B/3
    "plate": Scenario(
        (
            Dimension(
                name="p",
                type="position",
                coords=[_field("A", "1", 0), _field("B", "3"), _field("A", "1", 1)],
            ),
            Dimension(name="z", count=2),
        ),
        {"plate": Plate.from_standard_wells(96)},
    ),
    "unbounded": Scenario(
        (Dimension(name="t", count=None, type="time"), CHANNELS), n_frames=7
    ),
    "unbounded-multi-position": Scenario(
        (
            Dimension(name="t", count=None, type="time", chunk_size=4),
            Dimension(name="p", type="position", coords=["A", "B"]),
            CHANNELS,
        ),
        n_frames=13,
    ),
    "partial": Scenario(
        (
            Dimension(name="t", count=3, type="time"),
            Dimension(name="z", count=4, chunk_size=4),
        ),
        n_frames=6,
    ),
}


# scenarios whose live view is checked after every append
LIVE_SCENARIOS = [
    "tczyx",
    "multi-position",
    "chunks-span-frames",
    "storage-ome-tzc",
    "unbounded-multi-position",
]


@dataclass(frozen=True)
class Shown:
    """How a dataset says one channel is displayed."""

    color: str | None  # "RRGGBB"
    limits: tuple[float, float] | None
    visible: bool


@dataclass
class ImageMetadata:
    """What a dataset says about its first image's axes."""

    channels: list[str]
    # dimension name -> (scale, unit spelled as in NGFF: "micrometer", "second")
    scales: dict[str, tuple[float | None, str | None]]


# ------------------------------------------------------------ the test cases


class BackendConformance:
    """Cases every backend runs.

    A format's subclass implements the hooks: `read_back` (the data) and, for
    formats with files, `check_dataset`, `stored_compression` and the
    metadata readers. A backend's class sets `backend` (its registry name).
    """

    backend: ClassVar[str]
    # hypothesis budgets per backend (file backends: a few small examples)
    stateful_examples: ClassVar[int] = 5
    #: whether `ome_writers.open` can open the dataset before the library's
    #: first flush (acquire-zarr in a bucket writes its arrays only then)
    opens_before_first_flush: ClassVar[bool] = True
    stateful_steps: ClassVar[int] = 10
    view_examples: ClassVar[int] = 25

    tmp: Path
    stream: OMEStream | None

    @property
    def record(self) -> BackendRecord:
        return BY_NAME[self.backend]

    @pytest.fixture(autouse=True)
    def _backend(self, tmp_path: Path) -> None:
        if not self.record.available:
            pytest.skip(f"{self.backend} not installed")
        self.tmp = tmp_path
        self.stream = None

    # hooks ------------------------------------------------------------------

    def read_back(self, settings: AcquisitionSettings, position: int) -> np.ndarray:
        """One position's written array, in the declared dimension order
        (without the position dimension), read independently of ome-writers."""
        raise NotImplementedError

    def check_dataset(self, settings: AcquisitionSettings) -> None:
        """Format-level checks of a closed dataset (validity, layout)."""

    def stored_compression(self, settings: AcquisitionSettings) -> str:
        """The compression the dataset records, by its ome-writers name."""
        raise NotImplementedError

    def read_image_metadata(self, settings: AcquisitionSettings) -> ImageMetadata:
        """Channel names, scales and units as written."""
        raise NotImplementedError

    def read_frame_metadata(
        self, settings: AcquisitionSettings
    ) -> dict[tuple[int, ...], dict[str, Any]]:
        """Per-frame metadata of a single-position dataset, by declared cell."""
        raise NotImplementedError

    def read_global_metadata(
        self, settings: AcquisitionSettings
    ) -> dict[str, dict[str, Any]]:
        """Namespaced dataset-level metadata as written."""
        raise NotImplementedError

    def read_display(
        self, settings: AcquisitionSettings
    ) -> tuple[list[Shown], tuple[float, float] | None]:
        """The first image's channels' display settings as written, and the
        range of values it declares (NGFF window min/max; OME: that of
        SignificantBits)."""
        raise NotImplementedError

    # helpers ----------------------------------------------------------------

    def root_path(self, directory: Path) -> str:
        """Where a dataset of this backend is written, for a test directory."""
        return root_for(directory, self.backend)

    def output_format(self) -> Any:
        """The `format=` of this suite's settings: the backend's name."""
        return self.backend

    def make_settings(
        self,
        dims: Sequence[Dimension],
        *,
        root: Path | None = None,
        shape: tuple[int, int] = SHAPE,
        **kwargs: Any,
    ) -> AcquisitionSettings:
        """uint16 settings for this backend; Y, X in µm (0.5 per pixel)."""
        return AcquisitionSettings(
            root_path=self.root_path(root or self.tmp),
            format=self.output_format(),
            dimensions=[
                *dims,
                Dimension(name="y", count=shape[0], unit="um", scale=0.5),
                Dimension(name="x", count=shape[1], unit="um", scale=0.5),
            ],
            dtype="uint16",
            **kwargs,
        )

    def write(
        self, settings: AcquisitionSettings, frames: Sequence[np.ndarray | None]
    ) -> OMEStream:
        """Append `frames` (None: skip one) and close; check the view after."""
        with create_stream(settings) as stream:
            self.stream = stream
            view = stream.view()
            for data in frames:
                if data is None:
                    stream.skip()
                else:
                    stream.append(data)
        assert_view(settings, frames, view)
        return stream

    def assert_live_view(
        self,
        settings: AcquisitionSettings,
        frames: Sequence[np.ndarray | None],
        view: Any,
    ) -> None:
        """While acquiring, a backend with complete live reads shows every
        frame appended so far (others: nothing to check until close)."""
        if self.record.complete_live_reads:
            assert_view(settings, frames, view)

    def assert_stored(
        self, settings: AcquisitionSettings, frames: Sequence[np.ndarray | None]
    ) -> None:
        """Every position, read back, holds exactly the model's frames."""
        self.check_dataset(settings)
        for position in range(len(settings.positions)):
            got = self.read_back(settings, position)
            assert_position(settings, frames, got, position)

    # 1. scenarios -----------------------------------------------------------

    @pytest.mark.parametrize("scenario", list(SCENARIOS))
    def test_scenario(self, scenario: str) -> None:
        case = SCENARIOS[scenario]
        if self.record.format not in case.formats:
            pytest.skip(f"{scenario} is a feature of {'/'.join(case.formats)}")
        settings = self.make_settings(case.dims, **case.kwargs)
        n_frames = case.n_frames if case.n_frames is not None else settings.num_frames
        frames = [frame(n) for n in range(n_frames or 0)]
        self.write(settings, frames)
        self.assert_stored(settings, frames)

    @pytest.mark.parametrize("compression", ALL_COMPRESSIONS)
    def test_compression(self, compression: str) -> None:
        dims = [
            Dimension(name="t", count=3, type="time"),
            Dimension(name="z", count=2, chunk_size=2),
        ]
        supported = self.record.compressions
        if supported and compression not in supported:  # refused up front
            with pytest.raises(ValueError, match="not supported"):
                self.make_settings(dims, compression=compression)
            assert not any(self.tmp.iterdir())
            return
        settings = self.make_settings(dims, compression=compression)
        rng = np.random.default_rng(7)
        frames = [rng.integers(0, 4000, SHAPE, dtype="uint16") for _ in range(6)]
        self.write(settings, frames)
        self.assert_stored(settings, frames)
        if supported:  # (empty: compression does not apply and is ignored)
            assert self.stored_compression(settings) == compression

    # 2. the stream state machine --------------------------------------------

    def test_stream_state_machine(self) -> None:
        machine = type("Machine", (StreamMachine,), {"suite": self})
        run_state_machine_as_test(
            machine,
            settings=hypothesis_settings(
                max_examples=self.stateful_examples,
                stateful_step_count=self.stateful_steps,
                deadline=None,
            ),
        )

    # 3. the view equals the (transposed) stored data --------------------------

    def test_view_equals_stored(self) -> None:
        @given(case=acquisitions(max_frames=12))
        @hypothesis_settings(
            max_examples=self.view_examples,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow],
        )
        def check(case: tuple[AcquisitionSettings, int]) -> None:
            with tempfile.TemporaryDirectory(prefix="ome-writers-view-") as tmp:
                self._check_view(case, Path(tmp))

        check()

    def _check_view(self, case: tuple[AcquisitionSettings, int], tmp: Path) -> None:
        base, n_frames = case
        try:
            settings = AcquisitionSettings.model_validate(
                {
                    **base.model_dump(),
                    "root_path": self.root_path(tmp),
                    "format": self.output_format(),
                }
            )
            stream = create_stream(settings)
        except (ValueError, NotImplementedError) as e:
            event(f"refused: {type(e).__name__}")
            assert not any(tmp.iterdir()), "a refused stream left files behind"
            return
        self.stream = stream
        rng = np.random.default_rng(n_frames)
        shape = tuple(int(d.count or 0) for d in settings.frame_dimensions)
        frames = [
            rng.integers(1, 60000, shape, dtype="uint16") for _ in range(n_frames)
        ]
        with stream:
            view = stream.view()
            full = stream.view(dynamic_shape=False)
            for data in frames:
                stream.append(data)
            assert view.dims == tuple(d.name for d in settings.dimensions)
            bounded = [d.count for d in settings.dimensions]
            assert full.shape == tuple(
                v if b is None else b for v, b in zip(view.shape, bounded, strict=True)
            )
            self.assert_live_view(settings, frames, view)
        assert_view(settings, frames, view)
        self.assert_stored(settings, frames)

    @pytest.mark.parametrize("scenario", LIVE_SCENARIOS)
    def test_live_view(self, scenario: str) -> None:
        """Right after each append the live view shows every frame so far."""
        if not self.record.complete_live_reads:
            pytest.skip("frames become readable at close (complete_live_reads)")
        case = SCENARIOS[scenario]
        settings = self.make_settings(case.dims, **case.kwargs)
        n_frames = case.n_frames if case.n_frames is not None else settings.num_frames
        frames: list[np.ndarray | None] = []
        with create_stream(settings) as stream:
            self.stream = stream
            view = stream.view()
            for n in range(n_frames or 0):
                frames.append(frame(n))
                stream.append(frame(n))
                self.assert_live_view(settings, frames, view)

    # 4. buffer reuse ----------------------------------------------------------

    @pytest.mark.parametrize("z_chunk", [1, 4])
    def test_buffer_reuse(self, z_chunk: int) -> None:
        """The caller may overwrite a frame's buffer as soon as append returns."""
        settings = self.make_settings(
            [
                Dimension(name="t", count=3),
                Dimension(name="z", count=4, chunk_size=z_chunk),
            ]
        )
        buf = np.empty(SHAPE, "uint16")
        frames = [frame(n) for n in range(settings.num_frames or 0)]
        with create_stream(settings) as stream:
            self.stream = stream
            for data in frames:
                buf[:] = data
                stream.append(buf)
                buf[:] = 0xFFFF
        assert_view(settings, frames, stream.view())
        self.assert_stored(settings, frames)

    # 5. unbounded growth --------------------------------------------------------

    @pytest.mark.parametrize(("n_frames", "channels"), [(37, 1), (11, 2)])
    def test_unbounded_growth(self, n_frames: int, channels: int) -> None:
        dims = [Dimension(name="t", count=None, type="time", chunk_size=4)]
        if channels > 1:
            dims.append(CHANNELS)
        settings = self.make_settings(dims)
        frames = [frame(n) for n in range(n_frames)]
        stream = self.write(settings, frames)
        t = -(-n_frames // channels)
        assert stream.view().shape[0] == t
        # exactly the timepoints appended, not the allocated size
        assert self.read_back(settings, 0).shape[0] == t
        self.assert_stored(settings, frames)

    # 6. skip ------------------------------------------------------------------

    @pytest.mark.parametrize("count", [4, None])
    def test_skip(self, count: int | None) -> None:
        settings = self.make_settings(
            [Dimension(name="t", count=count), Dimension(name="c", count=2)]
        )
        with create_stream(settings) as stream:
            self.stream = stream
            with pytest.raises(ValueError, match="frames must be positive, got 0"):
                stream.skip(frames=0)
            with pytest.raises(TypeError):
                stream.skip(2)  # type: ignore[misc]
            stream.append(frame(0))
            stream.skip(frames=2)
            stream.append(frame(3))
            stream.append(frame(4))
            stream.skip()
            stream.append(frame(6))
            if count is not None:
                with pytest.raises(IndexError, match="would exceed total of 8"):
                    stream.skip(frames=2)
            stream.skip()  # the last frame
        frames = [frame(0), None, None, frame(3), frame(4), None, frame(6), None]
        assert_view(settings, frames, stream.view())
        self.assert_stored(settings, frames)

    # 7. metadata round trip ---------------------------------------------------

    def test_metadata_round_trip(self) -> None:
        if not self.record.writes_files:
            pytest.skip("no files: there is no written metadata to read")
        settings = self.make_settings(
            [
                Dimension(name="t", count=2, type="time", unit="s", scale=2.0),
                CHANNELS,
                Dimension(name="z", count=3, unit="um", scale=0.25),
            ]
        )

        def meta(n: int) -> dict[str, Any]:
            return {
                "delta_t": n * 0.5,
                "exposure_time": 0.01,
                "n": n,
                "label": f"frame {n}",
                "nested": {"k": [n, "x"]},
            }

        with create_stream(settings) as stream:
            stream.set_global_metadata("myns", {"a": 1})
            for n in range(12):
                stream.append(frame(n), frame_metadata=meta(n))
            stream.set_global_metadata("myns", {"a": 2, "b": {"c": [1, 2]}})
        stream.set_global_metadata("later", {"k": "v"})  # allowed after close

        image = self.read_image_metadata(settings)
        assert image.channels == ["DAPI", "FITC"]
        assert {k: image.scales.get(k) for k in "tzyx"} == {
            "t": (2.0, "second"),
            "z": (0.25, "micrometer"),
            "y": (0.5, "micrometer"),
            "x": (0.5, "micrometer"),
        }
        written = self.read_frame_metadata(settings)
        cells = list(np.ndindex(2, 2, 3))
        assert sorted(written) == cells
        for n, cell in enumerate(cells):
            assert {k: written[cell].get(k) for k in meta(n)} == meta(n), cell
        found = self.read_global_metadata(settings)
        assert found["myns"] == {"a": 2, "b": {"c": [1, 2]}}
        assert found["later"] == {"k": "v"}

    # 7b. display settings -------------------------------------------------------

    def test_display_settings(self) -> None:
        """What a viewer's user set mid-run is readable after the next visit
        and written at close; a 12-bit camera's values are 0..4095."""
        if not self.record.writes_files:
            pytest.skip("no files: there is no written metadata to read")
        import ome_writers

        settings = self.make_settings(
            [Dimension(name="t", count=3, type="time"), CHANNELS],
            significant_bits=12,
            loss_window=None,
        )
        with create_stream(settings) as stream:
            for n in range(4):
                stream.append(frame(n))
            stream.set_channel_display(
                "FITC", color="magenta", contrast_limits=(100, 3000), visible=False
            )
            stream.set_channel_display(0, contrast_limits=(10, 20))
            stream._make_readable()  # a loss-window visit
            if self.opens_before_first_flush:
                with ome_writers.open(settings.output_path) as live:
                    seen = [
                        (c.name, c.color, c.window, c.visible) for c in live.channels
                    ]
                assert seen == [
                    ("DAPI", "#0000FF", (10.0, 20.0), True),
                    ("FITC", "#FF00FF", (100.0, 3000.0), False),
                ]
            else:  # no array to open yet: the image's document says it
                assert self.read_display(settings)[0] == [
                    Shown("0000FF", (10.0, 20.0), True),
                    Shown("FF00FF", (100.0, 3000.0), False),
                ]
            stream.set_channel_display(1, visible=True)  # changed again
            for n in range(4, 6):
                stream.append(frame(n))
        shown, values = self.read_display(settings)
        assert shown == [
            Shown("0000FF", (10.0, 20.0), True),
            Shown("FF00FF", (100.0, 3000.0), True),
        ]
        assert values == (0.0, 4095.0)
        with ome_writers.open(settings.output_path) as closed:
            assert [c.window for c in closed.channels] == [
                (10.0, 20.0),
                (100.0, 3000.0),
            ]
            assert [c.visible for c in closed.channels] == [True, True]

    # 8. bad input ---------------------------------------------------------------

    def test_bad_input_keeps_data_and_slot(self) -> None:
        """A rejected call names the problem, uses no frame slot and loses nothing."""
        settings = self.make_settings(
            [Dimension(name="t", count=4), Dimension(name="c", count=2)]
        )
        stream = create_stream(settings)
        self.stream = stream
        for n in range(3):
            stream.append(frame(n))
        rejected = [
            (np.zeros((X, Y), "uint16"), FrameShapeError, rf"shape \({X}, {Y}\), "),
            (np.zeros((1, *SHAPE), "uint16"), FrameShapeError, "expected"),
            (np.zeros(SHAPE, "uint8"), FrameDtypeError, "dtype uint8, expected uint16"),
            (np.zeros(SHAPE, "float64"), FrameDtypeError, "dtype float64"),
            ([[0] * X] * Y, FrameDtypeError, "dtype int64"),
            (object(), FrameShapeError, r"shape \(\)"),
            ("not a frame", FrameShapeError, "shape"),
        ]
        for bad, error, message in rejected:
            with pytest.raises(error, match=message):
                stream.append(bad)
        # catchable as built-in types
        with pytest.raises(ValueError, match="expected"):
            stream.append(np.zeros((3, 3), "uint16"))
        with pytest.raises(TypeError):
            stream.append(np.zeros(SHAPE, "int32"))
        with pytest.raises(IndexError, match="would exceed total of 8 frames"):
            stream.skip(frames=6)
        for n in range(3, 8):  # the refused calls used no slot
            stream.append(frame(n))
        with pytest.raises(IndexError, match="would exceed total of 8 frames"):
            stream.append(frame(8))
        stream.close()
        with pytest.raises(StreamClosedError, match="closed"):
            stream.append(frame(0))
        with pytest.raises(StreamClosedError, match="closed"):
            stream.skip()
        frames = [frame(n) for n in range(8)]
        assert_view(settings, frames, stream.view())
        self.assert_stored(settings, frames)

    # 9. a failure in a background write -----------------------------------------

    def test_background_failure(self) -> None:
        """Reported once, at a later append; close still describes what reached
        the disk (the unbounded array cut, per-frame metadata written)."""
        if not self.record.writes_in_background:
            pytest.skip("writes complete inside append: nothing fails later")
        t = Dimension(name="t", count=None, chunk_size=1)  # a write per frame
        settings = self.make_settings([t], shape=(32, 32))
        stream = create_stream(settings, checkpoint_seconds=None)
        self.stream = stream
        fail_at = 5  # the sixth write fails
        files, pending = _background_writes(stream._backend)
        if files is not None:  # chunk files written by a thread of ours
            _fail_after_writing(files, fail_at)
        else:
            assert pending is not None, "no tracker of background writes to fail"
            _fail_after_landing(pending, fail_at)
        accepted = 0
        with pytest.raises(OSError, match="injected I/O error"):
            # a camera's pace: the failure is reported once the writes before
            # it have landed (a bucket's take longer than 50 quick appends)
            for i in range(2000):
                stream.append(
                    np.full((32, 32), i + 1, "uint16"), frame_metadata={"i": i}
                )
                accepted += 1
                time.sleep(0.001)
        assert fail_at < accepted < 2000
        stream.close()  # the failure was reported: close does not raise it again
        stream.close()
        frames = [np.full((32, 32), i + 1, "uint16") for i in range(accepted)]
        # cut to the frames appended (not the one whose append raised), not
        # left at the allocated size of the unbounded axis
        assert self.read_back(settings, 0).shape[0] == accepted
        self.assert_stored(settings, frames)
        written = self.read_frame_metadata(settings)
        assert sorted(written) == [(i,) for i in range(accepted)]
        assert [written[(i,)]["i"] for i in range(accepted)] == list(range(accepted))


def _fail_after_landing(pending: Any, fail_at: int) -> None:
    """Write number `fail_at` (from 0) lands, then is reported as failed."""
    track = pending.add
    writes = [0]

    def add(future: Any, nbytes: int, *args: Any, **kwargs: Any) -> None:
        if writes[0] == fail_at:
            future.result()
            future = Future()
            future.set_exception(OSError(errno.EIO, "injected I/O error"))
        writes[0] += 1
        track(future, nbytes, *args, **kwargs)

    pending.add = add


def _background_writes(backend: Any) -> tuple[Any, Any]:
    """A backend's chunk files of ours and its tracker of writes in flight,
    whichever it has (None: not this one)."""
    arrays = getattr(backend, "arrays", None)
    if arrays is None:  # not an OME-Zarr dataset
        return getattr(backend, "_files", None), getattr(backend, "_pending", None)
    writer = arrays.writer
    library = getattr(writer, "inner", writer)
    return getattr(writer, "files", None), getattr(library, "_pending", None)


def _fail_after_writing(files: Any, fail_at: int) -> None:
    """The chunk file of write number `fail_at` (from 0) lands, then that
    write is reported as failed."""
    count = files.flusher.add  # called once a chunk file is in place
    writes = [0]

    def add(nbytes: int, unit: Any) -> None:
        count(nbytes, unit)
        writes[0] += 1
        if writes[0] == fail_at + 1:
            raise OSError(errno.EIO, "injected I/O error")

    files.flusher.add = add


# ------------------------------------------------------------------ formats


def _json_value(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return text


class ZarrConformance(BackendConformance):
    """OME-Zarr backends: read with zarr-python (and tensorstore), validated
    with yaozarrs, layout checked against the settings."""

    def read_back(self, settings: AcquisitionSettings, position: int) -> np.ndarray:
        return to_declared(settings, read_zarr(zarr_array_paths(settings)[position]))

    def validate(self, root: Path) -> None:
        """The dataset validates with yaozarrs."""
        import yaozarrs

        yaozarrs.validate_zarr_store(str(root))

    def check_dataset(self, settings: AcquisitionSettings) -> None:
        root = Path(settings.output_path)
        self.validate(root)
        groups = zarr_image_groups(root, settings.positions)
        if groups != [root]:  # a collection or plate: images named by position
            names = [ngff(g)["multiscales"][0]["name"] for g in groups]
            assert names == [p.name for p in settings.positions]
        dims = {d.name: d for d in settings.dimensions}
        frame_names = [d.name for d in settings.frame_dimensions]
        index = [d.name for d in settings.array_dimensions[:-2]]
        if isinstance(settings.storage_order, list):
            order = [n for n in settings.storage_order if n in index]
        elif settings.storage_order == "acquisition":
            order = index
        else:  # NGFF: time, then channel and custom axes, then space
            rank = {"time": 0, "channel": 1, "space": 3}
            order = sorted(index, key=lambda n: rank.get(_kind(dims[n]), 2))
        # the layout the settings report: the chosen one, or the default
        # grouping of small frames
        stored = {d.name: d for d in settings.array_storage_dimensions}
        for path in zarr_array_paths(settings):
            layout = array_layout(path)
            names = layout.names
            assert names == [*order, *frame_names], path
            chunks = [
                stored[n].chunk_size or (stored[n].count if n in frame_names else 1)
                for n in names
            ]
            counts = [stored[n].count for n in names]
            shards = [
                # a shard holds at most the chunks covering the array
                c * min(stored[n].shard_size_chunks or 1, -(-(k or 2**62) // c))
                for c, n, k in zip(chunks, names, counts, strict=True)
            ]
            grid = layout.shards or layout.chunks
            if layout.shards is None and any(
                d.shard_size_chunks for d in settings.dimensions
            ):
                raise AssertionError(f"{path}: shards requested, none written")
            assert (layout.chunks, grid) == (chunks, shards), path

    def stored_compression(self, settings: AcquisitionSettings) -> str:
        return array_layout(zarr_array_paths(settings)[0]).compression

    def read_image_metadata(self, settings: AcquisitionSettings) -> ImageMetadata:
        group = zarr_image_groups(Path(settings.output_path), settings.positions)[0]
        ome = ngff(group)
        multiscale = ome["multiscales"][0]
        scale = multiscale["datasets"][0]["coordinateTransformations"][0]["scale"]
        return ImageMetadata(
            channels=[c["label"] for c in ome.get("omero", {}).get("channels", [])],
            scales={
                a["name"]: (s, a.get("unit"))
                for a, s in zip(multiscale["axes"], scale, strict=True)
            },
        )

    def read_frame_metadata(
        self, settings: AcquisitionSettings
    ) -> dict[tuple[int, ...], dict[str, Any]]:
        root = Path(settings.output_path)
        records = attributes(root)["ome_writers"]["frame_metadata"]
        names = array_layout(zarr_array_paths(settings)[0]).names[:-2]
        declared = [d.name for d in settings.array_dimensions[:-2]]
        out = {}
        for record in records:
            values = dict(record)
            by_name = dict(zip(names, values.pop("storage_index"), strict=True))
            out[tuple(by_name[n] for n in declared)] = values
        return out

    def read_global_metadata(
        self, settings: AcquisitionSettings
    ) -> dict[str, dict[str, Any]]:
        return attributes(Path(settings.output_path))

    def read_display(
        self, settings: AcquisitionSettings
    ) -> tuple[list[Shown], tuple[float, float] | None]:
        import zarr

        root = Path(settings.output_path)
        group = zarr_image_groups(root, settings.positions)[0]
        attrs = zarr.open_group(group, mode="r").attrs.asdict()
        omero = attrs.get("ome", attrs)["omero"]  # NGFF 0.4: the attributes
        shown, ranges = [], set()
        for c in omero["channels"]:
            window = c["window"]
            shown.append(
                Shown(c["color"], (window["start"], window["end"]), c["active"])
            )
            ranges.add((window["min"], window["max"]))
        (values,) = ranges
        return shown, values


class ZarrNgff04Conformance(ZarrConformance):
    """The OME-Zarr cases written as OME-Zarr 0.4 (Zarr v2): read by
    zarr-python and tensorstore as Zarr v2 arrays, validated by yaozarrs as
    NGFF 0.4; shards, which Zarr v2 lacks, are refused with the settings."""

    def output_format(self) -> Any:
        return {"backend": self.backend, "ngff_version": "0.4"}

    def validate(self, root: Path) -> None:
        """NGFF 0.4 on Zarr v2, valid for yaozarrs. A collection is validated
        image by image: yaozarrs finds the version of a 0.4 collection in an
        image named "0" only, while the OME group's series may name them."""
        import yaozarrs

        assert json.loads((root / ".zgroup").read_text()) == {"zarr_format": 2}
        assert not list(root.rglob("zarr.json")), "a Zarr v3 document in 0.4"
        attrs = attributes(root)
        if "bioformats2raw.layout" in attrs and "plate" not in attrs:
            yaozarrs.v04.Bf2Raw.model_validate(attrs)
            series = yaozarrs.v04.Series.model_validate(ngff(root / "OME")).series
            images = [root / name for name in series]
        else:
            images = [root]
        for image in images:
            group = yaozarrs.validate_zarr_store(str(image))
            assert (group.zarr_format, group.ome_version()) == (2, "0.4")

    def check_dataset(self, settings: AcquisitionSettings) -> None:
        super().check_dataset(settings)
        root = Path(settings.output_path)
        for group in zarr_image_groups(root, settings.positions):
            (multiscale,) = ngff(group)["multiscales"]
            assert multiscale["version"] == "0.4"

    @pytest.mark.parametrize("scenario", list(SCENARIOS))
    def test_scenario(self, scenario: str) -> None:
        case = SCENARIOS[scenario]
        if any(d.shard_size_chunks for d in case.dims):
            with pytest.raises(ValueError, match="Zarr v2, which has no shards"):
                self.make_settings(case.dims, **case.kwargs)
            assert not any(self.tmp.iterdir())
            return
        super().test_scenario(scenario)


class TiffConformance(BackendConformance):
    """OME-TIFF backends: read with tifffile, sizes checked against the
    OME-XML (parsed by ome-types)."""

    def _ome(self, settings: AcquisitionSettings) -> Any:
        import ome_types
        import tifffile

        with tifffile.TiffFile(tiff_files(settings)[0]) as tif:
            xml = tif.ome_metadata
        assert xml is not None
        return ome_types.from_xml(xml)

    def read_back(self, settings: AcquisitionSettings, position: int) -> np.ndarray:
        stored = read_tiff(settings)[position]
        image = self._ome(settings).images[position]
        pixels = image.pixels
        sizes = dict(zip(stored.axes, stored.data.shape, strict=True))
        assert [sizes[a] for a in "ZCTYX"] == [
            pixels.size_z,
            pixels.size_c,
            pixels.size_t,
            pixels.size_y,
            pixels.size_x,
        ]
        if settings.position_dimension_index is not None:
            assert image.name == settings.positions[position].name
        return to_declared(settings, stored)

    def check_dataset(self, settings: AcquisitionSettings) -> None:
        files = tiff_files(settings)
        positions = len(settings.positions)
        assert len(files) == (1 if Path(settings.output_path).is_file() else positions)
        ome = self._ome(settings)
        assert len(ome.images) == positions
        assert bool(ome.plates) == (settings.plate is not None)
        # DimensionOrder lists the storage order (the acquisition order, or
        # an explicit list), fastest first
        index = [d.name for d in settings.array_dimensions[:-2]]
        order = settings.storage_order
        names = [n for n in order if n in index] if isinstance(order, list) else index
        letters = list(dict.fromkeys(tiff_letter(settings, n) for n in reversed(names)))
        for image in ome.images:
            dimension_order = image.pixels.dimension_order.value[2:]
            found = [dimension_order.index(k) for k in letters]
            assert found == sorted(found), (dimension_order, letters)

    def stored_compression(self, settings: AcquisitionSettings) -> str:
        import tifffile

        names = {1: "none", 5: "lzw", 8: "zlib", 50000: "zstd"}
        with tifffile.TiffFile(tiff_files(settings)[0]) as tif:
            found = {names[int(page.compression)] for page in tif.pages}
        (name,) = found
        return name

    def read_image_metadata(self, settings: AcquisitionSettings) -> ImageMetadata:
        pixels = self._ome(settings).images[0].pixels

        def unit(value: Any) -> str | None:
            return None if value is None else str(value.name).lower()

        return ImageMetadata(
            channels=[c.name for c in pixels.channels],
            scales={
                "x": (pixels.physical_size_x, unit(pixels.physical_size_x_unit)),
                "y": (pixels.physical_size_y, unit(pixels.physical_size_y_unit)),
                "z": (pixels.physical_size_z, unit(pixels.physical_size_z_unit)),
                "t": (pixels.time_increment, unit(pixels.time_increment_unit)),
            },
        )

    def read_frame_metadata(
        self, settings: AcquisitionSettings
    ) -> dict[tuple[int, ...], dict[str, Any]]:
        ome = self._ome(settings)
        annotations = {
            a.id: a
            for a in (
                ome.structured_annotations.map_annotations
                if ome.structured_annotations
                else []
            )
        }
        declared = [d.name for d in settings.array_dimensions[:-2]]
        out = {}
        for plane in ome.images[0].pixels.planes:
            at = {"Z": plane.the_z, "C": plane.the_c, "T": plane.the_t}
            cell = tuple(at[tiff_letter(settings, n)] for n in declared)
            values: dict[str, Any] = {}
            for key in ("delta_t", "exposure_time"):
                value = getattr(plane, key)
                if value is not None:
                    assert getattr(plane, f"{key}_unit").name == "SECOND"
                    values[key] = value
            for ref in plane.annotation_refs:
                for kv in annotations[ref.id].value.ms:
                    values[kv.k] = _json_value(kv.value)
            out[cell] = values
        return out

    def read_global_metadata(
        self, settings: AcquisitionSettings
    ) -> dict[str, dict[str, Any]]:
        ome = self._ome(settings)
        maps = (
            ome.structured_annotations.map_annotations
            if ome.structured_annotations
            else []
        )
        return {
            a.namespace: {kv.k: _json_value(kv.value) for kv in a.value.ms}
            for a in maps
            if a.namespace
        }

    def read_display(
        self, settings: AcquisitionSettings
    ) -> tuple[list[Shown], tuple[float, float] | None]:
        ome = self._ome(settings)
        maps = {
            a.id: {kv.k: _json_value(kv.value) for kv in a.value.ms}
            for a in (
                ome.structured_annotations.map_annotations
                if ome.structured_annotations
                else []
            )
            if a.namespace == "ome_writers.display"
        }
        pixels = ome.images[0].pixels
        shown = []
        for channel in pixels.channels:
            values: dict[str, Any] = {}
            for ref in channel.annotation_refs:
                values.update(maps.get(ref.id, {}))
            limits = values.get("contrast_limits")
            r, g, b = channel.color.as_rgb_tuple(alpha=False)
            shown.append(
                Shown(
                    f"{r:02X}{g:02X}{b:02X}",
                    None if limits is None else (limits[0], limits[1]),
                    values.get("visible", True),
                )
            )
        bits = pixels.significant_bits
        return shown, None if bits is None else (0.0, float(2**bits - 1))


class ScratchConformance(BackendConformance):
    """The in-memory scratch format. It writes no files, so there is no
    independent reader: `read_back` reads the view of the stream that wrote
    the data (the cases still check it against the numpy model)."""

    stateful_examples = 40
    stateful_steps = 25
    view_examples = 150

    def read_back(self, settings: AcquisitionSettings, position: int) -> np.ndarray:
        assert self.stream is not None, "no stream was written"
        if settings.position_dimension_index is None:
            return np.asarray(self.stream.view(dynamic_shape=False))
        return np.asarray(self.stream.view(dynamic_shape=False, position=position))


def _kind(dim: Dimension) -> str:
    names = {"t": "time", "c": "channel", "z": "space", "y": "space", "x": "space"}
    return dim.type or names.get(dim.name.lower(), "other")


# --------------------------------------------------------- the state machine


class StreamMachine(RuleBasedStateMachine):
    """append / skip / bad input / metadata / checkpoint / close, against a
    numpy model. Frames are (t unbounded) x (c=2) x (y, x); `suite` (the
    backend's test case) makes the settings and reads the dataset back."""

    suite: ClassVar[BackendConformance]
    shape = (2, 3)

    def __init__(self) -> None:
        super().__init__()
        self.dir = Path(tempfile.mkdtemp(prefix="ome-writers-machine-"))
        self.settings = self.suite.make_settings(
            [
                Dimension(name="t", count=None, type="time"),
                Dimension(name="c", type="channel", coords=["a", "b"]),
            ],
            root=self.dir,
            shape=self.shape,
        )
        self.stream = create_stream(self.settings, checkpoint_seconds=None)
        self.suite.stream = self.stream
        self.view = self.stream.view()
        self.frames: list[np.ndarray | None] = []  # None: skipped
        self.global_metadata: dict[str, dict[str, Any]] = {}
        self.closed = False

    @precondition(lambda self: not self.closed)
    @rule(value=st.integers(1, 60000))
    def append(self, value: int) -> None:
        data = np.full(self.shape, value, "uint16")
        self.stream.append(data, frame_metadata={"v": value})
        self.frames.append(data)

    @precondition(lambda self: not self.closed)
    @rule(bad=st.sampled_from(["shape", "dtype"]))
    def bad_append(self, bad: str) -> None:
        if bad == "shape":
            with pytest.raises(FrameShapeError):
                self.stream.append(np.zeros(self.shape[::-1], "uint16"))
        else:
            with pytest.raises(FrameDtypeError):
                self.stream.append(np.zeros(self.shape, "float32"))

    @precondition(lambda self: not self.closed)
    @rule(n=st.integers(1, 3))
    def skip(self, n: int) -> None:
        self.stream.skip(frames=n)
        self.frames.extend([None] * n)

    @precondition(lambda self: not self.closed)
    @rule()
    def checkpoint(self) -> None:
        self.stream.checkpoint()  # every frame so far readable
        self.suite.assert_live_view(self.settings, self.frames, self.view)

    @rule(ns=st.sampled_from(["a", "b"]), value=st.integers(-(2**31), 2**31))
    def global_metadata(self, ns: str, value: int) -> None:
        self.stream.set_global_metadata(ns, {"value": value})
        self.global_metadata[ns] = {"value": value}

    @rule()
    def close(self) -> None:
        self.stream.close()
        self.closed = True
        self.suite.assert_stored(self.settings, self.frames)
        if self.suite.record.writes_files:
            written = self.suite.read_global_metadata(self.settings)
            for ns, value in self.global_metadata.items():
                assert written[ns] == value, ns

    @precondition(lambda self: self.closed)
    @rule()
    def use_after_close(self) -> None:
        with pytest.raises(StreamClosedError):
            self.stream.append(np.zeros(self.shape, "uint16"))
        with pytest.raises(StreamClosedError):
            self.stream.skip()

    @invariant()
    def view_matches_model(self) -> None:
        """The view's extent follows the model; its data once closed (while
        acquiring, after a checkpoint: see `checkpoint`)."""
        n = len(self.frames)
        t = -(-n // 2)
        assert self.view.shape == ((t, min(n, 2)) if n else (0, 0)) + self.shape
        if self.closed:
            assert_view(self.settings, self.frames, self.view)

    def teardown(self) -> None:
        try:
            self.stream.close()
        finally:
            shutil.rmtree(self.dir, ignore_errors=True)
