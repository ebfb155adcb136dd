"""Read images for `convert`: TIFF, OME-Zarr, Zarr and ``.npy``, plane by plane.

`read_sources` describes every image of the sources from their metadata
alone (a `SourceImage`: its dimensions, pixel type, name and position);
`read_planes` opens one image and yields its planes, one 2D plane at a time,
in C order over its non-frame dimensions. A `SourceImage` is a plain,
picklable value, so a worker process can read the planes of an image the
parent described.

- OME-TIFF: the OME-XML (ome-types) gives image names, channels (names,
  colours, wavelengths, fluorophores), physical sizes, the time increment,
  stage positions and each plane's DeltaT, ExposureTime and PositionX/Y/Z;
  tifffile's series give the axes. Every image of a file, or
  of a multi-file set (each image once when several files of a set are given).
- ImageJ hyperstacks: z spacing, frame interval and unit from
  ``imagej_metadata``, the pixel size from the resolution tags; files whose
  pages are not all indexed (over 4 GB) are read from their contiguous data.
- Other TIFF files: tifffile's series axes (T, Z, C, Y, X; a lone generic
  axis, ``Q`` or ``I``, becomes time; samples per pixel become channels) and
  the resolution tags (inch or centimetre).
- OME-Zarr 0.4 (Zarr v2, ``.zattrs``) and 0.5 (Zarr v3, ``attributes.ome``):
  single images, bioformats2raw collections (names and stage positions from
  ``OME/METADATA.ome.xml`` where present) and plates; level 0 of each image,
  with its axes, scale and translation, the omero channel labels and colours,
  and the per-frame metadata ome-writers recorded. Plain Zarr arrays and
  ``.npy`` files have no axis metadata: the last two axes are y, x and the
  others are named from their count (t, c, z for five), or as `axes` names
  them.

Planes are read with plain reads (a TIFF page, a Zarr slice, a read at an
offset of a ``.npy`` file), never through a memory map whose pages would
count as the process's memory; a Zarr array is read a chunk deep along its
innermost non-frame axis, so a chunk is decoded once.
"""

from __future__ import annotations

import itertools
import math
import os
import warnings
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from ome_writers import Channel, Dimension, Plate, Position
from ome_writers._io._paths import written_path
from ome_writers._schema._units import length_unit, time_unit
from ome_writers.metadata._frame_metadata import stored_records
from ome_writers.metadata._multiscale_read import level_transforms, multiscale_axes

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Mapping, Sequence

    import tifffile

__all__ = ["SourceImage", "plate_of", "read_planes", "read_sources"]

SourceKind = Literal["tiff", "zarr", "npy"]

# tifffile axis letters with a meaning of their own
_TIFF_AXES: dict[str, tuple[str, str]] = {
    "T": ("t", "time"),
    "Z": ("z", "space"),
    "C": ("c", "channel"),
    "Y": ("y", "space"),
    "X": ("x", "space"),
}
_NGFF_TYPES = {"space": "space", "time": "time", "channel": "channel"}
_NPY_AXES = "tczyx"


@dataclass(frozen=True)
class SourceImage:
    """One image of a source: where its planes are and what they mean.

    Attributes
    ----------
    path : str
        The file (TIFF, ``.npy``) or directory (Zarr) to open.
    kind : "tiff" | "zarr" | "npy"
        How to read it.
    key : str | int
        TIFF series index, or the path of the Zarr array (level 0) in the
        store; unused for ``.npy``.
    name : str
        Name of the image: the position name in the output.
    dimensions : tuple[Dimension, ...]
        Non-frame dimensions then Y, X, in the order the planes are read
        (C order over the non-frame dimensions).
    dtype : str
        Pixel type.
    position : Position
        Stage coordinates and plate well of the image (its name is `name`).
    samples : int
        TIFF samples per pixel read as a channel axis (the fastest varying);
        1 otherwise.
    frame_metadata : tuple[Mapping[str, Any] | None, ...]
        Per plane, in the order the planes are read, its per-frame metadata
        as `OMEStream.append` takes it (``delta_t`` and ``exposure_time`` in
        s, ``position_x/y/z`` in µm; from an OME-Zarr of ours every key it
        recorded); None for a plane without. Empty: no plane has any.
    """

    path: str
    kind: SourceKind
    key: str | int
    name: str
    dimensions: tuple[Dimension, ...]
    dtype: str
    position: Position = field(default_factory=lambda: Position(name="0"))
    samples: int = 1
    frame_metadata: tuple[Mapping[str, Any] | None, ...] = ()

    @property
    def shape(self) -> tuple[int, ...]:
        """Count of every dimension."""
        return tuple(d.count or 1 for d in self.dimensions)

    @property
    def num_planes(self) -> int:
        """Number of 2D planes."""
        return math.prod(self.shape[:-2])


