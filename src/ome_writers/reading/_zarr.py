"""OME-Zarr read through zarr-python: 0.4 (Zarr v2), 0.5 and 0.6rc0 (Zarr v3).

Single images, bioformats2raw collections and plates; several images become
one leading dimension ``p``. A dataset this library is writing states its
progress in the root group's attributes (``ome_writers.progress`` in its
``zarr.json``, or ``.zattrs`` of Zarr v2; docs/reading.md); a dataset without
one is complete as it is.
"""

from __future__ import annotations

import itertools
import threading
from typing import TYPE_CHECKING, Any

import numpy as np

from ome_writers.metadata._multiscale_read import (
    level_scale_translation,
    multiscale_axes,
)
from ome_writers.metadata._progress import PROGRESS_KEY
from ome_writers.reading._channels import ngff_channels
from ome_writers.reading._contract import Progress, parse_progress
from ome_writers.reading._source import Key, Snapshot, Source, read_inside
from ome_writers.reading._zarr_labels import label_names

if TYPE_CHECKING:
    from ome_writers.reading._location import Location

_DEFAULT_AXES = "tczyx"


class NotDescribedYet(ValueError):
    """A dataset being created whose metadata is not written yet."""


def is_zarr(location: Location) -> bool:
    """Whether `location` holds a Zarr group or array."""
    return any(
        location.read_bytes(name) is not None
        for name in ("zarr.json", ".zgroup", ".zattrs", ".zarray")
    )


def _group_attributes(location: Location, path: str) -> tuple[dict[str, Any], str]:
    """(attributes, node type) of the group or array at `path` (v3, else v2)."""
    prefix = f"{path}/" if path else ""
    doc = location.read_json(prefix + "zarr.json")
    if doc is not None:
        attrs = doc.get("attributes") or {}
        return dict(attrs), str(doc.get("node_type", "group"))
    attrs = location.read_json(prefix + ".zattrs") or {}
    node = "array" if location.read_bytes(prefix + ".zarray") is not None else "group"
    if (
        node == "group"
        and not attrs
        and location.read_bytes(prefix + ".zgroup") is None
    ):
        raise ValueError(f"{location.path(path)}: no Zarr group or array there")
    return dict(attrs), node


def _ngff(attrs: dict[str, Any]) -> dict[str, Any]:
    """The NGFF attributes: ``attributes.ome`` (0.5) or the group's own (0.4)."""
    ome = attrs.get("ome")
    return dict(ome) if isinstance(ome, dict) else attrs


def _join(*parts: str) -> str:
    return "/".join(p.strip("/") for p in parts if p not in ("", "."))


