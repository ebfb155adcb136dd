"""An OME-TIFF file set this library is writing, read as its description says.

While a file set is written, the first file (or the companion file) holds a
provisional OME-XML: the images' complete outer indices as TiffData, and a
progress record (``ome_writers.progress``) naming the pages written since
(backends/tiff/_progress_annotation.py). Every plane either lists has a
complete page in the file's chain of pages. Planes neither lists read as
zeros.
"""

from __future__ import annotations

import itertools
import json
import threading
import xml.etree.ElementTree as ET
from typing import TYPE_CHECKING, Any

import numpy as np

from ome_writers.metadata._progress import PROGRESS_NAMESPACE
from ome_writers.reading._channels import ChannelDisplay, default_color, window_of
from ome_writers.reading._contract import Progress, parse_progress
from ome_writers.reading._source import Key, Snapshot, Source
from ome_writers.reading._tiff import OME_NS
from ome_writers.reading._tiff_files import read_description

if TYPE_CHECKING:
    from collections.abc import Sequence
    from pathlib import Path

#: reads of a description before it is taken for malformed
_ATTEMPTS = 5
#: (image, z, c, t) -> (file name, page index)
PlaneMap = dict[tuple[int, int, int, int], tuple[str, int]]


class NoProgress(Exception):
    """The description states no progress: the file set is complete."""


def described(path: Path) -> tuple[ET.Element, Path]:
    """The OME-XML describing `path`'s set, and the file holding it (the
    first file, or a companion file named by ``BinaryOnly``)."""
    for _ in range(_ATTEMPTS):
        try:
            return _described(path)
        except ET.ParseError:
            # a reader paused while the writer updated twice read a slot
            # being rewritten: read again
            continue
    text = read_description(path) or ""
    if PROGRESS_NAMESPACE in text:
        raise ValueError(f"{path}: its OME-XML is not well-formed")
    raise NoProgress  # not ours: tifffile reads what it can of it


def _described(path: Path) -> tuple[ET.Element, Path]:
    text = read_description(path)
    if text is None or "<OME" not in text:  # ImageJ's, or none
        raise NoProgress
    root = ET.fromstring(text.strip("\0 \n"))
    pointer = root.find(f"{OME_NS}BinaryOnly")
    if pointer is None:
        return root, path
    target = path.parent / str(pointer.get("MetadataFile", ""))
    if target.name.lower().endswith((".tif", ".tiff")):
        text = read_description(target)
        if text is None:
            raise NoProgress
    else:
        text = target.read_text(encoding="utf-8")
    if text is None:
        raise NoProgress
    return ET.fromstring(text.strip("\0 \n")), target


def progress_of(root: ET.Element, where: Path) -> Progress:
    """The progress record of a provisional description (`NoProgress`: none)."""
    for annotation in root.iter(f"{OME_NS}MapAnnotation"):
        if annotation.get("Namespace") != PROGRESS_NAMESPACE:
            continue
        for m in annotation.iter(f"{OME_NS}M"):
            if m.get("K") == "progress":
                try:
                    record = json.loads(m.text or "")
                except ValueError as e:
                    raise ValueError(f"{where}: its progress record is not JSON") from e
                return parse_progress(record, str(where))
    raise NoProgress


def _planes(
    first: tuple[int, int, int],
    count: int,
    order: str,
    sizes: dict[str, int | None],
) -> list[tuple[int, int, int]]:
    """`count` planes (z, c, t) from `first` on, in DimensionOrder `order`
    (fastest first after XY), with `sizes` (None: never carried over)."""
    letters = order[2:]
    index = {"Z": first[0], "C": first[1], "T": first[2]}
    out = []
    for _ in range(count):
        out.append((index["Z"], index["C"], index["T"]))
        for letter in letters:
            index[letter] += 1
            size = sizes.get(letter)
            if size is None or index[letter] < size:
                break
            index[letter] = 0
    return out