# ---------------------------------------------------------------- the sources


def read_sources(
    sources: Sequence[str | Path], *, axes: str | Sequence[str] | None = None
) -> list[SourceImage]:
    """Describe every image of `sources`, reading metadata only.

    Parameters
    ----------
    sources : sequence of str or Path
        TIFF files (OME-TIFF, ImageJ, plain), OME-Zarr directories (0.4, 0.5)
        or plain Zarr arrays, ``.npy`` files, or directories of TIFF files.
        An OME-TIFF of several positions may be named as it was written
        (``run.ome.tiff`` for the files in ``run/``).
    axes : str | sequence of str | None
        Names of the axes of sources without axis metadata (``.npy``, plain
        TIFF, plain Zarr arrays), slowest first: ``"tczyx"`` or
        ``["t", "c", "z", "y", "x"]``. The last two are Y and X. None: the
        last two are y, x and the others are named from their count (``t,
        c, z`` for five axes, ``z`` for three).

    Returns
    -------
    list[SourceImage]
        Every image, in the order given; positions named uniquely.
    """
    names = _axis_names(axes)
    images: list[SourceImage] = []
    seen: set[tuple[str, int]] = set()  # pages of multi-file OME-TIFF sets
    for source in sources:
        path = written_path(Path(source))
        if not path.exists():
            raise FileNotFoundError(f"Source {path} does not exist.")
        if _is_zarr(path):
            images.extend(_zarr_images(path, names))
        elif path.suffix.lower() == ".npy":
            images.append(_npy_image(path, names))
        elif path.is_dir():
            tiffs = sorted(
                p for p in path.iterdir() if p.suffix.lower() in (".tif", ".tiff")
            )
            if not tiffs:
                raise ValueError(f"{path}: neither OME-Zarr nor a folder of TIFFs.")
            for tiff in tiffs:
                images.extend(_tiff_images(tiff, names, seen))
        elif path.suffix.lower() in (".tif", ".tiff", ".btf", ".tf8"):
            images.extend(_tiff_images(path, names, seen))
        else:
            raise ValueError(
                f"{path}: unrecognised input (expected TIFF, OME-Zarr, Zarr or .npy)."
            )
    return _unique_names(images)


def _axis_names(axes: str | Sequence[str] | None) -> list[str] | None:
    if axes is None:
        return None
    if isinstance(axes, str):
        names = axes.split(",") if "," in axes else list(axes)
    else:
        names = list(axes)
    names = [n.strip() for n in names]
    if len(names) < 2 or len(set(names)) != len(names) or not all(names):
        raise ValueError(f"axes {axes!r}: give at least two unique names.")
    return names


def _unique_names(images: list[SourceImage]) -> list[SourceImage]:
    """Make position names unique within each well (or among all without one):
    the file's name where image names repeat, then a ``_k`` suffix."""

    def well(im: SourceImage) -> tuple[str | None, str | None]:
        return (im.position.plate_row, im.position.plate_column)

    keys = [(well(im), im.name) for im in images]
    names = [im.name for im in images]
    if len(set(keys)) != len(keys):
        stems = [_stem(im.path) for im in images]
        names = [
            im.name
            if keys.count(key) == 1
            else f"{stem}_{im.name}"
            if stems.count(stem) == 1
            else im.name
            for im, key, stem in zip(images, keys, stems, strict=True)
        ]
    used: dict[tuple[Any, str], int] = {}
    out = []
    for im, name in zip(images, names, strict=True):
        k = used.get((well(im), name), 0)
        used[(well(im), name)] = k + 1
        unique = name if k == 0 else f"{name}_{k}"
        out.append(
            replace(
                im,
                name=unique,
                position=im.position.model_copy(update={"name": unique}),
            )
        )
    return out


