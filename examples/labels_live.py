"""Label frames while they are acquired: an analysis thread segments each
frame a little later than it arrives and writes its label plane, out of order.

Usage: python examples/labels_live.py [OUTPUT_DIR]
"""

from __future__ import annotations

import queue
import sys
import tempfile
import threading
from pathlib import Path

import numpy as np

import ome_writers as ow

T, Y, X = 8, 96, 96


def acquire(t: int) -> np.ndarray:
    """A frame with a few bright discs that move over time."""
    rng = np.random.default_rng(t)
    frame = rng.normal(200, 20, (Y, X))
    yy, xx = np.mgrid[:Y, :X]
    for k, (cy, cx) in enumerate([(20, 20), (50, 70), (75, 30)]):
        frame[(yy - cy - t) ** 2 + (xx - cx) ** 2 < (6 + k) ** 2] += 800
    return frame.astype("uint16")


def segment(frame: np.ndarray) -> np.ndarray:
    """Label 1 where the frame is brighter than its mean by 2 standard deviations."""
    values = frame.astype(float)
    mask: np.ndarray = values > values.mean() + 2 * values.std()
    return mask


def main(out_dir: Path) -> None:
    settings = ow.AcquisitionSettings(
        root_path=str(out_dir / "live.ome.zarr"),
        dimensions=[
            ow.Dimension(name="t", count=T, type="time"),
            ow.Dimension(name="y", count=Y, type="space"),
            ow.Dimension(name="x", count=X, type="space"),
        ],
        dtype="uint16",
        pyramid=2,
        overwrite=True,
        labels=[
            ow.LabelImage(name="cells", dtype="uint8", colors={1: (255, 80, 0, 255)})
        ],
    )
    todo: queue.Queue[tuple[int, np.ndarray] | None] = queue.Queue()
    with ow.create_stream(settings) as stream:

        def analysis() -> None:
            batch: list[tuple[int, np.ndarray]] = []
            while (item := todo.get()) is not None:
                batch.append(item)
                if len(batch) == 3:  # results arrive in batches, newest first
                    for n, frame in reversed(batch):
                        stream.write_label("cells", segment(frame), frame=n)
                    batch.clear()
            for n, frame in batch:
                stream.write_label("cells", segment(frame), frame=n)

        worker = threading.Thread(target=analysis)
        worker.start()
        for t in range(T):
            frame = acquire(t)
            stream.append(frame)
            todo.put((t, frame))
        todo.put(None)
        worker.join()  # every plane written before the stream closes

    import zarr

    labels = zarr.open_array(str(out_dir / "live.ome.zarr" / "labels" / "cells" / "0"))
    for t in range(T):
        assert np.array_equal(labels[t], segment(acquire(t)))
    print(f"{T} label planes written to {out_dir / 'live.ome.zarr' / 'labels'}")


if __name__ == "__main__":
    if len(sys.argv) > 1:
        main(Path(sys.argv[1]))
    else:
        with tempfile.TemporaryDirectory() as tmp:
            main(Path(tmp))
