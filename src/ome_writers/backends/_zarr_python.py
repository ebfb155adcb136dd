"""OME-Zarr arrays through zarr-python, optionally with the zarrs codec pipeline.

Writes are synchronous: zarr-python encodes and stores the chunk before `write`
returns, so the caller may reuse its buffer at once. The zarrs variant opens
its arrays with zarrs' Rust codec pipeline (multi-threaded encoding); the
choice is made when each array is opened, so other zarr users are unaffected.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

import zarr
from zarr.codecs import BloscCodec, ZstdCodec

from ._zarr_base import BLOSC, ZarrBackend

if TYPE_CHECKING:
    from pathlib import Path

    import numpy as np

    from ome_writers._router import FrameRouter
    from ome_writers._schema import AcquisitionSettings
    from ome_writers.metadata._frames import FrameMetadataLog


class ZarrPythonBackend(ZarrBackend):
    """OME-Zarr v0.5 through zarr-python."""

    name = "zarr-python"
    codec_pipeline: ClassVar[str | None] = None

    def __init__(
        self,
        settings: AcquisitionSettings,
        router: FrameRouter,
        frame_metadata: FrameMetadataLog,
    ) -> None:
        super().__init__(settings, router, frame_metadata)
        self._arrays: list[Any] = []

    def _config(self) -> Any:
        options: dict[str, Any] = {"array.write_empty_chunks": True}
        if self.codec_pipeline:
            options["codec_pipeline.path"] = self.codec_pipeline
        return zarr.config.set(options)

    def _compressors(self) -> list[Any]:
        if self.compression in BLOSC:
            cname, clevel = BLOSC[self.compression]
            return [BloscCodec(cname=cname, clevel=clevel, shuffle="shuffle")]  # type: ignore[arg-type]
        if self.compression == "zstd":
            return [ZstdCodec(level=3)]
        return []

    def _create_array(self, position: int, path: Path, shape: list[int]) -> None:
        chunks = self.chunks
        shards = self.shards
        with self._config():
            array = zarr.create_array(
                store=str(path),
                shape=tuple(shape),
                chunks=chunks,
                shards=shards,
                dtype=self.dtype,
                compressors=self._compressors(),
                fill_value=0,
                dimension_names=list(self.storage_names),
                zarr_format=3,
                overwrite=True,
            )
        self._arrays.append(array)

    def _write_frame(
        self, position: int, index: tuple[int, ...], frame: np.ndarray
    ) -> None:
        self._arrays[position][index] = frame

    def _write_block(
        self, position: int, origin: tuple[int, ...], block: np.ndarray
    ) -> None:
        region = tuple(
            slice(o, o + n) for o, n in zip(origin, block.shape, strict=False)
        )
        self._arrays[position][region] = block

    def _resize(self, position: int, shape: tuple[int, ...]) -> None:
        self._arrays[position].resize(shape)

    def _read_array(self, position: int, key: tuple[Any, ...]) -> np.ndarray:
        result: np.ndarray = self._arrays[position][key]
        return result


class ZarrsBackend(ZarrPythonBackend):
    """OME-Zarr v0.5 through zarr-python with the zarrs (Rust) codec pipeline."""

    name = "zarrs-python"
    codec_pipeline = "zarrs.ZarrsCodecPipeline"