def _stem(path: str | Path) -> str:
    name = Path(path).name
    for ext in (".ome.tiff", ".ome.tif", ".ome.zarr", ".ome.btf"):
        if name.lower().endswith(ext):
            return name[: -len(ext)]
    return name.rsplit(".", 1)[0] if "." in name else name


def _dimension(
    name: str,
    count: int,
    kind: str | None,
    *,
    unit: str | None = None,
    scale: float | None = None,
    translation: float | None = None,
    coords: list[Any] | None = None,
) -> Dimension:
    """A Dimension with a unit only where ome-writers knows it, positive scales."""
    if unit is not None:
        known = {"space": length_unit, "time": time_unit}.get(kind or "")
        unit = known(unit) if known is not None else None
    if scale is not None and not (math.isfinite(scale) and scale > 0):
        scale = None
    if kind == "channel" and coords is not None and len(coords) != count:
        coords = None
    return Dimension(
        name=name,
        count=count,
        type=kind,
        unit=unit,
        scale=scale,
        translation=translation or None,
        coords=coords,
    )


def _default_dims(
    shape: tuple[int, ...], names: list[str] | None, source: Path
) -> tuple[Dimension, ...]:
    """Dimensions of an array without axis metadata (``.npy``, plain Zarr)."""
    if names is None:
        extra = len(shape) - len(_NPY_AXES)
        names = [f"d{i}" for i in range(extra)] + list(_NPY_AXES[max(0, -extra) :])
    if len(names) != len(shape):
        raise ValueError(
            f"{source}: axes {names} do not match its {len(shape)} dimensions "
            f"(shape {shape})."
        )
    dims = []
    for i, (name, count) in enumerate(zip(names, shape, strict=True)):
        key = name.lower()
        kind = "space" if i >= len(shape) - 2 else _NAMED_TYPES.get(key)
        dims.append(_dimension(name, count, kind))
    return tuple(dims)


_NAMED_TYPES = {"t": "time", "c": "channel", "z": "space", "y": "space", "x": "space"}


# .npy ------------------------------------------------------------------------


def _npy_image(path: Path, names: list[str] | None) -> SourceImage:
    array = np.load(path, mmap_mode="r")
    if array.ndim < 2:
        raise ValueError(f"{path}: a .npy source needs at least 2 dimensions.")
    return SourceImage(
        path=str(path),
        kind="npy",
        key="",
        name=_stem(path),
        dimensions=_default_dims(array.shape, names, path),
        dtype=str(array.dtype.newbyteorder("=").name),
    )


def _npy_planes(image: SourceImage) -> Iterator[np.ndarray]:
    mapped = np.load(image.path, mmap_mode="r")
    plane_shape = mapped.shape[-2:]
    if not mapped.flags.c_contiguous:  # Fortran order: planes are strided
        for index in np.ndindex(*mapped.shape[:-2]):
            yield np.ascontiguousarray(mapped[index])
        return
    offset = int(mapped.offset)
    dtype = mapped.dtype
    del mapped  # read with plain reads: a map's pages would count as memory
    nbytes = math.prod(plane_shape) * dtype.itemsize
    with open(image.path, "rb", buffering=0) as fh:
        for k in range(image.num_planes):
            plane = np.empty(plane_shape, dtype)
            fh.seek(offset + k * nbytes)
            view = plane.reshape(-1).view(np.uint8).data
            got = 0
            while got < nbytes:
                n = fh.readinto(view[got:])
                if not n:
                    raise EOFError(f"{image.path}: the file ends early.")
                got += n
            yield plane


# TIFF ------------------------------------------------------------------------


def _tiff_images(
    path: Path, names: list[str] | None, seen: set[tuple[str, int]]
) -> list[SourceImage]:
    import tifffile

    out = []
    with tifffile.TiffFile(path) as tif:
        ome = _ome_model(tif) if tif.is_ome else None
        for index, series in enumerate(tif.series):
            first = series.pages[0] if len(series.pages) else None
            if first is not None:  # an image of a multi-file set: once
                fh = first.parent.filehandle
                key = (os.path.realpath(fh.path), first.index)
                if key in seen:
                    continue
                seen.add(key)
            out.append(_tiff_image(path, tif, index, series, ome, names))
    return out


