"""Background write-back: started past a byte threshold, never on the caller."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest

from ome_writers import AcquisitionSettings, Dimension, _flush, create_stream


def test_flusher_syncs_in_background_after_threshold(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    synced = threading.Event()
    callers: list[str] = []

    def fake_sync(path: Path) -> None:
        callers.append(threading.current_thread().name)
        synced.set()

    monkeypatch.setattr(_flush, "sync_filesystem", fake_sync)
    flusher = _flush.Flusher(tmp_path, every_bytes=100)
    flusher.add(60)
    assert flusher._thread is None  # below the threshold: no thread at all
    flusher.add(60)
    assert synced.wait(10)
    flusher.close()
    assert callers == ["ome-writers-flush"]
    assert flusher._thread is not None and not flusher._thread.is_alive()


def test_flusher_keeps_sync_errors_for_close(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    called = threading.Event()

    def failing(path: Path) -> None:
        called.set()
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(_flush, "sync_filesystem", failing)
    flusher = _flush.Flusher(tmp_path, every_bytes=1)
    flusher.add(1)
    assert called.wait(10)
    flusher.close()  # joins the thread, which recorded the error
    assert flusher.error is not None and flusher.error.errno == 5


@pytest.mark.parametrize("backend", ["tensorstore", "tifffile"])
def test_streams_flush_while_writing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, backend: str
) -> None:
    calls: list[Path] = []
    monkeypatch.setattr(_flush, "sync_filesystem", calls.append)
    monkeypatch.setattr(_flush, "FLUSH_EVERY_BYTES", 64 * 1024)
    monkeypatch.setattr(_flush.Flusher.__init__, "__defaults__", (64 * 1024,))
    suffix = ".ome.tiff" if backend == "tifffile" else ".ome.zarr"
    settings = AcquisitionSettings(
        root_path=str(tmp_path / f"f{suffix}"),
        format=backend,
        dimensions=[
            Dimension(name="t", count=16),
            Dimension(name="y", count=128),
            Dimension(name="x", count=128),
        ],
        dtype="uint16",
    )
    with create_stream(settings, checkpoint_seconds=None) as stream:
        for n in range(16):  # 32 KiB frames: a flush every second frame
            stream.append(np.full((128, 128), n, "uint16"))
    assert calls, "no background flush during 512 KiB of frames"
