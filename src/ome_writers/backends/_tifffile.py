"""OME-TIFF through tifffile, with OME-XML from ome-types.

Frames go to one writer thread through a fixed pool of frame buffers: `write`
copies the frame into a free buffer (blocking while all are in flight, so
memory stays bounded) and returns; the thread writes one page per frame, in
arrival order. An error in the thread is raised from the next `write` and from
`finalize`, which always waits for every queued frame.

Files are BigTIFF. The OME-XML is written once at close into the first page's
ImageDescription (tifffile's ``tiffcomment``). When the pages of an image are in
DimensionOrder, one ``TiffData`` describes them all; otherwise (an explicit
storage order, or several positions in one file) each page gets its own
``TiffData``. An acquisition closed early is padded with zero pages up to a
whole outer index, so the OME-XML always matches the pages on disk. A stream
closed before its first frame leaves no file behind.
"""

from __future__ import annotations

import contextlib
import copy
import errno
import json
import math
import os
import queue
import shutil
import threading
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
import tifffile
from ome_types import model as m
from ome_types import to_xml

from ome_writers._paths import fsync_tree, resolve_output
from ome_writers.metadata._ome_xml import (
    ImageState,
    OmeXmlBuilder,
    PlaneRecord,
    check_tiff_axes,
    global_annotation,
    new_uuid,
)

from ._base import Backend, StorageKey, json_safe

if TYPE_CHECKING:
    from pathlib import Path

    from ome_writers._router import FrameRouter
    from ome_writers._schema import AcquisitionSettings, OmeTiffFormat
    from ome_writers.metadata._frames import FrameMetadataLog

POOL_BYTES = 256 * 1024**2
COMPRESSION = {"none": None, "lzw": "lzw", "zlib": "zlib", "zstd": "zstd"}
RECOVERY_KEY = "ome_writers_recovery"


