"""The loss window: a writer killed with SIGKILL at any moment leaves readable data.

Every frame whose `append` returned at least `loss_window` (1 s, the default)
before the kill is readable without ``ome-writers repair``, pixel-exact, by two
independent readers; every other cell holds a complete frame (the right one)
or zeros, never a torn or misplaced frame. The writer runs with
``checkpoint_seconds=None``, so only the loss window makes frames readable.

acquire-zarr has no flush: its bound is the first-dimension shards it has
completed (`acquire_zarr_required`). Per-frame metadata of the frames that must
be present is in each image's ``frame_metadata.jsonl`` (OME-Zarr), and their
Planes in ``OME/METADATA.ome.xml``, which names no frame that is not on disk.

Kills per cell: 2 with CI set, 5 otherwise, or OME_WRITERS_CRASH_KILLS; the
kill moments come from OME_WRITERS_CRASH_SEED (see `_crash_matrix`).
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import signal
import threading
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from itertools import product
from pathlib import Path
from typing import TYPE_CHECKING, Any
from xml.etree import ElementTree

import numpy as np
import pytest
import tifffile
import yaozarrs
import zarr

from ome_writers._registry import BY_NAME
from ome_writers.backends._select import select_backend
from tests.backends.params import backend_params, suffix

from ._crash_matrix import (
    LAYOUTS,
    LOSS_WINDOW,
    Kill,
    Layout,
    X,
    Y,
    expected_frame,
    frame_number_of,
    kills_per_cell,
    run_kills,
)

if TYPE_CHECKING:
    from collections.abc import Iterator

    from tests.backends.tiff.conftest import BioFormats

BACKENDS = [*backend_params(format="ome-zarr"), *backend_params(format="ome-tiff")]
TIFF_LETTER = {"t": "T", "c": "C", "z": "Z"}
BIOFORMATS_WARNINGS = ("mismatch", "WARN", "Exception", "ERROR", "Warning")


@pytest.fixture(scope="module")
def bioformats(tmp_path_factory: pytest.TempPathFactory) -> BioFormats | None:
    """Bio-Formats, as in tests/backends/tiff (None: OME_WRITERS_SKIP_BIOFORMATS=1)."""
    if os.environ.get("OME_WRITERS_SKIP_BIOFORMATS") == "1":
        return None
    from tests.backends.tiff.conftest import build_bioformats

    return build_bioformats(tmp_path_factory)


@pytest.mark.parametrize("layout", LAYOUTS, ids=lambda layout: layout.name)
@pytest.mark.parametrize("backend", BACKENDS)
def test_frames_readable_after_sigkill(
    tmp_path: Path, backend: str, layout: Layout, request: pytest.FixtureRequest
) -> None:
    is_zarr = BY_NAME[backend].format == "ome-zarr"
    probe = layout.settings(backend, str(tmp_path / f"probe{suffix(backend)}"), is_zarr)
    try:
        select_backend(probe)
    except NotImplementedError as e:
        pytest.skip(f"{backend} cannot write the {layout.name} layout: {e}")
    bf = None if is_zarr else request.getfixturevalue("bioformats")
    kills = run_kills(backend, layout, tmp_path, suffix(backend), kills_per_cell())
    problems: list[str] = []
    with ThreadPoolExecutor(len(kills)) as pool:  # Bio-Formats runs take a while
        checked = list(pool.map(lambda kill: _check_kill(kill, is_zarr, bf), kills))
    for kill, found in zip(kills, checked, strict=True):
        if found:
            problems.append(kill.describe())
            problems += [f"    {p}" for p in found]
    if problems:
        pytest.fail("\n".join(problems), pytrace=False)


# ------------------------------------------------------------------ the bound


def acquire_zarr_required(kill: Kill) -> tuple[set[int], set[int]]:
    """Frames acquire-zarr's loss window covers at the kill, and the frames it
    would cover had acquire-zarr written their shards at once.

    acquire-zarr writes a shard on its own threads once all its frames have
    arrived; a loss-window visit (`AcquireZarrBackend.make_readable`, which
    does not wait) declares, per array, the first-dimension extent of the
    shards found complete on disk: every file of a first-dimension shard
    present with a valid CRC32C index (`_declare_complete`). So a frame is
    covered when every frame of its first-dimension shard had returned, and
    every file of that shard had been written (its mtime), a loss window
    before the kill.
    """
    layout = kill.layout
    counts = [c for i, c in enumerate(layout.counts) if i != layout.position_axis]
    first = next(d for i, d in enumerate(layout.dims) if i != layout.position_axis)
    shard = int(first.get("chunk_size") or 1) * int(first.get("shard_size_chunks") or 1)
    per_index = math.prod([c for c in counts[1:] if c is not None])
    received = [0] * layout.positions
    done = kill.frames_before(LOSS_WINDOW)
    for n in range(done):
        received[layout.locate(n)[0]] += 1
    appended: set[int] = set()  # every frame of the shard returned by then
    for n in range(done):
        position, index = layout.locate(n)
        end = (index[0] // shard + 1) * shard
        if counts[0] is not None:
            end = min(end, counts[0])
        if received[position] >= end * per_index:
            appended.add(n)
    written = _shards_written(kill, kill.kill_wall - LOSS_WINDOW)
    covered = set()
    for n in appended:
        position, index = layout.locate(n)
        if (position, index[0] // shard) in written:
            covered.add(n)
    return covered, appended


def _shards_written(kill: Kill, before: float) -> set[tuple[int, int]]:
    """(position, first-dimension shard) whose files all have a valid index
    checksum and were last written at or before the wall-clock time `before`."""
    from numcodecs import CRC32C

    layout = kill.layout
    images = (
        ["."] if layout.positions == 1 else [str(p) for p in range(layout.positions)]
    )
    out = set()
    for position, image in enumerate(images):
        array = kill.root / image / "0"
        try:
            meta = json.loads((array / "zarr.json").read_text())
            firsts = sorted(int(p.name) for p in (array / "c").iterdir())
        except OSError:
            continue
        shards = meta["chunk_grid"]["configuration"]["chunk_shape"]
        chunk = meta["codecs"][0]["configuration"]["chunk_shape"]
        pairs = zip(shards, chunk, strict=True)
        index_bytes = 16 * math.prod(s // c for s, c in pairs) + 4
        # every dimension but the first is declared in full from the start
        rest = zip(meta["shape"][1:], shards[1:], strict=True)
        grid = [range(-(-int(n) // int(s))) for n, s in rest]
        for first in firsts:
            files = [
                array.joinpath("c", str(first), *map(str, others))
                for others in product(*grid)
            ]
            try:
                if max(f.stat().st_mtime for f in files) > before:
                    continue
                for f in files:
                    with open(f, "rb") as fh:
                        fh.seek(-index_bytes, os.SEEK_END)
                        CRC32C().decode(fh.read(index_bytes))
            except (OSError, RuntimeError, ValueError):
                continue
            out.add((position, first))
    return out


def _check_kill(kill: Kill, is_zarr: bool, bf: BioFormats | None) -> list[str]:
    if kill.error:
        return [f"the writer was not killed as planned: {kill.error}\n{kill.stderr}"]
    problems = []
    if kill.returncode != -signal.SIGKILL:
        problems.append(
            f"the writer ended with {kill.returncode}, not SIGKILL:\n{kill.stderr}"
        )
    # frames whose append returned at least a loss window before the kill
    returned = set(range(kill.frames_before(LOSS_WINDOW)))
    required = appended = returned
    if kill.backend == "acquire-zarr":
        required, appended = acquire_zarr_required(kill)
    if is_zarr:
        problems += _check_zarr(kill, required, returned)
    else:
        problems += _check_tiff(kill, required, bf)
    if problems and appended - required:
        problems.append(
            "(not required: acquire-zarr wrote the shards of frames "
            f"{_ranges(sorted(appended - required))} less than {LOSS_WINDOW} s "
            "before the kill)"
        )
    return problems


# ------------------------------------------------------------- cell checking


def _check_image(
    kill: Kill,
    reader: str,
    position: int,
    names: list[str],
    data: np.ndarray,
    required: set[int],
    present: set[int] | None = None,
) -> list[str]:
    """Every required frame of `position` present; other cells a frame or 0.
    `present` receives the frames found."""
    layout = kill.layout
    where = f"{reader}, position {position}"
    expected_names = [*layout.image_dims, "y", "x"]
    if names != expected_names:
        return [f"{where}: axes {names}, expected {expected_names}"]
    if data.shape[-2:] != (Y, X):
        return [f"{where}: frame shape {data.shape[-2:]}, expected {(Y, X)}"]
    problems = []
    counts = [c for i, c in enumerate(layout.counts) if i != layout.position_axis]
    for name, size, count in zip(
        layout.image_dims, data.shape[:-2], counts, strict=True
    ):
        if count is not None and size > count:
            problems.append(f"{where}: {name} has {size} > {count} elements")
    present = set() if present is None else present
    bad = []
    for index in product(*(range(s) for s in data.shape[:-2])):
        n = layout.frame_number(position, index)
        cell = data[index]
        if np.array_equal(cell, expected_frame(n)):
            present.add(n)
        elif cell.any():
            bad.append(_describe_bad(layout, n, index, cell))
    if bad:
        problems.append(
            f"{where}: {len(bad)} torn or wrong frame(s): " + "; ".join(bad)
        )
    mine = {n for n in required if layout.locate(n)[0] == position}
    missing = sorted(mine - present)
    if missing:
        problems.append(
            f"{where}: {len(missing)} of {len(mine)} required frame(s) missing "
            f"(array shape {data.shape}): {_missing(kill, missing)}"
        )
    return problems


def _describe_bad(
    layout: Layout, n: int, index: tuple[int, ...], cell: np.ndarray
) -> str:
    at = ",".join(f"{d}={i}" for d, i in zip(layout.image_dims, index, strict=True))
    other = frame_number_of(cell)
    if other is not None:
        return f"frame {n} ({at}) holds frame {other} (misplaced)"
    want = expected_frame(n)
    good = [r for r in range(Y) if np.array_equal(cell[r], want[r])]
    zero = [r for r in range(Y) if not cell[r].any()]
    return (
        f"frame {n} ({at}) torn: rows {_ranges(good) or 'none'} right, "
        f"rows {_ranges(zero) or 'none'} zero, the rest other values"
    )


def _missing(kill: Kill, frames: list[int]) -> str:
    layout = kill.layout
    shown = []
    for n in frames[:12]:
        _, index = layout.locate(n)
        at = ",".join(f"{d}={i}" for d, i in zip(layout.image_dims, index, strict=True))
        before = kill.kill_time - kill.returned[n]
        shown.append(f"{n} ({at}, returned {before:.3f} s before the kill)")
    more = f" ... ({len(frames) - 12} more)" if len(frames) > 12 else ""
    return f"frames {_ranges(frames)}: " + "; ".join(shown) + more


def _ranges(values: list[int]) -> str:
    """'0-3, 7, 9-10' for [0, 1, 2, 3, 7, 9, 10]."""
    out: list[str] = []
    start = prev = None
    for v in [*sorted(values), None]:
        if start is not None and (v is None or v != prev + 1):  # type: ignore[operator]
            out.append(f"{start}" if start == prev else f"{start}-{prev}")
            start = None
        if v is not None and start is None:
            start = v
        prev = v
    return ", ".join(out)


# ------------------------------------------------------------------- OME-Zarr


def _check_zarr(kill: Kill, required: set[int], returned: set[int]) -> list[str]:
    root = kill.root
    problems = []
    try:
        yaozarrs.validate_zarr_store(str(root))
    except Exception as e:
        problems.append(f"yaozarrs: {type(e).__name__}: {e}")
    try:
        group = zarr.open_group(str(root), mode="r")
        images = _image_groups(group)
    except Exception as e:
        return [*problems, f"zarr-python cannot open the group: {e!r}"]
    if len(images) != kill.layout.positions:
        return [*problems, f"{len(images)} images, expected {kill.layout.positions}"]
    present: set[int] = set()  # frames on disk, of every image
    for position, image in enumerate(images):
        node = group if image == "." else group[image]
        ome: Any = node.attrs["ome"]
        path = root / image / str(ome["multiscales"][0]["datasets"][0]["path"])
        try:
            array = zarr.open_array(str(path), mode="r")
            names = list(getattr(array.metadata, "dimension_names", None) or [])
            data = np.asarray(array[...])
        except Exception as e:
            problems.append(f"zarr-python cannot read {path}: {e!r}")
        else:
            problems += _check_image(
                kill, "zarr-python", position, names, data, required, present
            )
        try:
            names, data = _read_tensorstore(path)
        except Exception as e:
            problems.append(f"tensorstore cannot read {path}: {e!r}")
        else:
            problems += _check_image(
                kill, "tensorstore", position, names, data, required
            )
        problems += _check_journal(kill, position, root / image, returned)
    problems += _check_ome_xml(kill, returned, present)
    return problems


def _check_ome_xml(kill: Kill, returned: set[int], present: set[int]) -> list[str]:
    """``OME/METADATA.ome.xml`` is whole and valid, and describes frames on
    disk only: a Plane of no frame that is not there, in its own image; and
    (but for acquire-zarr, which describes frames as far as every earlier
    one is declared) a Plane of each frame returned a loss window before."""
    import ome_types

    path = kill.root / "OME" / "METADATA.ome.xml"
    try:
        ome = ome_types.from_xml(path.read_text(encoding="utf-8"), validate=True)
    except Exception as e:
        return [f"{path}: {type(e).__name__}: {e}"]
    layout = kill.layout
    if len(ome.images) != layout.positions:
        return [f"{path}: {len(ome.images)} Images, expected {layout.positions}"]
    problems = []
    described: set[int] = set()
    for position, image in enumerate(ome.images):
        for plane in image.pixels.planes:
            n = round((plane.delta_t or 0.0) / layout.period)
            described.add(n)
            if n not in present:
                problems.append(f"{path}: a Plane of frame {n}, which is not on disk")
            elif layout.locate(n)[0] != position:
                problems.append(f"{path}: frame {n}'s Plane in Image {position}")
    if kill.backend != "acquire-zarr":
        missing = sorted(returned - described)
        if missing:
            problems.append(
                f"{path}: no Plane of {len(missing)} frame(s) returned a loss "
                f"window before the kill: {_missing(kill, missing)}"
            )
    return problems


def _image_groups(group: Any) -> list[str]:
    """Image group paths of a single image or a bioformats2raw collection."""
    ome: Any = group.attrs["ome"]
    if "multiscales" in ome:
        return ["."]
    if "bioformats2raw.layout" in ome:
        return list(group["OME"].attrs["ome"]["series"])
    raise AssertionError(f"neither an image nor a collection: {ome}")


def _read_tensorstore(path: Path) -> tuple[list[str], np.ndarray]:
    import tensorstore as ts

    spec = {"driver": "zarr3", "kvstore": {"driver": "file", "path": str(path)}}
    store = ts.open(spec, open=True, read=True).result()
    return list(store.domain.labels), np.asarray(store.read().result())


def _check_journal(
    kill: Kill, position: int, image: Path, returned: set[int]
) -> list[str]:
    """Each frame returned a loss window before the kill has its record."""
    layout = kill.layout
    mine = {n for n in returned if layout.locate(n)[0] == position}
    journal = image / "frame_metadata.jsonl"
    records: dict[int, list[int]] = {}
    problems = []
    if journal.exists():
        lines = journal.read_text().splitlines()
        for k, line in enumerate(lines):
            try:
                record = json.loads(line)
            except ValueError:
                if k != len(lines) - 1:  # only the last line may be torn
                    problems.append(f"{journal}: line {k + 1} is no JSON: {line!r}")
                continue
            n = record.get("n")
            if n in records:
                problems.append(f"{journal}: frame {n} recorded twice")
            records[n] = record.get("storage_index")
    for n, index in records.items():
        where = layout.locate(n)
        if where != (position, tuple(index)):
            problems.append(
                f"{journal}: frame {n} recorded at storage index {index}, "
                f"it is at position {where[0]} index {list(where[1])}"
            )
    missing = sorted(mine - set(records))
    if missing:
        problems.append(
            f"per-frame metadata: {journal} lacks {len(missing)} of {len(mine)} "
            f"required record(s): {_missing(kill, missing)}"
        )
    return problems


# ------------------------------------------------------------------ OME-TIFF


@dataclass
class TiffImage:
    position: int  # from its ID, "Image:<position>"
    sizes: dict[str, int]  # Z, C, T


def _check_tiff(kill: Kill, required: set[int], bf: BioFormats | None) -> list[str]:
    # several positions: one file per position in a folder (without suffix)
    root = Path(kill.layout.settings(kill.backend, str(kill.root), False).output_path)
    files = (
        [root]
        if root.is_file()
        else sorted([*root.glob("*.ome.tif"), *root.glob("*.ome.tiff")])
    )
    if not files:
        return [f"no OME-TIFF file at {root}"]
    problems: list[str] = []
    with _tifffile_log() as log:
        try:
            with tifffile.TiffFile(files[0]) as tif:
                xml = tif.ome_metadata if tif.is_ome else None
                first = tif.pages.first.description if len(tif.pages) else None
        except Exception as e:
            return [f"tifffile cannot open {files[0]}: {e!r}"]
        if xml is None:
            start = (first or "<no page>")[:80]
            return [
                f"tifffile: {files[0].name} holds no OME-XML (first page's "
                f"description starts {start!r}), so no frame is readable without "
                f"`ome-writers repair`; required: {_missing(kill, sorted(required))}"
            ]
        # a provisional OME-XML declares the images with complete outer
        # indices so far: a position not yet begun may be missing
        images = _tiff_images(xml)
        positions = [image.position for image in images]
        if len(set(positions)) != len(positions) or not set(positions) <= set(
            range(kill.layout.positions)
        ):
            return [f"the OME-XML declares images of positions {positions}"]
        undeclared = {n for n in required if kill.layout.locate(n)[0] not in positions}
        if undeclared:
            problems.append(
                f"the OME-XML in {files[0].name} declares positions {positions}, "
                f"not those of required frames {_missing(kill, sorted(undeclared))}"
            )
        # the first file holds the description of the set (the others point
        # to it, see below), and tifffile reads each image's pages from the
        # file its TiffData names
        for k, image in enumerate(images):
            try:
                names, data = _read_tiff_series(files[0], k, image, kill.layout)
            except Exception as e:
                problems.append(f"tifffile cannot read image {k} via {files[0]}: {e!r}")
                continue
            problems += _check_image(
                kill, "tifffile", image.position, names, data, required
            )
    problems += [f"tifffile logged: {message}" for message in log]
    problems += _pointers_to(files[0], files[1:])  # (a file not begun warns)
    if bf is not None:
        problems += _check_bioformats(kill, bf, files[0], images, required)
    return problems


def _pointers_to(first: Path, others: list[Path]) -> list[str]:
    """Problems unless each of `others` is a BinaryOnly pointer to `first`
    (a file not yet begun holds no page, and nothing)."""
    problems = []
    for path in others:
        with tifffile.TiffFile(path) as tif:
            if not len(tif.pages):
                continue
            description = tif.pages.first.description or ""
        start = description.find("<OME")
        root = ElementTree.fromstring(description[start:]) if start >= 0 else None
        pointer = (
            next((e for e in root if e.tag.endswith("}BinaryOnly")), None)
            if root is not None
            else None
        )
        if pointer is None or pointer.attrib.get("MetadataFile") != first.name:
            problems.append(f"{path.name}: no BinaryOnly pointer to {first.name}")
    return problems


class _Collect(logging.Handler):
    """Warnings logged by this thread (kills are checked concurrently)."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []
        self.thread = threading.get_ident()

    def emit(self, record: logging.LogRecord) -> None:
        if record.thread == self.thread:
            self.messages.append(record.getMessage())


