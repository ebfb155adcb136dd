"""State machine over append / skip / view / metadata / close against a numpy model."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from ome_writers import AcquisitionSettings, Dimension, create_stream
from ome_writers.errors import FrameDtypeError, FrameShapeError, StreamClosedError

SHAPE = (2, 3)


class StreamMachine(RuleBasedStateMachine):
    """Frames are (t unbounded) x (c=2) x (y, x); the model is a list of frames."""

    def __init__(self) -> None:
        super().__init__()
        s = AcquisitionSettings(
            dimensions=[
                Dimension(name="t", count=None, type="time"),
                Dimension(name="c", type="channel", coords=["a", "b"]),
                Dimension(name="y", count=SHAPE[0]),
                Dimension(name="x", count=SHAPE[1]),
            ],
            dtype="uint16",
            format="scratch",
        )
        self.stream = create_stream(s)
        self.view = self.stream.view()
        self.model: list[np.ndarray] = []  # acquisition order; zeros for skips
        self.closed = False

    @precondition(lambda self: not self.closed)
    @rule(value=st.integers(1, 60000))
    def append(self, value: int) -> None:
        frame = np.full(SHAPE, value, "uint16")
        self.stream.append(frame, frame_metadata={"v": value})
        self.model.append(frame)

    @precondition(lambda self: not self.closed)
    @rule(bad=st.sampled_from(["shape", "dtype"]))
    def bad_append(self, bad: str) -> None:
        if bad == "shape":
            with pytest.raises(FrameShapeError):
                self.stream.append(np.zeros((3, 2), "uint16"))
        else:
            with pytest.raises(FrameDtypeError):
                self.stream.append(np.zeros(SHAPE, "float32"))

    @precondition(lambda self: not self.closed)
    @rule(n=st.integers(1, 3))
    def skip(self, n: int) -> None:
        self.stream.skip(frames=n)
        self.model.extend(np.zeros(SHAPE, "uint16") for _ in range(n))

    @rule(ns=st.sampled_from(["a", "b"]), value=st.integers())
    def global_metadata(self, ns: str, value: int) -> None:
        self.stream.set_global_metadata(ns, {"value": value})

    @rule()
    def close(self) -> None:
        self.stream.close()
        self.closed = True

    @precondition(lambda self: self.closed)
    @rule()
    def append_after_close(self) -> None:
        with pytest.raises(StreamClosedError):
            self.stream.append(np.zeros(SHAPE, "uint16"))

    @invariant()
    def view_matches_model(self) -> None:
        n = len(self.model)
        t = -(-n // 2)
        assert self.view.shape == ((t, min(n, 2)) if n else (0, 0)) + SHAPE
        expected = np.zeros((t * 2, *SHAPE), "uint16")
        if n:
            expected[:n] = np.stack(self.model)
        expected = expected.reshape(t, 2, *SHAPE)[:, : self.view.shape[1]]
        np.testing.assert_array_equal(np.asarray(self.view), expected)

    def teardown(self) -> None:
        self.stream.close()


StreamMachine.TestCase.settings = settings(
    max_examples=40, stateful_step_count=25, deadline=None
)
test_stream_lifecycle = StreamMachine.TestCase