def _ome_model(tif: tifffile.TiffFile) -> Any:
    from ome_types import from_xml

    try:
        return from_xml(tif.ome_metadata or "")
    except Exception:  # OME-XML ome-types rejects: tifffile's axes still apply
        return None


def _tiff_layout(
    series: tifffile.TiffPageSeries,
) -> tuple[str, tuple[int, ...], int]:
    """(axes, shape) of the axes outside a page, and samples per pixel."""
    axes = series.get_axes(False)
    shape = tuple(series.get_shape(False))
    # a page holds the trailing Y, X and samples (before Y when planar)
    end = len(axes)
    while end and axes[end - 1] in "YXS":
        end -= 1
    page_axes = axes[end:]
    if sorted(page_axes.replace("S", "")) != ["X", "Y"]:
        raise ValueError(f"unsupported TIFF page axes {page_axes!r} (series {axes!r})")
    samples = math.prod(
        n for a, n in zip(axes[end:], shape[end:], strict=True) if a == "S"
    )
    return axes[:end], shape[:end], samples


def _tiff_image(
    path: Path,
    tif: tifffile.TiffFile,
    index: int,
    series: tifffile.TiffPageSeries,
    ome: Any,
    names: list[str] | None,
) -> SourceImage:
    outer_axes, outer_shape, samples = _tiff_layout(series)
    page = series.keyframe
    ysize, xsize = (page.imagelength, page.imagewidth)
    image = _ome_image(ome, series, index) if ome is not None else None
    kind = "ome" if image is not None else "imagej" if tif.is_imagej else "plain"
    channels: list[Any] | None = None
    if image is not None:
        channels = [_ome_channel(c) for c in image.pixels.channels]
        if not all(channels) or len({c.name for c in channels}) != len(channels):
            channels = None
    keep_c = channels is not None
    letters = [
        (a, n)
        for a, n in zip(outer_axes, outer_shape, strict=True)
        if n > 1 or (a == "C" and keep_c)
    ]
    if samples > 1:
        if any(a == "C" for a, _ in letters):
            raise ValueError(f"{path}: samples per pixel and a channel axis.")
        letters.append(("C", samples))
    letters += [("Y", ysize), ("X", xsize)]
    scales = _tiff_scales(tif, page, image)
    if names is not None:
        if kind != "plain":
            raise ValueError(f"{path}: axes= applies to sources without axis names.")
        if len(names) != len(letters):
            raise ValueError(
                f"{path}: axes {names} do not match its axes "
                f"{''.join(a for a, _ in letters)}."
            )
        dims = _default_dims(tuple(n for _, n in letters), names, path)
    else:
        dims = _tiff_dims(letters, scales, channels)
    name = image.name if image is not None and image.name else _stem(path)
    if len(tif.series) > 1 and not (image is not None and image.name):
        name = f"{_stem(path)}_{index}"
    return SourceImage(
        path=str(path),
        kind="tiff",
        key=index,
        name=name,
        dimensions=dims,
        dtype=str(np.dtype(series.dtype).newbyteorder("=").name),
        position=_ome_position(image, name),
        samples=samples,
        frame_metadata=_ome_planes(image, outer_axes, outer_shape, samples),
    )


def _tiff_dims(
    letters: list[tuple[str, int]],
    scales: dict[str, tuple[float, str]],
    channels: list[Any] | None,
) -> tuple[Dimension, ...]:
    generic = [a for a, _ in letters if a not in _TIFF_AXES]
    stack = len(generic) == 1 and "T" not in [a for a, _ in letters]
    seen: dict[str, int] = {}
    dims = []
    for letter, count in letters:
        if letter in _TIFF_AXES:
            name, kind = _TIFF_AXES[letter]
        elif stack:  # a plain stack of frames: time
            name, kind = "t", "time"
        else:
            name, kind = letter.lower(), "other"
            if generic.count(letter) > 1:  # Q, Q, Q -> q0, q1, q2
                seen[letter] = seen.get(letter, -1) + 1
                name = f"{name}{seen[letter]}"
        scale, unit = scales.get(letter, (None, None))
        dims.append(
            _dimension(
                name,
                count,
                kind,
                unit=unit,
                scale=scale,
                coords=channels if letter == "C" else None,
            )
        )
    return tuple(dims)


