"""The baselines: the same frames written directly with the raw libraries,
and with one sequential file write per frame (the disk's limit)."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

import numpy as np

from ._measure import timed_run

if TYPE_CHECKING:
    from pathlib import Path


def _raw_layout(spec: dict[str, Any]) -> tuple[list[int], list[int], list[int]]:
    """Shape, chunk shape and shard shape of one array in acquisition order."""
    dims = spec["dims"]
    shape = [int(d["count"] or spec["frames"]) for d in dims]
    chunks = [
        int(d.get("chunk_size") or (n if i >= len(dims) - 2 else 1))
        for i, (d, n) in enumerate(zip(dims, shape, strict=True))
    ]
    shards = [
        c * int(d.get("shard_size_chunks") or 1)
        for d, c in zip(dims, chunks, strict=True)
    ]
    return shape, chunks, shards


def _frame_index(i: int, shape: list[int]) -> tuple[int, ...]:
    return tuple(int(x) for x in np.unravel_index(i, shape[:-2]))


def run_raw_tensorstore(spec: dict[str, Any], out: Path) -> dict[str, Any]:
    """Frames written directly with tensorstore (async, synced once at the end)."""
    import tensorstore as ts

    shape, chunks, shards = _raw_layout(spec)
    inner: list[dict[str, Any]] = [
        {"name": "bytes", "configuration": {"endian": "little"}}
    ]
    if spec["compression"] == "blosc-zstd":
        blosc = {"cname": "zstd", "clevel": 3, "shuffle": "shuffle"}
        inner.append({"name": "blosc", "configuration": blosc})
    codecs: list[dict[str, Any]] = inner
    grid = chunks
    if shards != chunks:
        grid = shards
        index = [inner[0], {"name": "crc32c"}]
        sharding = {"chunk_shape": chunks, "codecs": inner, "index_codecs": index}
        codecs = [{"name": "sharding_indexed", "configuration": sharding}]
    array = ts.open(
        {
            "driver": "zarr3",
            "kvstore": {"driver": "file", "path": str(out / "raw.zarr")},
            "metadata": {
                "shape": shape,
                "chunk_grid": {
                    "name": "regular",
                    "configuration": {"chunk_shape": grid},
                },
                "codecs": codecs,
                "data_type": "uint16",
            },
            "create": True,
            "delete_existing": True,
        },
        context=ts.Context({"file_io_sync": False}),
    ).result()
    pending: list[Any] = []

    def append(i: int, frame: np.ndarray) -> None:
        futures = array[_frame_index(i, shape)].write(frame)
        futures.copy.result()
        pending.append(futures.commit)

    def close() -> None:
        for future in pending:
            future.result()

    return timed_run(spec, append, close)


def run_raw_acquire_zarr(spec: dict[str, Any], out: Path) -> dict[str, Any]:
    """Frames streamed directly with acquire-zarr."""
    import acquire_zarr as az

    shape, chunks, shards = _raw_layout(spec)
    kinds = {"time": az.DimensionType.TIME, "channel": az.DimensionType.CHANNEL}
    dims = []
    for i, d in enumerate(spec["dims"]):
        kind = kinds.get(d.get("type"), az.DimensionType.OTHER)
        if i >= len(shape) - 2 or d.get("type") == "space":
            kind = az.DimensionType.SPACE
        dims.append(
            az.Dimension(
                name=d["name"],
                kind=kind,
                array_size_px=int(d["count"] or 0),
                chunk_size_px=chunks[i],
                shard_size_chunks=shards[i] // chunks[i],
            )
        )
    kwargs: dict[str, Any] = {"dimensions": dims, "data_type": az.DataType.UINT16}
    if spec["compression"] == "blosc-zstd":
        kwargs["compression"] = az.CompressionSettings(
            compressor=az.Compressor.BLOSC1,
            codec=az.CompressionCodec.BLOSC_ZSTD,
            level=3,
            shuffle=1,
        )
    stream = az.ZarrStream(
        az.StreamSettings(
            store_path=str(out / "raw.zarr"), arrays=[az.ArraySettings(**kwargs)]
        )
    )
    return timed_run(spec, lambda i, f: stream.append(f), stream.close)


def run_raw_tifffile(spec: dict[str, Any], out: Path) -> dict[str, Any]:
    """Frames written directly with tifffile, one BigTIFF page each."""
    import tifffile

    tif = tifffile.TiffWriter(out / "raw.tif", bigtiff=True)

    def append(i: int, frame: np.ndarray) -> None:
        tif.write(frame, contiguous=True, photometric="minisblack", metadata=None)

    def close() -> None:
        tif.close()
        with open(out / "raw.tif", "rb+") as fh:
            os.fsync(fh.fileno())

    return timed_run(spec, append, close)


def run_disk(spec: dict[str, Any], out: Path) -> dict[str, Any]:
    """The same bytes with one sequential file write per frame: the disk limit."""
    fh = open(out / "plain.raw", "wb")  # noqa: SIM115

    def close() -> None:
        fh.close()

    return timed_run(spec, lambda i, f: fh.write(f.data), close)