@contextmanager
def _tifffile_log() -> Iterator[list[str]]:
    """What tifffile logs (warnings about a file it reads) meanwhile."""
    handler = _Collect()
    logger = logging.getLogger("tifffile")
    logger.addHandler(handler)
    try:
        yield handler.messages
    finally:
        logger.removeHandler(handler)


def _tiff_images(xml: str) -> list[TiffImage]:
    root = ElementTree.fromstring(xml)
    out = []
    for image in root:
        if not image.tag.endswith("}Image"):
            continue
        pixels = next(e for e in image if e.tag.endswith("}Pixels"))
        sizes = {k: int(pixels.attrib[f"Size{k}"]) for k in "ZCT"}
        position = int(image.attrib["ID"].rpartition(":")[2])
        out.append(TiffImage(position, sizes))
    return out


def _read_tiff_series(
    path: Path, k: int, image: TiffImage, layout: Layout
) -> tuple[list[str], np.ndarray]:
    """The `k`-th OME series (image) in the layout's image dimension order."""
    with tifffile.TiffFile(path) as tif:
        series = tif.series[k]
        shape = series.get_shape(False)
        axes = series.get_axes(False)
        data = np.asarray(series.asarray()).reshape(shape)
    for letter in "ZCT":
        if letter in axes:
            size = shape[axes.index(letter)]
            if size != image.sizes[letter]:
                raise AssertionError(
                    f"series {axes} {shape}: {letter} has {size} elements, the "
                    f"OME-XML declares Size{letter}={image.sizes[letter]}"
                )
    wanted = [TIFF_LETTER[n] for n in layout.image_dims] + ["Y", "X"]
    for i, letter in enumerate(axes):
        if letter not in wanted and shape[i] != 1:
            raise AssertionError(f"series axes {axes} {shape}: {letter} is not 1")
    keep = [i for i, letter in enumerate(axes) if letter in wanted]
    data = data.reshape([shape[i] for i in keep])
    kept = [axes[i] for i in keep]
    data = data.transpose([kept.index(letter) for letter in wanted])
    return [*layout.image_dims, "y", "x"], data


