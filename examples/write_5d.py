"""Write a 5D (t, c, z, y, x) acquisition to OME-Zarr and OME-TIFF, then read it back.

Usage: python examples/write_5d.py [OUTPUT_DIR]
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import numpy as np

from ome_writers import AcquisitionSettings, Channel, Dimension, create_stream

DIMENSIONS = [
    Dimension(name="t", count=3, type="time", unit="second", scale=2.0),
    Dimension(
        name="c",
        type="channel",
        coords=[
            Channel(name="DAPI", color="blue", excitation_wavelength_nm=405),
            Channel(name="FITC", color="green", excitation_wavelength_nm=488),
        ],
    ),
    Dimension(name="z", count=4, unit="um", scale=0.5),
    Dimension(name="y", count=256, unit="um", scale=0.1),
    Dimension(name="x", count=256, unit="um", scale=0.1),
]


def synthetic_frame(n: int, rng: np.random.Generator) -> np.ndarray:
    """A structured image with noise; frame `n` is offset by 100 * n."""
    yy, xx = np.mgrid[0:256, 0:256]
    blob = 1000 * np.exp(-((yy - 128) ** 2 + (xx - 40 - 10 * n) ** 2) / 800)
    noise = rng.poisson(50, (256, 256))
    return (blob + noise + 100 * n).astype("uint16")


def write(path: Path) -> np.ndarray:
    """Stream every frame to `path`; return what was written (acquisition order)."""
    settings = AcquisitionSettings(
        root_path=str(path), dimensions=DIMENSIONS, dtype="uint16", overwrite=True
    )
    rng = np.random.default_rng(0)
    frames = []
    with create_stream(settings) as stream:
        stream.set_global_metadata("example", {"operator": "demo", "sample": "beads"})
        for n in range(settings.num_frames or 0):
            frame = synthetic_frame(n, rng)
            frames.append(frame)
            stream.append(frame, frame_metadata={"delta_t": n * 0.05})
    view = stream.view()
    data = np.asarray(view)
    expected = np.stack(frames).reshape(3, 2, 4, 256, 256)
    assert view.dims == ("t", "c", "z", "y", "x"), view.dims
    assert np.array_equal(data, expected), "read-back differs from what was written"
    print(f"wrote {settings.output_path}: dims={view.dims} shape={view.shape}")
    return data


def main(out_dir: Path) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    write(out_dir / "example.ome.zarr")
    write(out_dir / "example.ome.tiff")


if __name__ == "__main__":
    if len(sys.argv) > 1:
        main(Path(sys.argv[1]))
    else:
        with tempfile.TemporaryDirectory() as tmp:
            main(Path(tmp))