def _ome_image(ome: Any, series: tifffile.TiffPageSeries, index: int) -> Any:
    images = list(ome.images)
    named = [im for im in images if series.name and im.name == series.name]
    if len(named) == 1:
        return named[0]
    return images[index] if index < len(images) else None


def _ome_channel(channel: Any) -> Channel | None:
    if not channel.name:
        return None
    kwargs: dict[str, Any] = {"name": channel.name}
    if channel.color is not None and "color" in channel.model_fields_set:
        r, g, b, *_ = channel.color.as_rgb_tuple()
        kwargs["color"] = (r, g, b)
    for attr, key in (
        ("excitation_wavelength", "excitation_wavelength_nm"),
        ("emission_wavelength", "emission_wavelength_nm"),
    ):
        value = getattr(channel, attr)
        unit = getattr(channel, f"{attr}_unit")
        if value and unit is not None and unit.value == "nm":
            kwargs[key] = round(value)
    if channel.fluor:
        kwargs["fluorophore"] = channel.fluor
    return Channel(**kwargs)


def _ome_position(image: Any, name: str) -> Position:
    label = getattr(image, "stage_label", None)
    coords: dict[str, float] = {}
    if label is not None:
        for axis in ("x", "y", "z"):
            value = getattr(label, axis)
            unit = getattr(label, f"{axis}_unit")
            factor = _TO_UM.get(unit.value if unit is not None else "µm")
            if value is not None and factor is not None:
                coords[f"{axis}_coord"] = float(value) * factor
    return Position(name=name, **coords)


_TO_UM = {"nm": 1e-3, "µm": 1.0, "mm": 1e3, "cm": 1e4, "m": 1e6}
_TO_S = {"ns": 1e-9, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "min": 60.0, "h": 3600.0}
#: per-frame metadata keys (s, µm) from the OME Plane attributes of the same name
_PLANE_UNITS = {
    "delta_t": _TO_S,
    "exposure_time": _TO_S,
    "position_x": _TO_UM,
    "position_y": _TO_UM,
    "position_z": _TO_UM,
}


def _ome_planes(
    image: Any, outer_axes: str, outer_shape: tuple[int, ...], samples: int
) -> tuple[dict[str, float] | None, ...]:
    """Per plane in read order (pages, then samples), its OME Plane's values."""
    planes = image.pixels.planes if image is not None else []
    if not planes or any(a not in "TZC" for a in outer_axes):
        return ()  # no planes, or axes (modulo, planar samples) Planes do not name
    values = {
        (p.the_z or 0, p.the_c or 0, p.the_t or 0): _plane_values(p) for p in planes
    }
    out: list[dict[str, float] | None] = []
    for index in itertools.product(*(range(n) for n in outer_shape)):
        at = dict(zip(outer_axes, index, strict=True))
        meta = values.get((at.get("Z", 0), at.get("C", 0), at.get("T", 0)))
        out.extend([meta] * samples)
    return tuple(out) if any(out) else ()


def _plane_values(plane: Any) -> dict[str, float] | None:
    """A Plane's times in s and positions in µm (a unit we cannot convert,
    such as the default "reference frame" of positions, leaves a value out)."""
    out = {}
    for key, factors in _PLANE_UNITS.items():
        value = getattr(plane, key)
        unit = getattr(plane, f"{key}_unit")
        factor = factors.get(unit.value) if unit is not None else None
        if value is not None and factor is not None and math.isfinite(value):
            out[key] = float(value) * factor
    return out or None