def _digests(data: np.ndarray) -> set[str]:
    big = np.ascontiguousarray(data).astype(data.dtype.newbyteorder(">"))
    return {
        hashlib.sha1(big.tobytes()).hexdigest(),
        hashlib.sha1(np.ascontiguousarray(data).tobytes()).hexdigest(),
    }


def _check_bioformats(
    kill: Kill,
    bf: BioFormats,
    path: Path,
    images: list[TiffImage],
    required: set[int],
) -> list[str]:
    """ImageInfo without warnings; sizes as declared; planes pixel-exact."""
    layout = kill.layout
    try:
        info = bf.image_info(path)
        result = bf.read(path)
    except AssertionError as e:  # Bio-Formats failed
        return [f"Bio-Formats cannot read {path}: {e}"]
    problems = []
    warned = [
        line
        for line in info.splitlines()
        if any(bad in line for bad in BIOFORMATS_WARNINGS)
    ]
    if warned:
        problems.append("Bio-Formats ImageInfo warns: " + " | ".join(warned[:5]))
    if result.series != len(images):
        problems.append(f"Bio-Formats: {result.series} series, XML {len(images)}")
    for s, (z, c, t, _order, _type) in enumerate(result.sizes):
        if s < len(images) and images[s].sizes != {"Z": z, "C": c, "T": t}:
            problems.append(
                f"Bio-Formats series {s}: SizeZ/C/T {z}/{c}/{t}, the OME-XML "
                f"declares {images[s].sizes}"
            )
    zeros = _digests(np.zeros((Y, X), "uint16"))
    present: set[int] = set()
    bad = []
    for (s, z, c, t), digest in sorted(result.planes.items()):
        by_letter = {"Z": z, "C": c, "T": t}
        index = tuple(by_letter[TIFF_LETTER[n]] for n in layout.image_dims)
        if s >= len(images):
            continue  # reported: more series than images
        n = layout.frame_number(images[s].position, index)
        if digest in _digests(expected_frame(n)):
            present.add(n)
        elif digest not in zeros:
            bad.append(f"series {s} z={z} c={c} t={t} (frame {n})")
    if bad:
        problems.append(
            f"Bio-Formats: {len(bad)} plane(s) neither the frame nor zeros: "
            + "; ".join(bad[:12])
        )
    missing = sorted(required - present)
    if missing:
        problems.append(
            f"Bio-Formats: {len(missing)} of {len(required)} required frame(s) "
            f"missing: {_missing(kill, missing)}"
        )
    return problems