class ZarrSource(Source):
    """The images of an OME-Zarr dataset (or one of them: `image`)."""

    def __init__(
        self,
        location: Location,
        image: int | str | None = None,
        *,
        label: str | None = None,
        channel_names: list[Any] | None = None,
    ) -> None:
        self.location = location
        self._lock = threading.Lock()
        self._image = image
        # a label image's source reads its images' files, and leaves them open
        self._label = label
        attrs, node = _group_attributes(location, "")
        # the document holding the root's attributes, replaced whole
        self._root_document = (
            "zarr.json" if location.read_bytes("zarr.json") is not None else ".zattrs"
        )
        self._root_stamp = location.stamp(self._root_document)
        record = (attrs.get("ome_writers") or {}).get(PROGRESS_KEY)
        self._progress = self._parse(record)
        ome = _ngff(attrs)
        if node == "array":
            paths, names, datasets = [""], ["0"], None
        elif "multiscales" in ome:
            paths, names, datasets = [""], ["0"], ome
        elif "plate" in ome:
            paths = self._plate_images(ome["plate"])
            names, datasets = paths, None
        elif "bioformats2raw.layout" in ome:
            paths = self._collection_images()
            names, datasets = paths, None
        elif self._progress is not None:
            raise NotDescribedYet(
                f"{location}: the dataset is being created; its metadata is not "
                "written yet"
            )
        else:
            raise ValueError(
                f"{location}: not an OME-Zarr image, collection or plate "
                "(no multiscales, plate or bioformats2raw.layout metadata)"
            )
        if image is not None:
            k = self._pick(image, paths)
            paths, names = [paths[k]], [names[k]]
            datasets = None
        self._has_labels = node == "group"
        if label is not None:
            paths = [_join(path, "labels", label) for path in paths]
            datasets = None
        self.image_paths = paths
        self.multi = len(paths) > 1
        if datasets is None:
            attrs0, node0 = _group_attributes(location, paths[0])
            datasets = _ngff(attrs0) if node0 == "group" else None
        self._describe(paths[0], datasets)
        self.labels = {}
        if self.multi:
            self.labels["p"] = list(names)
        if label is not None:
            # a label image is not displayed as channels; its channel axis
            # has the image's names when it has the image's size
            self.channels = []
            axis = self._channel_axis
            if (
                axis is not None
                and channel_names is not None
                and self._shapes[0][axis] == len(channel_names)
            ):
                self.labels[self._axes[axis]] = list(channel_names)
        elif self._channel_axis is not None:
            self.labels[self._axes[self._channel_axis]] = [
                c.name for c in self.channels
            ]
        self.dims = (("p",) if self.multi else ()) + tuple(self._axes)
        self._handles: dict[tuple[int, int], Any] = {}
        self._snapshot = self._make_snapshot()

    # ------------------------------------------------------------- layout

    def _parse(self, record: Any) -> Progress | None:
        if record is None:
            return None
        return parse_progress(record, f"{self.location.path(self._root_document)}")

    def _plate_images(self, plate: Any) -> list[str]:
        if self._progress is not None and self._progress.image_paths:
            return list(self._progress.image_paths)
        wells = plate.get("wells") if isinstance(plate, dict) else None
        if not wells:
            raise ValueError(f"{self.location}: a plate without wells")
        out = []
        for well in wells:
            path = str(well["path"])
            attrs, _ = _group_attributes(self.location, path)
            images = _ngff(attrs).get("well", {}).get("images", [])
            out += [_join(path, str(fov["path"])) for fov in images]
        if not out:
            raise ValueError(f"{self.location}: a plate without images")
        return out

    def _collection_images(self) -> list[str]:
        if self._progress is not None and self._progress.image_paths:
            return list(self._progress.image_paths)
        try:
            attrs, _ = _group_attributes(self.location, "OME")
            series = [str(s) for s in _ngff(attrs).get("series", [])]
        except ValueError:
            series = []
        if series:
            return series
        out = []
        for k in itertools.count():  # numbered images 0, 1, ...
            try:
                _group_attributes(self.location, str(k))
            except ValueError:
                break
            out.append(str(k))
        if not out:
            raise ValueError(f"{self.location}: a collection without images")
        return out

    def _pick(self, image: int | str, paths: list[str]) -> int:
        if isinstance(image, str):
            if image not in paths:
                raise KeyError(f"{self.location} has no image {image!r}: {paths}")
            return paths.index(image)
        if not -len(paths) <= image < len(paths):
            raise IndexError(
                f"{self.location} has {len(paths)} images; image={image} is not one"
            )
        return image % len(paths)

    def _describe(self, path: str, ome: dict[str, Any] | None) -> None:
        """Axes, levels, dtype and channels, from the first image."""
        multiscale = (ome or {}).get("multiscales", [None])[0]
        if multiscale is None:  # a plain array
            self._level_paths = [path]
            array = self._open(path)
            ndim = array.ndim
            axes: list[str] = (
                list(_DEFAULT_AXES[-ndim:])
                if ndim <= 5
                else [f"d{i}" for i in range(ndim)]
            )
            types: list[str | None] = [None] * ndim
            scales: list[list[float] | None] = [None]
        else:
            raw_axes = multiscale_axes(multiscale) or [
                {"name": a} for a in _DEFAULT_AXES
            ]
            axes = [str(a.get("name", "")) for a in raw_axes]
            types = [a.get("type") for a in raw_axes]
            datasets = multiscale.get("datasets") or []
            if not datasets:
                raise ValueError(
                    f"{self.location.path(path)}: multiscales lists no datasets"
                )
            self._level_paths = [_join(path, str(d["path"])) for d in datasets]
            scales = [level_scale_translation(d)[0] for d in datasets]
            try:
                array = self._open(self._level_paths[0])
            except ValueError as e:
                if self._progress is None or self._progress.status != "writing":
                    raise
                raise NotDescribedYet(  # acquire-zarr in a bucket: at a shard
                    f"{self.location}: the dataset is being created; its first "
                    "array is not written yet"
                ) from e
        if array.ndim != len(axes):
            raise ValueError(
                f"{self.location.path(path)}: {len(axes)} axes for an array of "
                f"{array.ndim} dimensions"
            )
        self._axes = axes
        self.dtype = np.dtype(array.dtype)
        self._channel_axis = next(
            (i for i, t in enumerate(types) if t == "channel"),
            axes.index("c") if "c" in axes else None,
        )
        omero = (ome or {}).get("omero")
        if self._channel_axis is not None:
            count = int(array.shape[self._channel_axis])
        else:  # the image's one channel, when the metadata describe it
            listed = omero.get("channels") if isinstance(omero, dict) else None
            count = 1 if isinstance(listed, list) and len(listed) == 1 else 0
        self.channels = ngff_channels(omero, count) if count else []
        shapes = [tuple(int(n) for n in array.shape)]
        for level_path in self._level_paths[1:]:
            shapes.append(tuple(int(n) for n in self._open(level_path).shape))
        self._shapes = shapes
        self._factors = [
            _factors(
                shapes[0], shape, scales[0], scales[k] if k < len(scales) else None
            )
            for k, shape in enumerate(shapes)
        ]

    def _open(self, path: str) -> Any:
        try:
            return self.location.zarr_array(path)
        except Exception as e:
            raise ValueError(
                f"{self.location.path(path)}: cannot open the array: {e}"
            ) from e

    # ------------------------------------------------------------ progress

    @property
    def shapes(self) -> list[tuple[int | None, ...]]:
        lead = (len(self.image_paths),) if self.multi else ()
        return [(*lead, *shape) for shape in self._shapes]

    @property
    def factors(self) -> list[tuple[float, ...]]:
        lead = (1.0,) if self.multi else ()
        return [(*lead, *f) for f in self._factors]

    @property
    def snapshot(self) -> Snapshot:
        return self._snapshot

    def _make_snapshot(self) -> Snapshot:
        progress = self._progress
        full = self.shapes[0]
        if progress is None:
            return Snapshot(extent=tuple(int(n or 0) for n in full), complete=True)
        extent = []
        for name, size in zip(self.dims, full, strict=True):
            if name == "p" and self.multi:
                extent.append(min(progress.images, int(size or 0)))
            elif name in progress.extent:
                extent.append(progress.extent[name])
            elif progress.frames == 0:
                extent.append(0 if name not in self._axes[-2:] else int(size or 0))
            else:
                extent.append(int(size or 0))
        if not self.multi and progress.images == 0:  # nothing acquired yet
            extent = [0 if i < len(extent) - 2 else e for i, e in enumerate(extent)]
        if not self.multi and progress.status != "writing":  # its own array's
            extent = [min(e, int(n or 0)) for e, n in zip(extent, full, strict=True)]
        if self._label is not None and self._channel_axis is not None:
            # the frames' channels share one label plane unless per channel
            axis = self._channel_axis + (1 if self.multi else 0)
            extent[axis] = min(extent[axis], int(full[axis] or 0))
        return Snapshot(
            extent=tuple(extent),
            complete=progress.status == "complete",
            status=progress.status,
            updated=progress.updated,
            frames=progress.frames,
        )

    def refresh(self) -> Snapshot:
        stamp = self.location.stamp(self._root_document)
        if stamp is not None and stamp == self._root_stamp:
            return self._snapshot
        attrs, _ = _group_attributes(self.location, "")
        record = (attrs.get("ome_writers") or {}).get(PROGRESS_KEY)
        progress = self._parse(record)
        with self._lock:
            self._root_stamp = stamp
            self._progress = progress
            if self.location.replaced_whole:  # every array may have changed
                self._stale_handles(None)
            elif progress is None or progress.extent:
                self._stale_handles(progress)
            self._snapshot = self._make_snapshot()
        return self._snapshot

    def _stale_handles(self, progress: Progress | None) -> None:
        """Drop array handles that declare less than the record states (an
        unbounded array declares more as it grows)."""
        wanted = [
            None
            if progress is None or i == self._label_channel
            else progress.extent.get(name)
            for i, name in enumerate(self._axes)
        ]
        for key, handle in list(self._handles.items()):
            if progress is None or any(
                w is not None and n < w
                for w, n in zip(wanted, handle.shape, strict=True)
            ):
                del self._handles[key]
        if progress is None or any(
            w is not None and n < w
            for w, n in zip(wanted, self._shapes[0], strict=True)
        ):
            shape0 = self._open(self._level_paths[0]).shape
            self._shapes[0] = tuple(int(n) for n in shape0)

    # ------------------------------------------------------------- reading

    def _handle(self, image: int, level: int) -> Any:
        key = (image, level)
        handle = self._handles.get(key)
        if handle is None:
            relative = self._level_paths[level][len(self.image_paths[0]) :].strip("/")
            path = _join(self.image_paths[image], relative)
            handle = self._open(path)
            if handle.ndim != len(self._axes):
                raise ValueError(
                    f"{self.location.path(path)} has {handle.ndim} dimensions, the "
                    f"first image {len(self._axes)}: open its images one at a time "
                    "(ome_writers.open(..., image=...))"
                )
            self._handles[key] = handle
        return handle

    def read(self, level: int, key: Key) -> np.ndarray:
        if not self.multi:
            return self._read_image(0, level, key)
        pick, rest = key[0], key[1:]
        if isinstance(pick, int):
            return self._read_image(pick, level, rest)
        images = range(pick.start, pick.stop, pick.step)
        parts = [self._read_image(i, level, rest) for i in images]
        if parts:
            return np.stack(parts)
        sizes = [
            len(range(k.start, k.stop, k.step)) for k in rest if isinstance(k, slice)
        ]
        return np.zeros([0, *sizes], dtype=self.dtype)

    @property
    def _label_channel(self) -> int | None:
        return None if self._label is None else self._channel_axis

    def label_names(self) -> list[str]:
        if self._label is not None or not self._has_labels:
            return []
        return label_names(self.location, self.image_paths)

    def label_source(self, name: str) -> ZarrSource:
        names = self.label_names()
        if name not in names:
            raise KeyError(f"no label image {name!r} (label images: {names})")
        channel = None if self._channel_axis is None else self._axes[self._channel_axis]
        return ZarrSource(
            self.location,
            self._image,
            label=name,
            channel_names=self.labels.get(channel) if channel else None,
        )

    def close(self) -> None:
        with self._lock:
            self._handles.clear()
        if self._label is None:
            self.location.close()

    def _read_image(self, image: int, level: int, key: Key) -> np.ndarray:
        with self._lock:
            try:
                handle = self._handle(image, level)
            except ValueError:
                if self._snapshot.final:
                    raise
                handle = None  # an array the writer has not made yet
        if handle is None:
            sizes = [
                len(range(k.start, k.stop, k.step)) for k in key if isinstance(k, slice)
            ]
            return np.zeros(sizes, dtype=self.dtype)
        return read_inside(handle, handle.shape, key, self.dtype)


def _factors(
    base: tuple[int, ...],
    shape: tuple[int, ...],
    base_scale: list[float] | None,
    scale: list[float] | None,
) -> tuple[float, ...]:
    """How much each axis of a level is reduced from level 0: the ratio of
    their scales where both have them, else of their sizes (a power of two)."""
    out = []
    for i, (n0, n) in enumerate(zip(base, shape, strict=True)):
        if n0 == n:
            out.append(1.0)
        elif base_scale and scale and len(scale) == len(base) and base_scale[i] > 0:
            out.append(scale[i] / base_scale[i])
        else:
            out.append(float(2 ** round(np.log2(n0 / max(n, 1)))))
    return tuple(out)