def _tiff_scales(
    tif: tifffile.TiffFile, page: Any, image: Any
) -> dict[str, tuple[float, str]]:
    """Physical size per TIFF axis letter: (scale, unit)."""
    out: dict[str, tuple[float, str]] = {}
    if image is not None:
        pixels = image.pixels
        for letter in "XYZ":
            value = getattr(pixels, f"physical_size_{letter.lower()}")
            unit = getattr(pixels, f"physical_size_{letter.lower()}_unit")
            if value:
                out[letter] = (float(value), unit.value if unit else "µm")
        if pixels.time_increment:
            unit = pixels.time_increment_unit
            out["T"] = (float(pixels.time_increment), unit.value if unit else "s")
        return out
    meta = tif.imagej_metadata if tif.is_imagej else None
    xres, yres = page.resolution
    if meta is not None:
        unit = str(meta.get("unit", "")).replace("\\u00B5", "µ") or None
        if unit is not None and length_unit(unit) is not None:
            if xres and yres and (xres, yres) != (1, 1):
                out["X"] = (1 / xres, unit)
                out["Y"] = (1 / yres, unit)
            if meta.get("spacing"):
                out["Z"] = (float(meta["spacing"]), unit)
        if meta.get("finterval"):
            out["T"] = (float(meta["finterval"]), "s")
        return out
    per_unit = {2: 25400.0, 3: 10000.0}.get(int(page.resolutionunit))
    if per_unit is not None and xres and yres:
        out["X"] = (per_unit / xres, "µm")
        out["Y"] = (per_unit / yres, "µm")
    return out


def _read_page(page: Any) -> np.ndarray | None:
    """A page's pixels (None: a page a file set lacks)."""
    if page is None:
        return None
    with warnings.catch_warnings():
        # a page of another file of an OME-TIFF set: tifffile reopens it
        warnings.filterwarnings("ignore", ".*reading array from closed file")
        data: np.ndarray = page.asarray()
    return data


def _tiff_planes(image: SourceImage) -> Iterator[np.ndarray | None]:
    import tifffile

    with tifffile.TiffFile(image.path) as tif:
        series = tif.series[int(image.key)]
        _, outer_shape, samples = _tiff_layout(series)
        count = math.prod(outer_shape)
        pages = series.pages
        contiguous = len(pages) < count  # pages not all indexed (ImageJ > 4 GB)
        start = series.dataoffset
        if contiguous and start is None:
            raise ValueError(
                f"{image.path}: series {image.key} lists {len(pages)} of "
                f"{count} pages and its data is not contiguous."
            )
        page = series.keyframe
        if contiguous:
            dtype = np.dtype(tif.byteorder + np.dtype(series.dtype).char)
            page_shape = tuple(page.shape)
            nbytes = math.prod(page_shape) * dtype.itemsize
            fh = tif.filehandle
        for k in range(count):
            data: np.ndarray | None
            if contiguous:
                fh.seek(int(start or 0) + k * nbytes)
                data = fh.read_array(dtype, math.prod(page_shape)).reshape(page_shape)
            else:
                data = _read_page(pages[k])
            if samples == 1:
                yield None if data is None else data.reshape(data.shape[-2:])
                continue
            contig = page.planarconfig == 1  # samples last: Y, X, S
            for s in range(samples):
                if data is None:
                    yield None
                else:
                    yield (
                        data[..., s]
                        if contig
                        else data.reshape(-1, *data.shape[-2:])[s]
                    )


# Zarr ------------------------------------------------------------------------


def _is_zarr(path: Path) -> bool:
    return path.is_dir() and any(
        (path / name).is_file()
        for name in ("zarr.json", ".zattrs", ".zgroup", ".zarray")
    )


def _zarr_images(path: Path, names: list[str] | None) -> list[SourceImage]:
    import zarr

    node = zarr.open(str(path), mode="r")
    if isinstance(node, zarr.Array):  # a plain array: axes as for .npy
        return [
            SourceImage(
                path=str(path),
                kind="zarr",
                key="",
                name=_stem(path),
                dimensions=_default_dims(node.shape, names, path),
                dtype=str(np.dtype(node.dtype).newbyteorder("=").name),
            )
        ]
    if names is not None:
        raise ValueError(f"{path}: axes= applies to sources without axis names.")
    ome = _ngff(node.attrs.asdict())
    if "multiscales" in ome:
        return [_ngff_image(path, node, "", _stem(path), Position(name="0"))]
    if "plate" in ome:
        return _ngff_plate(path, node, ome["plate"])
    if "bioformats2raw.layout" in ome:
        return _ngff_collection(path, node)
    raise ValueError(f"{path}: a Zarr group without OME-Zarr images.")


