"""Frames in a listed order land at their cells on every Zarr backend.

Checked with independent readers (zarr-python, tensorstore, yaozarrs), against
an expected array built from the listed cells alone, with z chunks spanning
frames (out-of-order chunk assembly) and with shards.
"""

from __future__ import annotations

import itertools
import json
import random
from pathlib import Path

import numpy as np
import pytest
import tensorstore as ts
import yaozarrs
import zarr

from ome_writers import AcquisitionSettings, Dimension, create_stream
from ome_writers._registry import BY_NAME
from tests.backends.params import backend_params

ZARR_BACKENDS = backend_params(format="ome-zarr")
Y, X = 4, 5
COUNTS = {"t": 2, "p": 3, "c": 2, "z": 4}


def _dims(z_chunk: int, shard: int | None) -> list[Dimension]:
    return [
        Dimension(name="t", count=2, type="time"),
        Dimension(name="p", type="position", coords=["A", "B", "C"]),
        Dimension(name="c", type="channel", coords=["DAPI", "FITC"]),
        Dimension(
            name="z", count=4, type="space", chunk_size=z_chunk, shard_size_chunks=shard
        ),
        Dimension(name="y", count=Y),
        Dimension(name="x", count=X),
    ]


def _frame(n: int) -> np.ndarray:
    return (np.arange(Y * X, dtype="uint16").reshape(Y, X) + 100 * (n + 1)).astype(
        "uint16"
    )


CELLS = list(itertools.product(*(range(c) for c in COUNTS.values())))


def _orders() -> dict[str, list[tuple[int, ...]]]:
    shuffled = CELLS[:]
    random.Random(7).shuffle(shuffled)
    # tiles (positions) inside the t/c/z loops, as useq runs a position's own grid
    tiles_inside = [
        (t, p, c, z)
        for t in range(2)
        for c in range(2)
        for z in range(4)
        for p in range(3)
    ]
    return {"shuffled": shuffled, "tiles-inside": tiles_inside}


ORDERS = _orders()


def _expected(order: list[tuple[int, ...]]) -> np.ndarray:
    """(p, t, c, z, y, x) built from the listed cells, not from our router."""
    out = np.zeros((3, 2, 2, 4, Y, X), "uint16")
    for n, (t, p, c, z) in enumerate(order):
        out[p, t, c, z] = _frame(n)
    return out


def _array_paths(root: Path) -> list[Path]:
    return sorted(
        p.parent
        for p in root.rglob("zarr.json")
        if json.loads(p.read_text()).get("node_type") == "array"
    )


@pytest.mark.parametrize("layout", ["frame-chunks", "z-chunk-2", "sharded"])
@pytest.mark.parametrize("order_name", list(ORDERS))
@pytest.mark.parametrize("backend", ZARR_BACKENDS)
def test_listed_order_lands_in_place(
    tmp_path: Path, backend: str, order_name: str, layout: str
) -> None:
    order = ORDERS[order_name]
    z_chunk, shard = {"frame-chunks": (1, None), "z-chunk-2": (2, None)}.get(
        layout, (2, 2)
    )
    root = tmp_path / "fo.ome.zarr"
    settings = AcquisitionSettings(
        root_path=str(root),
        dimensions=_dims(z_chunk, shard),
        dtype="uint16",
        format=backend,
        frame_order=order,
    )
    if backend == "acquire-zarr" and order_name == "shuffled":
        with pytest.raises(NotImplementedError, match="C order"):
            create_stream(settings)
        assert not root.exists()  # refused before anything was created
        return
    expected = _expected(order)
    with create_stream(settings) as stream:
        view = stream.view()
        for n in range(len(order)):
            stream.append(_frame(n))
        if BY_NAME[backend].complete_live_reads:
            live = np.asarray(view)
            np.testing.assert_array_equal(live, np.moveaxis(expected, 0, 1))
    assert view.dims == ("t", "p", "c", "z", "y", "x")
    np.testing.assert_array_equal(np.asarray(view), np.moveaxis(expected, 0, 1))
    yaozarrs.validate_zarr_store(str(root))
    arrays = _array_paths(root)
    assert [a.parent.name for a in arrays] == ["A", "B", "C"]
    for p, path in enumerate(arrays):
        z = zarr.open_array(str(path), mode="r")
        assert list(z.metadata.dimension_names) == ["t", "c", "z", "y", "x"]
        np.testing.assert_array_equal(z[...], expected[p])
        t = ts.open(
            {"driver": "zarr3", "kvstore": {"driver": "file", "path": str(path)}}
        ).result()
        np.testing.assert_array_equal(t.read().result(), expected[p])


