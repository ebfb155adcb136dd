"""The free-space check of `create_stream`, with the free space simulated.

`tests/reliability/test_disk_space.py` runs the same decisions on a real,
small tmpfs where one can be mounted.
"""

from __future__ import annotations

import errno
import warnings
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np
import pytest
import zarr

from ome_writers import AcquisitionSettings, Dimension, create_stream
from ome_writers._io import _free_space
from ome_writers._schema._size_estimate import format_bytes
from ome_writers.errors import DiskSpaceWarning

if TYPE_CHECKING:
    from pathlib import Path

MB = 1_000_000


class Usage(NamedTuple):
    """What `shutil.disk_usage` returns."""

    total: int
    used: int
    free: int


@pytest.fixture
def free_space(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """The free space `create_stream` sees (``state["free"]``), and the paths
    it asked about (``state["asked"]``)."""
    state: dict[str, Any] = {"free": 100 * MB, "asked": []}

    def disk_usage(path: Any) -> Any:
        state["asked"].append(path)
        return Usage(10**12, 0, state["free"])

    monkeypatch.setattr(_free_space.shutil, "disk_usage", disk_usage)
    return state


def _settings(
    root: Path | str, t: int | None = 20, **kwargs: Any
) -> AcquisitionSettings:
    time = {k: kwargs.pop(k) for k in ("scale", "unit") if k in kwargs}
    kwargs.setdefault("format", "tensorstore")
    return AcquisitionSettings(
        root_path=str(root),
        # one chunk file per frame: the sizes below are of that layout (not
        # the default grouping of small frames)
        dimensions=[
            Dimension(name="t", count=t, type="time", chunk_size=1, **time),
            Dimension(name="y", count=256),
            Dimension(name="x", count=256),
        ],
        dtype="uint16",
        **kwargs,
    )


def test_too_big_raises_enospc_naming_both_sizes_and_creates_nothing(
    tmp_path: Path, free_space: dict[str, Any]
) -> None:
    free_space["free"] = 2 * MB
    settings = _settings(tmp_path / "new" / "folder" / "run.ome.zarr")
    with pytest.raises(OSError, match="Not enough space") as caught:
        create_stream(settings)
    assert caught.value.errno == errno.ENOSPC
    needed = settings.estimated_size.uncompressed_bytes
    assert needed is not None
    assert "needs about 2.7 MB" in str(caught.value)
    assert f"{format_bytes(2 * MB)} free on" in str(caught.value)
    assert free_space["asked"] == [tmp_path]  # the nearest existing parent
    assert list(tmp_path.iterdir()) == []


def test_compression_within_the_space_but_not_the_bound_warns(
    tmp_path: Path, free_space: dict[str, Any]
) -> None:
    free_space["free"] = 2 * MB  # 2.7 MB uncompressed, about 1.7 MB compressed
    settings = _settings(tmp_path / "run.ome.zarr", compression="zstd")
    with pytest.warns(DiskSpaceWarning, match="may not fit") as caught:
        create_stream(settings).close()
    message = str(caught[0].message)
    assert "about 1.7 MB with zstd compression" in message
    assert "up to 2.7 MB uncompressed" in message


def test_enough_space_is_silent(tmp_path: Path, free_space: dict[str, Any]) -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        create_stream(_settings(tmp_path / "run.ome.zarr")).close()
    assert caught == []


def test_check_space_false_skips_the_check(
    tmp_path: Path, free_space: dict[str, Any]
) -> None:
    free_space["free"] = 0
    create_stream(_settings(tmp_path / "run.ome.zarr"), check_space=False).close()
    assert free_space["asked"] == []


def test_the_dataset_overwrite_replaces_counts_as_free(
    tmp_path: Path, free_space: dict[str, Any]
) -> None:
    root = tmp_path / "run.ome.zarr"
    with create_stream(_settings(root)) as stream:
        for n in range(20):
            stream.append(np.full((256, 256), n + 1, "uint16"))
    free_space["free"] = 1 * MB  # what the old dataset leaves free
    create_stream(_settings(root, overwrite=True)).close()
    # a dataset that is not replaced is not counted: its refusal is the error
    with pytest.raises(FileExistsError):
        create_stream(_settings(root))


def test_a_refused_overwrite_leaves_the_old_dataset_alone(
    tmp_path: Path, free_space: dict[str, Any]
) -> None:
    root = tmp_path / "run.ome.zarr"
    with create_stream(_settings(root, t=2)) as stream:
        for n in range(2):
            stream.append(np.full((256, 256), n + 1, "uint16"))
    free_space["free"] = 0
    with pytest.raises(OSError, match="Not enough space"):
        create_stream(_settings(root, t=200, overwrite=True))
    stored = zarr.open_array(str(root / "0"), mode="r")[:]
    np.testing.assert_array_equal(stored[:, 0, 0], [1, 2])


def test_object_storage_and_memory_are_not_checked(free_space: dict[str, Any]) -> None:
    pytest.importorskip("obstore")
    free_space["free"] = 0
    _free_space.check_free_space(_settings("s3://bucket/run.ome.zarr"))
    scratch = _settings("", format="scratch")
    create_stream(scratch).close()
    assert free_space["asked"] == []


@pytest.mark.parametrize(
    ("scale", "unit", "warns"),
    [
        (None, None, "an assumed one 't' index per second"),
        (2.0, "s", "one 't' index every 2 s"),
        (500.0, "ms", "one 't' index every 0.5 s"),
        (1.0, "h", None),
    ],
)
def test_unbounded_warns_when_free_space_holds_less_than_an_hour(
    tmp_path: Path,
    free_space: dict[str, Any],
    scale: float | None,
    unit: str | None,
    warns: str | None,
) -> None:
    free_space["free"] = 1000 * 131_072  # a thousand frames of 128 kB
    settings = _settings(tmp_path / "run.ome.zarr", t=None, scale=scale, unit=unit)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        create_stream(settings).close()
    if warns is None:
        assert caught == []
        return
    (warning,) = caught
    assert warning.category is DiskSpaceWarning
    assert "may fill its disk soon" in str(warning.message)
    assert "about 1000 't' indices" in str(warning.message)
    assert warns in str(warning.message)


def test_a_pymmcore_plus_handler_checks_and_can_skip_the_check(
    tmp_path: Path, free_space: dict[str, Any]
) -> None:
    useq = pytest.importorskip("useq")
    from ome_writers.adapters.demo_camera import demo_core
    from ome_writers.adapters.pymmcore_plus import OMEWriterHandler

    core = demo_core(width=64, height=48)
    sequence = useq.MDASequence(time_plan={"interval": 0, "loops": 20})
    free_space["free"] = 10_000  # 20 frames of 64 x 48 x 2 bytes do not fit
    refused = OMEWriterHandler(tmp_path / "refused.ome.zarr")
    meta: Any = core.mda.engine.get_summary_metadata(mda_sequence=sequence)
    with pytest.raises(OSError, match="OMEWriterHandler") as info:
        refused.sequenceStarted(sequence, meta)  # what mda.run calls first
    assert info.value.errno == errno.ENOSPC
    assert not (tmp_path / "refused.ome.zarr").exists()

    handler = OMEWriterHandler(tmp_path / "anyway.ome.zarr", check_space=False)
    core.mda.run(sequence, output=handler)
    assert handler.view() is not None
    assert handler.view().shape[0] == 20