def _ngff(attrs: Mapping[str, Any]) -> dict[str, Any]:
    """The NGFF attributes: ``attributes.ome`` (0.5) or the group's own (0.4)."""
    ome = attrs.get("ome")
    return dict(ome) if isinstance(ome, dict) else dict(attrs)


def _ngff_collection(path: Path, root: Any) -> list[SourceImage]:
    series: list[str] = []
    if "OME" in root:
        series = list(_ngff(root["OME"].attrs.asdict()).get("series", []))
    if not series:  # numbered children 0, 1, ...
        for k in itertools.count():
            if str(k) not in root:
                break
            series.append(str(k))
    xml = path / "OME" / "METADATA.ome.xml"
    ome_images: list[Any] = []
    if xml.is_file():
        try:
            from ome_types import from_xml

            ome_images = list(from_xml(xml.read_text(encoding="utf-8")).images)
        except Exception:  # the groups' own metadata still apply
            ome_images = []
    out = []
    for k, key in enumerate(series):
        image = ome_images[k] if k < len(ome_images) else None
        name = image.name if image is not None and image.name else key
        out.append(_ngff_image(path, root[key], key, name, _ome_position(image, name)))
    return out


def _ngff_plate(path: Path, root: Any, plate: dict[str, Any]) -> list[SourceImage]:
    rows = [r["name"] for r in plate.get("rows", [])]
    columns = [c["name"] for c in plate.get("columns", [])]
    out = []
    for well in plate.get("wells", []):
        well_path = well["path"]
        row = rows[well["rowIndex"]] if "rowIndex" in well else well_path.split("/")[0]
        col = (
            columns[well["columnIndex"]]
            if "columnIndex" in well
            else well_path.split("/")[1]
        )
        group = root[well_path]
        for fov in _ngff(group.attrs.asdict()).get("well", {}).get("images", []):
            key = f"{well_path}/{fov['path']}"
            name = str(fov["path"])
            position = Position(name=name, plate_row=row, plate_column=col)
            out.append(_ngff_image(path, root[key], key, name, position))
    return out


def plate_of(path: str | Path) -> Plate | None:
    """The plate of an OME-Zarr plate at `path` (rows, columns, name), or None."""
    if not _is_zarr(Path(path)):
        return None
    import zarr

    try:
        node = zarr.open_group(str(path), mode="r")
    except Exception:  # an array, or not Zarr after all
        return None
    plate = _ngff(node.attrs.asdict()).get("plate")
    if not isinstance(plate, dict):
        return None
    return Plate(
        row_names=[r["name"] for r in plate.get("rows", [])],
        column_names=[c["name"] for c in plate.get("columns", [])],
        name=plate.get("name"),
    )