def test_unbounded_listed_order(tmp_path: Path) -> None:
    """An unbounded t repeats the listed cycle, shifted by one time point."""
    cycle = [(0, p, c) for c in range(2) for p in range(2)]
    root = tmp_path / "u.ome.zarr"
    settings = AcquisitionSettings(
        root_path=str(root),
        dimensions=[
            Dimension(name="t", count=None, type="time"),
            Dimension(name="p", type="position", coords=["A", "B"]),
            Dimension(name="c", type="channel", coords=["DAPI", "FITC"]),
            Dimension(name="y", count=Y),
            Dimension(name="x", count=X),
        ],
        dtype="uint16",
        frame_order=cycle,
    )
    with create_stream(settings) as stream:
        for n in range(10):  # 2.5 cycles
            stream.append(_frame(n))
    for p, name in enumerate(["A", "B"]):
        z = zarr.open_array(str(root / name / "0"), mode="r")
        assert z.shape == (3, 2, Y, X)
        for n in range(10):
            cycle_n, rem = divmod(n, 4)
            _, pos, c = cycle[rem]
            if pos == p:
                np.testing.assert_array_equal(z[cycle_n, c], _frame(n))
        assert not z[2, 1].any()  # the last half cycle reached channel 0 only


@pytest.mark.parametrize("seed", range(5))
def test_chunks_complete_once_in_any_order(seed: int) -> None:
    """Frames of chunks spanning several frames, in a random order: every chunk
    is handed over exactly once, complete, and nothing stays buffered."""
    from ome_writers.backends.zarr._chunk_assembly import ChunkAssembler

    shape, chunks = (3, 5), (2, 2)  # index dims: 2 x 3 chunks, the last ones short
    flushed: list[tuple[int, tuple[int, ...], np.ndarray]] = []
    assembler = ChunkAssembler(
        shape, chunks, (Y, X), np.dtype("uint16"), lambda *a: flushed.append(a)
    )
    cells = [(p, i, j) for p in range(2) for i in range(3) for j in range(5)]
    random.Random(seed).shuffle(cells)
    for n, (p, i, j) in enumerate(cells):
        assembler.add(p, (i, j), np.full((Y, X), n + 1, "uint16"))
    assert not assembler._open
    origins = [(p, origin) for p, origin, _ in flushed]
    assert len(origins) == len(set(origins)) == 2 * 2 * 3
    value = {cell: n + 1 for n, cell in enumerate(cells)}
    for p, (oi, oj), block in flushed:
        for a, b in np.ndindex(*block.shape[:2]):
            assert block[a, b, 0, 0] == value[(p, oi + a, oj + b)]


@pytest.mark.parametrize("seed", range(5))
def test_recycled_chunk_buffers_hold_only_this_chunks_frames(seed: int) -> None:
    """Buffers handed back after a flush (still holding their old frames) are
    reused: cells skipped, never planned or not yet filled read as zeros,
    whether the chunk completes, is written provisionally or at close."""
    from ome_writers.backends.zarr._chunk_assembly import ChunkAssembler

    rng = random.Random(seed)
    shape, chunks = (4, 6), (2, 3)
    flushed: list[tuple[int, tuple[int, ...], np.ndarray]] = []
    returned: list[np.ndarray] = []  # written buffers, as a writer hands back

    def flush(p: int, origin: tuple[int, ...], block: np.ndarray) -> None:
        flushed.append((p, origin, block.copy()))
        returned.append(block)

    reused: list[np.ndarray] = []

    def allocate(buffer_shape: tuple[int, ...]) -> np.ndarray | None:
        for k, buffer in enumerate(returned):
            if buffer.shape == buffer_shape:
                reused.append(returned.pop(k))
                return reused[-1]
        return None

    never = {(1, 1), (3, 5)}  # cells no frame is planned for
    assembler = ChunkAssembler(
        shape, chunks, (Y, X), np.dtype("uint16"), flush,
        planned=lambda p, cell: cell not in never, allocate=allocate,
    )  # fmt: skip
    expected: dict[tuple[int, int, int], int] = {}
    cells = [(i, j) for i in range(4) for j in range(6) if (i, j) not in never]
    for rounds in range(3):  # the same cells again: buffers come back dirty
        rng.shuffle(cells)
        skipped = set(rng.sample(cells, 4))
        for n, cell in enumerate(cells):
            if cell in skipped:
                assembler.skip(rounds, cell)
                expected[(rounds, *cell)] = 0
            else:
                value = 100 * rounds + n + 1
                assembler.add(rounds, cell, np.full((Y, X), value, "uint16"))
                expected[(rounds, *cell)] = value
    # one chunk left open: provisional and close see zeros where nothing came
    assembler.add(3, (0, 0), np.full((Y, X), 7, "uint16"))
    expected[(3, 0, 0)] = 7
    provisional = [(p, o, b.copy()) for p, o, b, _ in assembler.provisional()]
    assembler.flush_all()
    assert len(reused) >= 8  # buffers did come back, holding old frames
    for p, (oi, oj), block in [*flushed, *provisional]:
        for a, b in np.ndindex(*block.shape[:2]):
            want = expected.get((p, oi + a, oj + b), 0)
            assert (block[a, b] == want).all(), (p, oi + a, oj + b)