class LiveTiffSource(Source):
    """A file set being written, as its provisional description says."""

    def __init__(self, path: Path, image: int | str | None = None) -> None:
        self.path = path
        self._lock = threading.Lock()
        root, holder = described(path)
        progress = progress_of(root, holder)
        extra = progress.extra
        try:
            self._order = str(extra["dimension_order"])
            names = [str(n) for n in extra["names"]]
            self._files = [str(f) for f in extra["files"]]
            self._sizes = {
                k: (None if v is None else int(v)) for k, v in extra["sizes"].items()
            }
            frame = [int(n) for n in extra["frame"]]
            self.dtype = np.dtype(str(extra["dtype"]))
            channels = list(extra["channels"])
        except (KeyError, TypeError, ValueError) as e:
            raise ValueError(f"{holder}: the TIFF progress record lacks {e}") from e
        self._images = list(range(len(names)))
        if image is not None:
            k = _pick(image, names, path)
            self._images, names = [k], [names[k]]
        self.multi = len(self._images) > 1
        letters = self._order[2:][::-1]  # slowest first
        self._letters = letters
        self.dims = (
            (("p",) if self.multi else ())
            + tuple(a.lower() for a in letters)
            + ("y", "x")
        )
        self._frame = (frame[0], frame[1])
        count_c = self._sizes.get("C") or len(channels)
        self.channels = [
            ChannelDisplay(
                name=str(c.get("name", i)),
                color=c.get("color") or default_color(i, count_c),
                window=window_of(c.get("window")),
                visible=c.get("visible") is not False,
            )
            for i, c in enumerate(channels[:count_c])
        ]
        self.labels = {"c": [c.name for c in self.channels]}
        if self.multi:
            self.labels["p"] = names
        self._dir = holder.parent
        self._subifds = self._count_levels()
        self._state(root, holder, progress)

    # ------------------------------------------------------------ progress

    def _state(self, root: ET.Element, holder: Path, progress: Progress) -> None:
        """Take a description and its record as the current state."""
        planes: PlaneMap = {}
        own = {f: i for i, f in enumerate(self._images)}
        for element in root.findall(f"{OME_NS}Image"):
            image = int(str(element.get("ID", "Image:-1")).rsplit(":", 1)[-1])
            pixels = element.find(f"{OME_NS}Pixels")
            if image not in own or pixels is None:
                continue
            sizes: dict[str, int | None] = {
                a: int(pixels.get(f"Size{a}", "1")) for a in "ZCT"
            }
            order = pixels.get("DimensionOrder", self._order)
            for data in pixels.findall(f"{OME_NS}TiffData"):
                uuid = data.find(f"{OME_NS}UUID")
                name = uuid.get("FileName") if uuid is not None else None
                file = name or self._files[image]
                first = tuple(int(data.get(f"First{a}", "0")) for a in "ZCT")
                ifd = int(data.get("IFD", "0"))
                count = int(data.get("PlaneCount", "1"))
                for k, zct in enumerate(_planes(first, count, order, sizes)):  # type: ignore[arg-type]
                    planes[(own[image], *zct)] = (file, ifd + k)
        for run in progress.extra.get("pages", []):
            image, ifd, count, z, c, t = (int(v) for v in run)
            if image not in own:
                continue
            for k, zct in enumerate(
                _planes((z, c, t), count, self._order, self._sizes)
            ):
                planes[(own[image], *zct)] = (self._files[image], ifd + k)
        reach = {"Z": 0, "C": 0, "T": 0}
        images = 0
        for image, z, c, t in planes:
            images = max(images, image + 1)
            for letter, i in zip("ZCT", (z, c, t), strict=True):
                reach[letter] = max(reach[letter], i + 1)
        extent = [images] if self.multi else []
        extent += [reach[a] for a in self._letters]
        with self._lock:
            self._planes = planes
            self._progress = progress
            self._snapshot = Snapshot(
                extent=(*extent, *self._frame),
                complete=progress.status == "complete",
                status=progress.status,
                updated=progress.updated,
                frames=progress.frames,
            )
            self._close_files()
        self._holder = holder

    @property
    def snapshot(self) -> Snapshot:
        return self._snapshot

    def refresh(self) -> Snapshot:
        root, holder = described(self.path)
        self._state(root, holder, progress_of(root, holder))
        return self._snapshot

    @property
    def shapes(self) -> list[tuple[int | None, ...]]:
        lead: tuple[int | None, ...] = (len(self._images),) if self.multi else ()
        index = tuple(self._sizes.get(a) for a in self._letters)
        out = [(*lead, *index, *self._frame)]
        h, w = self._frame
        for k in range(1, self._subifds + 1):
            out.append((*lead, *index, -(-h // 2**k), -(-w // 2**k)))
        return out

    @property
    def factors(self) -> list[tuple[float, ...]]:
        n = len(self.dims)
        return [(1.0,) * (n - 2) + (2.0**k, 2.0**k) for k in range(self._subifds + 1)]

    def _count_levels(self) -> int:
        import tifffile

        with tifffile.TiffFile(self.path) as tif:
            return len(tif.pages.first.subifds or ())

    # ------------------------------------------------------------- reading

    def _close_files(self) -> None:
        for tif in getattr(self, "_tifs", {}).values():
            tif.close()
        self._tifs: dict[str, Any] = {}

    def _page(self, file: str, ifd: int, level: int) -> np.ndarray:
        import tifffile

        tif = self._tifs.get(file)
        if tif is None:
            tif = self._tifs[file] = tifffile.TiffFile(self._dir / file)
        page = tif.pages[ifd]
        if level:
            tif.filehandle.seek(tuple(page.subifds or ())[level - 1])
            page = tifffile.TiffPage(tif, index=ifd)
        return np.asarray(page.asarray())

    def read(self, level: int, key: Key) -> np.ndarray:
        lead = 1 if self.multi else 0
        head, frame_key = key[: len(key) - 2], key[len(key) - 2 :]
        ranges = [
            [k] if isinstance(k, int) else range(k.start, k.stop, k.step) for k in head
        ]
        shape = [len(r) for r in ranges]
        h, w = self.shapes[level][-2:]
        plane_shape = np.zeros((int(h or 0), int(w or 0)), dtype=self.dtype)[
            tuple(frame_key)
        ].shape
        out = np.zeros((*shape, *plane_shape), dtype=self.dtype)
        with self._lock:
            for spot in itertools.product(*(range(n) for n in shape)):
                index = [r[i] for r, i in zip(ranges, spot, strict=True)]
                image = index[0] if lead else 0
                by = dict(zip(self._letters, index[lead:], strict=True))
                where = self._planes.get((image, by["Z"], by["C"], by["T"]))
                if where is not None:
                    out[spot] = self._page(*where, level)[tuple(frame_key)]
        kept = [i for i, k in enumerate(head) if isinstance(k, slice)]
        return out.reshape([shape[i] for i in kept] + list(plane_shape))

    def close(self) -> None:
        with self._lock:
            self._close_files()


def _pick(image: int | str, names: Sequence[str], path: Path) -> int:
    if isinstance(image, str):
        if image not in names:
            raise KeyError(f"{path} has no image named {image!r}: {list(names)}")
        return list(names).index(image)
    if not -len(names) <= image < len(names):
        raise IndexError(f"{path} has {len(names)} images; image={image} is not one")
    return image % len(names)
