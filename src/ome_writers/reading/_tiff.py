"""TIFF read through tifffile: OME-TIFF (single files and file sets) and others.

A complete file (or one written by other software) is read as tifffile
describes it: one image per series, its axes unsqueezed (OME-TIFF: T, C, Z in
the file's DimensionOrder, slowest first, then Y, X); several images become a
leading dimension ``p``. A file this library is writing carries a progress
record in its provisional OME-XML and is read as that record and the
description say (`_tiff_live.py`).
"""

from __future__ import annotations

import threading
import xml.etree.ElementTree as ET
from functools import cached_property
from typing import TYPE_CHECKING, Any

import numpy as np

from ome_writers.metadata._display import NAMESPACE as DISPLAY
from ome_writers.metadata._display import (
    ChannelSetting,
    read_annotation,
    value_range,
)
from ome_writers.reading._channels import ChannelDisplay, default_color, ome_color
from ome_writers.reading._source import Key, Snapshot, Source, read_inside

if TYPE_CHECKING:
    from collections.abc import Mapping
    from pathlib import Path

OME_NS = "{http://www.openmicroscopy.org/Schemas/OME/2016-06}"
#: numpy types of OME pixel types
_OME_TYPES = {
    "uint8": "uint8",
    "uint16": "uint16",
    "uint32": "uint32",
    "int8": "int8",
    "int16": "int16",
    "int32": "int32",
    "float": "float32",
    "double": "float64",
}


def axis_name(letter: str) -> str:
    """A dimension name for a tifffile axis letter."""
    return letter.lower()


def display_annotations(root: ET.Element | None) -> dict[str, ChannelSetting]:
    """The display MapAnnotations of an OME document (ome-writers'
    namespace), by ID."""
    if root is None:
        return {}
    out = {}
    for ann in root.iter(f"{OME_NS}MapAnnotation"):
        if ann.get("Namespace") != DISPLAY:
            continue
        values = {m.get("K", ""): m.text or "" for m in ann.iter(f"{OME_NS}M")}
        out[ann.get("ID", "")] = read_annotation(values)
    return out


def _significant_window(pixels: ET.Element) -> tuple[float, float] | None:
    """The range of the Pixels' SignificantBits, when it is less than the
    pixel type holds (a 12-bit camera in 16-bit pixels)."""
    try:
        bits = int(pixels.get("SignificantBits", ""))
        dtype = np.dtype(_OME_TYPES[pixels.get("Type", "")])
    except (KeyError, TypeError, ValueError):
        return None
    if dtype.kind not in "iu" or not 1 <= bits < dtype.itemsize * 8:
        return None
    return value_range(dtype, bits)


def ome_channels(
    pixels: ET.Element | None,
    count: int,
    annotations: Mapping[str, ChannelSetting] | None = None,
) -> list[ChannelDisplay]:
    """The channels an OME ``Pixels`` element lists (`count` in all), with
    the display settings of their `annotations` (by ID)."""
    listed = [] if pixels is None else pixels.findall(f"{OME_NS}Channel")
    default = _significant_window(pixels) if pixels is not None else None
    out = []
    for i in range(count):
        element = listed[i] if i < len(listed) else None
        name = element.get("Name") if element is not None else None
        color = ome_color(element.get("Color")) if element is not None else None
        setting = ChannelSetting()
        refs = element.findall(f"{OME_NS}AnnotationRef") if element is not None else []
        for ref in refs:
            setting = (annotations or {}).get(ref.get("ID", ""), setting)
        out.append(
            ChannelDisplay(
                name=name if name else str(i),
                color=color or default_color(i, count),
                window=setting.limits or default,
                visible=setting.visible is not False,
            )
        )
    return out