def test_provisional_copies_use_recycled_blocks_that_come_back_whole() -> None:
    """A partly filled chunk of an unbounded array with empty cells is
    copied, at a visit, into the start of a recycled block (already in
    memory); once written, the whole block goes back to the pool. Cells of a
    recycled block that no frame filled read as zeros, also inside the
    provisional copy. With no empty cell, the chunk's own buffer is lent."""
    from concurrent.futures import Future

    from ome_writers.backends.zarr._chunk_assembly import ChunkAssembler
    from ome_writers.backends.zarr._writes_in_flight import PendingWrites

    pending = PendingWrites(max_items=8)
    done: Future[None] = Future()
    done.set_result(None)
    flushed: list[np.ndarray] = []

    def write(p: int, origin: tuple[int, ...], block: np.ndarray) -> None:
        flushed.append(block.copy())
        pending.add(done, block.nbytes, block)

    assembler = ChunkAssembler(
        (None, 2), (4, 2), (Y, X), np.dtype("uint16"), write, allocate=pending.reuse
    )

    def frame(value: int) -> np.ndarray:
        return np.full((Y, X), value, "uint16")

    # two chunks of old frames, written and recycled: blocks holding 1..16
    for t in range(8):
        for c in range(2):
            assembler.add(0, (t, c), frame(2 * t + c + 1))
    pending.drain()
    assert pending.pooled == 2
    blocks = [pending.reuse((4, 2, Y, X)) for _ in range(2)]
    assert all(b is not None for b in blocks)
    for b in blocks:  # handed back unused, still holding the old frames
        pending.add(done, 0, b)
    pending.drain()

    assembler.add(0, (8, 0), frame(100))  # (8, 1) not yet
    assembler.add(0, (9, 1), frame(101))  # (9, 0) not yet
    [(_, origin, copy, borrowed)] = list(assembler.provisional())
    assert origin == (8, 0) and copy.shape == (2, 2, Y, X) and not borrowed
    assert any(np.shares_memory(copy, b) for b in blocks)  # no new memory
    want = np.zeros((2, 2, Y, X), "uint16")
    want[0, 0], want[1, 1] = 100, 101
    np.testing.assert_array_equal(copy, want)
    pending.add(done, copy.nbytes, copy)
    pending.drain()
    assert pending.pooled == 1  # the whole block again, not the trimmed view
    again = pending.reuse((4, 2, Y, X))
    assert again is not None and np.shares_memory(again, copy)

    assembler.add(0, (8, 1), frame(102))
    assembler.add(0, (9, 0), frame(103))
    # every cell so far filled: the chunk's own buffer, not a copy
    [(_, _, view, borrowed)] = list(assembler.provisional())
    (chunk,) = assembler._open.values()
    assert borrowed and view.shape == (2, 2, Y, X)
    assert np.shares_memory(view, chunk.buffer)
    assembler.skip(0, (10, 0))
    assembler.skip(0, (10, 1))
    for c in range(2):
        assembler.add(0, (11, c), frame(104 + c))
    last = flushed[-1]  # complete: the skipped cells hold zeros, not old frames
    assert [int(last[t, c, 0, 0]) for t in range(4) for c in range(2)] == [
        100, 102, 103, 101, 0, 0, 104, 105,
    ]  # fmt: skip


@pytest.mark.parametrize("backend", ZARR_BACKENDS)
def test_jagged_order_records_cells_not_acquired(tmp_path: Path, backend: str) -> None:
    """FITC takes only the middle plane of each stack: cells never acquired stay
    empty, are listed in the image group, and no chunk waits for them."""
    order: list[tuple[int, ...]] = []
    for t in range(2):
        order += [(t, 0, z) for z in range(4)] + [(t, 1, 1)]
    root = tmp_path / "j.ome.zarr"
    settings = AcquisitionSettings(
        root_path=str(root),
        dimensions=[
            Dimension(name="t", count=2, type="time"),
            Dimension(name="c", type="channel", coords=["DAPI", "FITC"]),
            Dimension(name="z", count=4, type="space", chunk_size=2),
            Dimension(name="y", count=Y),
            Dimension(name="x", count=X),
        ],
        dtype="uint16",
        format=backend,
        frame_order=order,
    )
    if backend == "acquire-zarr":
        with pytest.raises(NotImplementedError, match="leaves cells out"):
            create_stream(settings)
        return
    assert settings.num_frames == 10
    with create_stream(settings) as stream:
        for n in range(10):
            stream.append(_frame(n))
        assembler = stream._backend.arrays.assembler
        assert assembler is not None and not assembler._open  # all handed over
    data = zarr.open_array(str(root / "0"), mode="r")[...]
    for n, cell in enumerate(order):
        np.testing.assert_array_equal(data[cell], _frame(n))
    holes = [(t, 1, z) for t in range(2) for z in (0, 2, 3)]
    for cell in holes:
        assert not data[cell].any()
    attrs = json.loads((root / "zarr.json").read_text())["attributes"]
    assert sorted(map(tuple, attrs["ome_writers"]["not_acquired"])) == holes
    yaozarrs.validate_zarr_store(str(root))