def _ngff_image(
    path: Path, group: Any, key: str, default_name: str, position: Position
) -> SourceImage:
    ome = _ngff(group.attrs.asdict())
    multiscales = ome.get("multiscales")
    if not multiscales:
        raise ValueError(f"{path}/{key}: not an OME-Zarr image group.")
    multiscale = multiscales[0]
    dataset = multiscale["datasets"][0]
    array = group[dataset["path"]]
    axes = multiscale_axes(multiscale) or [{"name": a} for a in "tczyx"[-array.ndim :]]
    scale = [1.0] * array.ndim
    translation = [0.0] * array.ndim
    if "axes" in multiscale:  # 0.4, 0.5: the level's, then the multiscale's
        transforms = [
            *dataset.get("coordinateTransformations", []),
            *multiscale.get("coordinateTransformations", []),
        ]
    else:  # 0.6rc0: the level's (the multiscale's map into other systems)
        transforms = level_transforms(dataset)
    for t in transforms:
        if t.get("type") == "scale" and "scale" in t:
            scale = [a * b for a, b in zip(scale, t["scale"], strict=True)]
            translation = [a * b for a, b in zip(translation, t["scale"], strict=True)]
        elif t.get("type") == "translation" and "translation" in t:
            translation = [
                a + b for a, b in zip(translation, t["translation"], strict=True)
            ]
    labels = [
        c.get("label") for c in (ome.get("omero") or {}).get("channels", []) or []
    ]
    channels: list[Any] | None = None
    if labels and all(labels) and len(set(labels)) == len(labels):
        colors = [c.get("color") for c in ome["omero"]["channels"]]
        channels = [
            Channel(name=str(label), color=_hex_color(color))
            for label, color in zip(labels, colors, strict=True)
        ]
    dims = []
    n = array.ndim
    for i, (axis, count) in enumerate(zip(axes, array.shape, strict=True)):
        kind = _NGFF_TYPES.get(str(axis.get("type", "")))
        if kind is None:
            kind = "space" if i >= n - 2 else _NAMED_TYPES.get(axis["name"], "other")
        dims.append(
            _dimension(
                axis["name"],
                count,
                kind,
                unit=axis.get("unit"),
                scale=scale[i] if scale[i] != 1.0 or axis.get("unit") else None,
                translation=translation[i],
                coords=channels if kind == "channel" else None,
            )
        )
    name = multiscale.get("name") or default_name
    if position.plate_row is not None:  # a field: the plate decides its name
        name = position.name
    array_key = f"{key}/{dataset['path']}" if key else str(dataset["path"])
    own = group.attrs.asdict().get("ome_writers")
    return SourceImage(
        path=str(path),
        kind="zarr",
        key=array_key,
        name=str(name),
        dimensions=tuple(dims),
        dtype=str(np.dtype(array.dtype).newbyteorder("=").name),
        position=position.model_copy(update={"name": str(name)}),
        frame_metadata=_ngff_frames(path / key if key else path, own, array.shape),
    )


def _ngff_frames(
    image_dir: Path, own: Any, shape: tuple[int, ...]
) -> tuple[dict[str, Any] | None, ...]:
    """Per plane in read order, the per-frame metadata ome-writers recorded
    for the image (``storage_index`` is the plane's index in the array)."""
    if not isinstance(own, dict):
        return ()
    records, _ = stored_records(image_dir, own)
    outer = shape[:-2]
    out: list[dict[str, Any] | None] = [None] * math.prod(outer)
    for record in records:
        index = record.get("storage_index")
        if not isinstance(index, list) or len(index) != len(outer):
            continue
        linear = 0
        for i, n in zip(index, outer, strict=True):
            if not isinstance(i, int) or not 0 <= i < n:
                break
            linear = linear * n + i
        else:
            meta = {k: v for k, v in record.items() if k != "storage_index"}
            out[linear] = meta or None
    return tuple(out) if any(out) else ()


def _hex_color(value: Any) -> Any:
    from pydantic_extra_types.color import Color

    try:
        return Color(f"#{value}") if isinstance(value, str) and value else None
    except ValueError:  # a colour we cannot read is left out
        return None


def _zarr_planes(image: SourceImage) -> Iterator[np.ndarray]:
    import zarr

    root = Path(image.path)
    array = zarr.open_array(str(root / str(image.key)) if image.key else str(root))
    outer = image.shape[:-2]
    if not outer:
        yield np.asarray(array[...])
        return
    # read the innermost non-frame axis a chunk at a time (a chunk decoded once)
    depth = max(1, int(array.chunks[len(outer) - 1]))
    for head in itertools.product(*(range(n) for n in outer[:-1])):
        for start in range(0, outer[-1], depth):
            key: tuple[int | slice, ...] = (*head, slice(start, start + depth))
            block = np.asarray(array[key])
            yield from block


def read_planes(image: SourceImage) -> Iterator[np.ndarray | None]:
    """Every plane of `image`, C order over its non-frame dimensions (native
    byte order; None for a plane the source lacks)."""
    readers: dict[str, Callable[[SourceImage], Iterator[Any]]] = {
        "npy": _npy_planes,
        "tiff": _tiff_planes,
        "zarr": _zarr_planes,
    }
    for plane in readers[image.kind](image):
        if plane is None or plane.dtype.isnative:
            yield plane
        else:
            yield plane.astype(plane.dtype.newbyteorder("="))