class TiffBackend(Backend):
    """OME-TIFF files written page by page."""

    name = "tifffile"
    format = "ome-tiff"
    compressions: ClassVar[tuple[str, ...]] = tuple(COMPRESSION)

    @classmethod
    def check_settings(cls, settings: AcquisitionSettings) -> str | None:
        return super().check_settings(settings) or check_tiff_axes(settings)

    def __init__(
        self,
        settings: AcquisitionSettings,
        router: FrameRouter,
        frame_metadata: FrameMetadataLog,
    ) -> None:
        super().__init__(settings, router, frame_metadata)
        fmt: OmeTiffFormat = settings.format  # type: ignore[assignment]
        self.fmt = fmt
        self.builder = OmeXmlBuilder(settings)
        out = resolve_output(settings.output_path)
        self.single_file = fmt.is_single_file(self.num_positions)
        if self.single_file:
            self.files = [out]
        else:
            self.files = [
                out / f"{out.name}_p{i:03d}{fmt.suffix}"
                for i in range(self.num_positions)
            ]
        self.companion: Path | None = None
        if not self.single_file and fmt.multi_file_metadata == "companion-file":
            name = fmt.companion_file
            if name == "companion.ome":  # Bio-Formats needs *.companion.ome
                name = f"{out.name}.companion.ome"
            self.companion = out / name
        self.uuids = [new_uuid() for _ in self.files]
        self.images = [
            ImageState(0 if self.single_file else i) for i in range(self.num_positions)
        ]
        self.ifd_of: list[dict[tuple[int, ...], int]] = [{} for _ in self.images]
        self.offsets: list[dict[int, tuple[int, int]]] = [{} for _ in self.files]
        self.pages = [0] * len(self.files)
        self.compression = COMPRESSION[settings.compression or "none"]
        y, x = settings.frame_dimensions
        self.frame_shape = (int(y.count or 1), int(x.count or 1))
        frame_bytes = max(1, math.prod(self.frame_shape) * self.dtype.itemsize)
        n_buffers = min(16, max(2, POOL_BYTES // frame_bytes))
        self.pool = np.zeros((n_buffers, *self.frame_shape), dtype=self.dtype)
        self.free: queue.SimpleQueue[int] = queue.SimpleQueue()
        for i in range(n_buffers):
            self.free.put(i)
        self.work: queue.SimpleQueue[tuple[int, tuple[int, ...], int] | None] = (
            queue.SimpleQueue()
        )
        self.writers: list[tifffile.TiffWriter] = []
        self.thread: threading.Thread | None = None
        self.error: BaseException | None = None
        self.models: dict[int, m.OME] = {}
        self.pending_update: dict[int, m.OME] | None = None
        self.finalized = False
        px = y.scale if y.scale and y.scale > 0 else None
        self.resolution = (
            (1e4 / x.scale, 1e4 / px) if px and x.scale and x.scale > 0 else None
        )

    # ------------------------------------------------------------- lifecycle

    def prepare(self) -> None:
        for path in self.files:
            if path.exists():
                if not self.settings.overwrite:
                    raise FileExistsError(
                        f"File {path} already exists. "
                        "Use overwrite=True to overwrite it."
                    )
                path.unlink()
            path.parent.mkdir(parents=True, exist_ok=True)
        self.writers = [tifffile.TiffWriter(p, bigtiff=True) for p in self.files]
        self.thread = threading.Thread(
            target=self._run, name="ome-writers-tiff", daemon=True
        )
        self.thread.start()

    def write(self, position: int, index: tuple[int, ...], frame: np.ndarray) -> None:
        if self.error is not None:
            raise self.error
        slot = self.free.get()  # blocks while every buffer is in flight
        self.pool[slot] = frame
        self.work.put((position, index, slot))

    def skip(self, position: int, index: tuple[int, ...]) -> None:
        if self.error is not None:
            raise self.error
        self.work.put((position, index, -1))

    def _explain(self, error: BaseException, position: int) -> BaseException:
        """Name a full disk when a short write is all tifffile reports."""
        if isinstance(error, OSError) and error.errno is None:
            path = self.files[self.images[position].file_index]
            if shutil.disk_usage(path.parent).free < self.pool[0].nbytes:
                return OSError(errno.ENOSPC, f"No space left on device writing {path}")
        return error

    def page_options(self, file_index: int, first: bool) -> dict[str, Any]:
        """tifffile `write` arguments of one page of file `file_index`."""
        return {
            "photometric": "minisblack",
            "compression": self.compression,
            "description": self._recovery_record(file_index) if first else None,
            "metadata": None,
            "software": "ome-writers",
            "resolution": self.resolution,
            "resolutionunit": "CENTIMETER" if self.resolution else None,
            "contiguous": False,
            "returnoffset": True,
        }

    def _recovery_record(self, file_index: int) -> str:
        """What `repair` needs to rebuild the OME-XML if the process dies.

        It stands in the first page's description until the OME-XML replaces it
        at close.
        """
        record = {
            RECOVERY_KEY: 1,
            "settings": self.settings.model_dump(mode="json"),
            "file_index": file_index,
            "uuids": self.uuids,
            "files": [p.name for p in self.files],
        }
        return json.dumps(record, ensure_ascii=True)

    def checkpoint(self, frames_done: int) -> None:
        """Wait until every queued frame is on disk, then fsync the files."""
        if self.error is not None:
            raise self.error
        barrier = threading.Event()
        self.work.put(barrier)  # type: ignore[arg-type]
        barrier.wait()
        if self.error is not None:
            raise self.error
        for path in self.files:
            if path.exists():
                fsync_tree(path)

    def _run(self) -> None:
        zeros = np.zeros(self.frame_shape, dtype=self.dtype)
        while True:
            item = self.work.get()
            if item is None:
                return
            if isinstance(item, threading.Event):  # checkpoint barrier
                for writer in self.writers:
                    writer.filehandle.flush()
                item.set()
                continue
            position, index, slot = item
            try:
                if self.error is None:
                    self._write_page(
                        position, index, self.pool[slot] if slot >= 0 else zeros
                    )
            except BaseException as e:
                self.error = self._explain(e, position)
            finally:
                if slot >= 0:
                    self.free.put(slot)

    def _write_page(
        self, position: int, index: tuple[int, ...], data: np.ndarray
    ) -> None:
        image = self.images[position]
        f = image.file_index
        first = self.pages[f] == 0
        offset = self.writers[f].write(data, **self.page_options(f, first))
        ifd = self.pages[f]
        self.pages[f] += 1
        if offset is not None and self.compression is None:
            self.offsets[f][ifd] = offset
        image.planes.append(PlaneRecord(ifd, self.builder.zct(index)))
        self.ifd_of[position][index] = ifd

    def finalize(self, frames_done: int) -> None:
        if self.finalized:
            return
        self.finalized = True
        self.work.put(None)
        if self.thread is not None:
            self.thread.join()
        error = self.error
        try:
            # describe whatever reached the disk, even after a writer error
            if error is None:
                self._pad_incomplete()
        finally:
            for writer in self.writers:
                writer.close()
        if not any(self.pages):  # nothing acquired: leave no unreadable file
            for path in self.files:
                path.unlink(missing_ok=True)
            if not self.single_file:
                _remove_empty_dir(self.files[0].parent)
        else:
            try:
                self._attach_frame_metadata()
                self.models = self._build_models()
                if self.pending_update:
                    self.models.update(self.pending_update)
                self._write_models()
                for path in self.files:  # durable at close
                    fsync_tree(path)
            except Exception:
                if error is None:
                    raise
        if error is not None:
            raise error

    def _inner(self) -> int:
        sizes = self.builder.sizes
        return math.prod(sizes[a] for a in self.builder.letters[1:])

    def _pad_incomplete(self) -> None:
        """Add zero pages so each image holds whole outer indices.

        A position that got no frame at all (while others did) gets one outer
        index of zero pages, so every image the OME-XML declares has pages.
        """
        if not any(self.pages):
            return
        letters = self.builder.letters
        inner = self._inner() if letters else 1
        counts = [d.count for d in self.settings.storage_index_dimensions]
        zeros = np.zeros(self.frame_shape, dtype=self.dtype)
        for position, image in enumerate(self.images):
            total = max(1, math.ceil(len(image.planes) / inner)) * inner
            shape = (
                [counts[0] or total // inner, *(c or 1 for c in counts[1:])]
                if letters
                else []  # 2-D: one page, index ()
            )
            existing = set(self.ifd_of[position])
            for k in range(total):
                index = tuple(int(i) for i in np.unravel_index(k, shape))
                if index not in existing:
                    self._write_page(position, index, zeros)

    def _attach_frame_metadata(self) -> None:
        for position, image in enumerate(self.images):
            by_ifd = {p.ifd: p for p in image.planes}
            for _, index, meta in self.frame_metadata.records(position):
                ifd = self.ifd_of[position].get(index)
                if ifd is not None:
                    by_ifd[ifd].metadata = meta

    # ------------------------------------------------------------- OME-XML

    def _tiff_data(self, position: int) -> list[m.TiffData]:
        image = self.images[position]
        planes = sorted(image.planes, key=lambda p: p.ifd)
        uuid = None
        if not self.single_file:
            f = image.file_index
            uuid = m.TiffData.UUID(value=self.uuids[f], file_name=self.files[f].name)
        order = self.builder.order[2:]
        sizes = {a.upper(): n for a, n in self.builder.sizes.items()}
        if self.builder.letters:
            sizes[self.builder.letters[0].upper()] = math.ceil(
                len(planes) / self._inner()
            )
        raster = []
        for k in range(len(planes)):
            pos: dict[str, int] = {}
            rem = k
            for letter in order:
                rem, pos[letter] = divmod(rem, sizes[letter])
            raster.append((pos["Z"], pos["C"], pos["T"]))
        first = planes[0].ifd
        in_order = all(
            p.zct == r and p.ifd == first + k
            for k, (p, r) in enumerate(zip(planes, raster, strict=True))
        )
        if in_order:
            return [m.TiffData(ifd=first, plane_count=len(planes), uuid=uuid)]
        return [
            m.TiffData(
                ifd=p.ifd,
                first_z=p.zct[0],
                first_c=p.zct[1],
                first_t=p.zct[2],
                plane_count=1,
                uuid=uuid,
            )
            for p in planes
        ]

    def _full_model(self, file_uuid: str) -> m.OME:
        annotations: list[Any] = []
        images = []
        for position, image in enumerate(self.images):
            n = len(image.planes)
            outer = math.ceil(n / self._inner()) if self.builder.letters and n else None
            images.append(
                self.builder.image(
                    position,
                    image.planes,
                    outer,
                    annotations,
                    self._tiff_data(position),
                )
            )
        for namespace, metadata in self.global_metadata.items():
            annotations.append(global_annotation(namespace, metadata, len(annotations)))
        plate = self.builder.plate()
        return m.OME(
            uuid=file_uuid,
            creator="ome-writers",
            images=images,
            plates=[plate] if plate else [],
            structured_annotations=m.StructuredAnnotations(map_annotations=annotations)
            if annotations
            else None,
        )

    def _build_models(self) -> dict[int, m.OME]:
        if self.single_file:
            return {0: self._full_model(self.uuids[0])}
        mode = self.fmt.multi_file_metadata
        models: dict[int, m.OME] = {}
        if mode == "companion-file":
            assert self.companion is not None
            companion_uuid = new_uuid()
            models[-1] = self._full_model(companion_uuid)
            for f, u in enumerate(self.uuids):
                models[f] = _binary_only(u, self.companion.name, companion_uuid)
            return models
        for f, u in enumerate(self.uuids):
            if mode == "master-tiff" and f > 0:
                models[f] = _binary_only(u, self.files[0].name, self.uuids[0])
            else:
                models[f] = self._full_model(u)
        return models

    def _write_models(self) -> None:
        for key, model in self.models.items():
            xml = to_xml(model)
            if key == -1:
                assert self.companion is not None
                self.companion.write_text(xml, encoding="utf-8")
            else:
                tifffile.tiffcomment(self.files[key], xml.encode())

    # ------------------------------------------------------------- metadata

    def set_global_metadata(self, namespace: str, metadata: dict[str, Any]) -> None:
        self.global_metadata[namespace] = json_safe(metadata)
        if self.finalized and self.models:
            self.models = self._build_models()
            self._write_models()

    def get_metadata(self) -> dict[int, m.OME]:
        """File index (-1: companion file) -> copy of its OME model."""
        if not self.models and not self.finalized:
            return {}
        return {k: copy.deepcopy(v) for k, v in self.models.items()}

    def update_metadata(self, metadata: Any) -> None:
        """Replace OME models (written now after close, else at close)."""
        if not isinstance(metadata, dict):
            raise TypeError(
                "Expected dict[int, ome_types.model.OME] metadata, "
                f"got {type(metadata)}"
            )
        for key, value in metadata.items():
            if not isinstance(value, m.OME):
                raise TypeError(
                    f"Expected ome_types.model.OME for position {key}, "
                    f"got {type(value)}"
                )
            valid = (
                set(self.models) if self.finalized else {*range(len(self.files)), -1}
            )
            if key not in valid:
                raise KeyError(f"Unknown position index: {key}")
        if not self.finalized:
            self.pending_update = dict(metadata)
            return
        if not self.models:  # nothing was written: nothing to describe
            return
        self.models.update(metadata)
        self._write_models()

    # --------------------------------------------------------------- reading

    def read(self, position: int, key: StorageKey) -> np.ndarray:
        index_key, frame_key = key[:-2], key[-2:]
        axes = []
        for k in index_key:
            axes.append(
                [k] if isinstance(k, int) else list(range(k.start, k.stop, k.step))
            )
        out_shape = [
            len(a)
            for a, k in zip(axes, index_key, strict=True)
            if not isinstance(k, int)
        ]
        fy, fx = (
            len(range(k.start, k.stop, k.step)) if isinstance(k, slice) else None
            for k in frame_key
        )
        frame_out = [n for n in (fy, fx) if n is not None]
        out = np.zeros((*out_shape, *frame_out), dtype=self.dtype)
        flat = out.reshape(-1, *frame_out)
        f = self.images[position].file_index
        ifds = self.ifd_of[position]
        import itertools

        for k, index in enumerate(itertools.product(*axes)):
            ifd = ifds.get(index)
            if ifd is not None:
                flat[k] = self._read_page(f, ifd)[frame_key]
        return out

    def _read_page(self, f: int, ifd: int) -> np.ndarray:
        location = self.offsets[f].get(ifd)
        path = self.files[f]
        if location is not None:
            offset, nbytes = location
            with open(path, "rb") as fh:
                buf = os.pread(fh.fileno(), nbytes, offset)
            return np.frombuffer(buf, dtype=self.dtype).reshape(self.frame_shape)
        try:
            with tifffile.TiffFile(path) as tif:
                data: np.ndarray = tif.pages[ifd].asarray()
                return data
        except Exception:  # page not complete on disk yet
            return np.zeros(self.frame_shape, dtype=self.dtype)


def _binary_only(own_uuid: str, metadata_file: str, target_uuid: str) -> m.OME:
    return m.OME(
        uuid=own_uuid,
        creator="ome-writers",
        binary_only=m.OME.BinaryOnly(metadata_file=metadata_file, uuid=target_uuid),
    )


def _remove_empty_dir(path: Path) -> None:
    with contextlib.suppress(OSError):
        path.rmdir()