class TiffSeriesSource(Source):
    """A TIFF file (or OME-TIFF file set) as tifffile's series describe it."""

    def __init__(self, path: Path, image: int | str | None = None) -> None:
        import tifffile

        self.path = path
        self._lock = threading.Lock()
        self._tif = tifffile.TiffFile(path)
        try:
            self._setup(image)
        except BaseException:
            self._tif.close()
            raise

    def _setup(self, image: int | str | None) -> None:
        series = list(self._tif.series)
        if not series:
            raise ValueError(f"{self.path}: no images in this TIFF file")
        names = [s.name or str(i) for i, s in enumerate(series)]
        indices = list(range(len(series)))
        if image is not None:
            k = _pick(image, names, self.path)
            series, names, indices = [series[k]], [names[k]], [k]
        first = series[0]
        axes = first.get_axes(False)
        shape = tuple(int(n) for n in first.get_shape(False))
        self._squeeze_s = axes.endswith("S") and shape[-1] == 1
        if self._squeeze_s:
            axes, shape = axes[:-1], shape[:-1]
        for other, name in zip(series[1:], names[1:], strict=True):
            other_axes = other.get_axes(False)[: len(axes)]
            other_shape = tuple(other.get_shape(False))[: len(shape)]
            if other_axes != axes or other_shape != shape:
                raise ValueError(
                    f"{self.path}: image {name!r} is {other_axes} {other_shape}, the "
                    f"first {axes} {shape}: open its images one at a time "
                    "(ome_writers.open(..., image=...))"
                )
        self._series = series
        self.multi = len(series) > 1
        self.dims = (("p",) if self.multi else ()) + tuple(axis_name(a) for a in axes)
        self.dtype = np.dtype(first.dtype)
        level_shapes = [shape]
        for level in first.levels[1:]:
            level_shape = tuple(int(n) for n in level.get_shape(False))
            level_shapes.append(level_shape[: len(shape)])
        self._shapes = level_shapes
        self.labels = {}
        if self.multi:
            self.labels["p"] = names
        self.channels = []
        if "C" in axes:
            count = shape[axes.index("C")]
            self.channels = ome_channels(
                self._pixels(indices[0]), count, display_annotations(self._ome)
            )
            if self._tif.is_ome:
                self.labels["c"] = [c.name for c in self.channels]
        lead = (len(series),) if self.multi else ()
        self._snapshot = Snapshot(extent=(*lead, *shape), complete=True)
        self._arrays: dict[tuple[int, int], Any] = {}

    @cached_property
    def _ome(self) -> ET.Element | None:
        """The OME document, if the file is OME-TIFF (parsed once)."""
        text = self._tif.ome_metadata if self._tif.is_ome else None
        try:
            return ET.fromstring(text) if text else None
        except ET.ParseError:
            return None

    def _pixels(self, index: int) -> ET.Element | None:
        """The OME ``Pixels`` of image `index`, if the file is OME-TIFF."""
        root = self._ome
        if root is None:
            return None
        images = root.findall(f"{OME_NS}Image")
        if index < len(images):
            return images[index].find(f"{OME_NS}Pixels")
        return None

    @property
    def shapes(self) -> list[tuple[int | None, ...]]:
        lead = (len(self._series),) if self.multi else ()
        return [(*lead, *s) for s in self._shapes]

    @property
    def factors(self) -> list[tuple[float, ...]]:
        base = self._shapes[0]
        lead = (1.0,) if self.multi else ()
        return [
            (
                *lead,
                *(
                    float(round(a / max(b, 1))) or 1.0
                    for a, b in zip(base, s, strict=True)
                ),
            )
            for s in self._shapes
        ]

    @property
    def snapshot(self) -> Snapshot:
        return self._snapshot

    def refresh(self) -> Snapshot:
        return self._snapshot

    def _array(self, image: int, level: int) -> Any:
        key = (image, level)
        array = self._arrays.get(key)
        if array is None:
            import zarr

            store = self._series[image].aszarr(squeeze=False, level=level)
            array = zarr.open_array(store, mode="r")
            self._arrays[key] = array
        return array

    def read(self, level: int, key: Key) -> np.ndarray:
        if not self.multi:
            return self._read_image(0, level, key)
        pick, rest = key[0], key[1:]
        if isinstance(pick, int):
            return self._read_image(pick, level, rest)
        parts = [
            self._read_image(i, level, rest)
            for i in range(pick.start, pick.stop, pick.step)
        ]
        if parts:
            return np.stack(parts)
        sizes = [
            len(range(k.start, k.stop, k.step)) for k in rest if isinstance(k, slice)
        ]
        return np.zeros([0, *sizes], dtype=self.dtype)

    def _read_image(self, image: int, level: int, key: Key) -> np.ndarray:
        with self._lock:  # tifffile's file handles are shared
            array = self._array(image, level)
            if self._squeeze_s:
                key = (*key, 0)
            return read_inside(array, array.shape, key, self.dtype)

    def close(self) -> None:
        with self._lock:
            self._arrays.clear()
            self._tif.close()


def _pick(image: int | str, names: list[str], path: Path) -> int:
    if isinstance(image, str):
        if image not in names:
            raise KeyError(f"{path} has no image named {image!r}: {names}")
        return names.index(image)
    if not -len(names) <= image < len(names):
        raise IndexError(f"{path} has {len(names)} images; image={image} is not one")
    return image % len(names)
