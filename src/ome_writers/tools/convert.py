"""Convert existing images into OME-Zarr or OME-TIFF: ``ome-writers convert``.

A destination ending in ``.ozx`` is a single-file OME-Zarr: `_convert_ozx.py`
packs an OME-Zarr (the source itself, or one converted here) into it.

Every image of every source (`_sources.py` reads OME-TIFF, ImageJ and plain
TIFF, OME-Zarr 0.4/0.5 and ``.npy``) becomes one position of the output,
named after its OME-XML image name or NGFF multiscale name, else after its
file. The pixels go through `create_stream`, one plane at a time, so chunks,
shards, compression, pyramids and plates apply as they do to an acquisition,
and memory does not grow with the size of the input.

Parallel conversion into one dataset
------------------------------------
Several images are written in parallel, one task per image, on threads of
the calling process, local processes (``processes=N``) or a dask.distributed
cluster (``scheduler=``; `_convert_tasks.py` runs the tasks), when the layout
gives each image a place of its own: an image group of an OME-Zarr
collection or plate, or a file of an OME-TIFF file set. The parent process

1. builds the `AcquisitionSettings` of the whole dataset (a position
   dimension holding every image) and refuses an existing output before
   anything is written;
2. creates what belongs to the whole dataset: for OME-Zarr the collection
   (or plate and well) groups, from the layout `create_stream` itself uses;
3. gives every task a regular single-position acquisition (the one the
   layout for positions of different shapes writes for each position, with
   the whole dataset's pyramid and compression) rooted at its image's place:
   the image group ``<dest>/<image>``, or the file
   ``<dest>/<dest>_pNNN.ome.tiff``. A task opens its source and streams its
   planes through `create_stream` (level 0, pyramid levels and the image's
   metadata); no two tasks write the same file or directory;
4. when every task has finished, writes what describes the whole: OME-Zarr
   image groups get their multiscale names and the collection its
   ``OME/METADATA.ome.xml``; the OME-XML of an OME-TIFF set is joined from the
   files' own descriptions (IDs renumbered, TiffData pointing at the files
   by UUID) and written into every file, as the writer does at close;
5. validates the output with `inspect_dataset`; when anything fails, removes
   the output it created.

So tasks write through the same backends as any acquisition (no second copy
of the data, nothing written twice), and the result equals what one
`create_stream` of the whole dataset writes: the tests compare both, pixels
and every metadata document. Conversions that cannot be split so (a single
image; series of other dimensions than positions; ``processes=1``) stream
every image in order through one `create_stream` in the calling process.

Dask workers must see the sources and the destination at the same paths.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ome_writers import (
    AcquisitionSettings,
    Dimension,
    Plate,
    Pyramid,
    create_stream,
)
from ome_writers._io._paths import remove_dataset, replace_file, resolve_output
from ome_writers.tools._convert_tasks import (
    ConversionError,
    Task,
    failed,
    run_dask,
    run_processes,
    run_threads,
    stream_image,
)
from ome_writers.tools._ozx import is_ozx_name
from ome_writers.tools._sources import SourceImage, plate_of, read_sources

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence


__all__ = ["ConversionError", "SourceImage", "convert", "read_sources"]

_INSTALL = 'pip install "ome-writers[convert]"'


def _check_extras(scheduler: str | None, progress: bool) -> None:
    """Refuse, before anything is written, what needs the `convert` extra."""
    if scheduler is not None:
        try:
            import distributed  # noqa: F401
        except ImportError as e:
            raise ImportError(
                "A scheduler address (--scheduler) needs dask.distributed, which "
                f"is not installed: {_INSTALL}."
            ) from e
    if progress:
        try:
            import rich.progress  # noqa: F401
        except ImportError as e:
            raise ImportError(
                "The progress bar needs rich, which is not installed: "
                f"{_INSTALL}, or pass progress=False (--quiet)."
            ) from e


def _build_settings(
    images: Sequence[SourceImage],
    dest: str | Path,
    *,
    format: str | None = None,
    ngff_version: str | None = None,
    overwrite: bool = False,
    chunks: Mapping[str, int] | None = None,
    shards: Mapping[str, int] | None = None,
    compression: str | None = None,
    pyramid: int | str | Pyramid | None = None,
    plate: Plate | None = None,
) -> AcquisitionSettings:
    """The settings of the dataset holding every image, one position each.

    Images with the same axes but other counts, frame sizes or pixel types
    become positions with dimensions of their own.
    """
    if not images:
        raise ValueError("No images to convert.")
    first = images[0]
    names = [d.name for d in first.dimensions]
    for image in images[1:]:
        other = [d.name for d in image.dimensions]
        if other != names:
            raise ValueError(
                f"Sources have different axes: {first.name} {names}, "
                f"{image.name} {other}; convert them separately."
            )
    regular = all(
        im.dimensions == first.dimensions and im.dtype == first.dtype for im in images
    )
    pname = "p" if "p" not in names else "position"
    dims = []
    for i, dim in enumerate(first.dimensions):
        count = max(im.dimensions[i].count or 1 for im in images)
        update: dict[str, Any] = {"count": count}
        if dim.coords is not None and count != len(dim.coords):
            update["coords"] = None  # the positions have their own
        dims.append(_with_chunks(dim.model_copy(update=update), chunks, shards))
    positions = []
    for image in images:
        own: dict[str, Any] = {}
        if not regular:
            own["dimensions"] = tuple(
                _with_chunks(d, chunks, shards) for d in image.dimensions
            )
            if image.dtype != first.dtype:
                own["dtype"] = image.dtype
        positions.append(image.position.model_copy(update=own))
    for key in {*(chunks or {}), *(shards or {})} - set(names):
        raise ValueError(f"chunks/shards name {key!r}, not an axis of {names}.")
    return AcquisitionSettings(
        root_path=str(dest),
        dimensions=[Dimension(name=pname, type="position", coords=positions), *dims],
        dtype=first.dtype,
        format=_format_of(format, dest, ngff_version),
        overwrite=overwrite,
        compression=compression,
        pyramid=pyramid,
        plate=plate,
    )


def _format_of(format: str | None, dest: str | Path, ngff_version: str | None) -> Any:
    """`AcquisitionSettings.format` of a conversion: `format` (a name, or
    "auto" from the suffix), as OME-Zarr of `ngff_version` when one is given."""
    if ngff_version is None:
        return format or "auto"
    chosen = AcquisitionSettings(root_path=str(dest), format=format or "auto").format
    if chosen.name != "ome-zarr":
        raise ValueError(
            f"An NGFF version ({ngff_version}) applies to OME-Zarr output, not to "
            f"{chosen.name} ({dest}): write to a .ome.zarr path or pass "
            "format='ome-zarr'."
        )
    return {**chosen.model_dump(), "ngff_version": ngff_version}


def _with_chunks(
    dim: Dimension, chunks: Mapping[str, int] | None, shards: Mapping[str, int] | None
) -> Dimension:
    update = {}
    if chunks and dim.name in chunks:
        update["chunk_size"] = min(int(chunks[dim.name]), dim.count or 1)
    if shards and dim.name in shards:
        update["shard_size_chunks"] = int(shards[dim.name])
    return dim.model_copy(update=update) if update else dim


# -------------------------------------------------------------------- writing


def _position_settings(
    settings: AcquisitionSettings, position: int, root: Path
) -> AcquisitionSettings:
    """A single-position acquisition of one position's frames, rooted at `root`.

    The one the ragged-position layout writes for a position, with the
    pyramid and compression of the whole dataset.
    """
    from ome_writers.backends._ragged import position_settings

    child = position_settings(settings, position, str(root))
    fmt: Any = settings.format
    if fmt.name == "ome-zarr":
        fmt = fmt.model_copy(update={"suffix": ""})
    else:
        fmt = fmt.model_copy(update={"prefer_single_file": "always"})
    out = AcquisitionSettings(
        root_path=str(root),
        dimensions=child.dimensions,
        dtype=child.dtype,
        format=fmt,
        compression=settings.compression,
        storage_order=child.storage_order,
        pyramid=settings.pyramid,
    )
    if resolve_output(out.output_path) != root:  # a name that reads as a suffix
        raise ConversionError(f"cannot place position {position} at {root}")
    return out


def _parallel_layout(settings: AcquisitionSettings) -> bool:
    """Whether every position gets a place of its own (an image group/file)."""
    if len(settings.positions) < 2 or settings.format.name == "scratch":
        return False
    return settings.series_dimension_indices == (settings.position_dimension_index,)


class _Progress:
    """A rich progress bar of frames written (or nothing)."""

    def __init__(self, enabled: bool, total: int, label: str) -> None:
        self.bar: Any = None
        self.done = False
        if enabled:
            from rich.console import Console
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeElapsedColumn,
                TimeRemainingColumn,
            )

            self.bar = Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("frames"),
                TimeElapsedColumn(),
                TimeRemainingColumn(),
                console=Console(stderr=True),
            )
            self.bar.start()
            self.task = self.bar.add_task(label, total=total)

    def advance(self, n: int) -> None:
        if self.bar is not None and not self.done:
            self.bar.advance(self.task, n)

    def finish(self) -> None:
        """Every frame is written (reports still in flight are dropped)."""
        self.done = True
        if self.bar is not None:
            self.bar.update(self.task, completed=self.bar.tasks[0].total)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.stop()


def convert(
    sources: Sequence[str | Path],
    dest: str | Path,
    *,
    overwrite: bool = False,
    format: str | None = None,
    ngff_version: str | None = None,
    chunks: Mapping[str, int] | None = None,
    shards: Mapping[str, int] | None = None,
    compression: str | None = None,
    pyramid: int | str | Pyramid | None = None,
    axes: str | Sequence[str] | None = None,
    scheduler: str | None = None,
    processes: int | None = None,
    progress: bool = True,
) -> Path:
    """Convert images into one OME-Zarr or OME-TIFF dataset.

    Every image of every source becomes one position of the output (a
    bioformats2raw collection, a plate when the source is one, or a set of
    OME-TIFF files), carrying dimension names and types, units, physical
    sizes, channels, position names, stage positions and the per-frame
    metadata of the planes (OME-XML Plane DeltaT, ExposureTime and
    PositionX/Y/Z; the frame metadata of an OME-Zarr written by
    ome-writers), stored where an acquisition's `frame_metadata` goes. Planes
    are read and written one at a time; the output is validated at the end.

    Parameters
    ----------
    sources : sequence of str or Path
        OME-TIFF, ImageJ or plain TIFF files, OME-Zarr 0.4/0.5 datasets (or
        plain Zarr arrays), ``.npy`` files, or folders of TIFF files (an
        OME-TIFF of several positions also by the name it was written under:
        ``run.ome.tiff`` for the files in ``run/``). Images must share their
        axes; counts, frame sizes and pixel types may differ.
    dest : str or Path
        The output; its suffix selects the format (``.ome.zarr``,
        ``.ome.tiff``) unless `format` is given. ``.ozx``: a single-file
        OME-Zarr (NGFF RFC-9; see Notes).
    overwrite : bool
        Replace an existing output. Without it an existing output is an
        error, raised before anything is written.
    format : str | None
        A format or backend name (``"ome-zarr"``, ``"tensorstore"``,
        ``"tifffile"``, ...), as `AcquisitionSettings.format` takes.
    ngff_version : "0.4" | "0.5" | None
        The OME-Zarr version written (`OmeZarrFormat.ngff_version`): "0.4"
        is stored as Zarr v2. None: the format's default (0.5).
    chunks, shards : Mapping[str, int] | None
        Elements per chunk, and chunks per shard, by axis name (OME-Zarr).
        Default: a whole frame per chunk, no shards.
    compression : str | None
        As `AcquisitionSettings.compression`.
    pyramid : int | "auto" | Pyramid | None
        Resolution levels to write (see `Pyramid`).
    axes : str | sequence of str | None
        Axis names of sources without axis metadata (``.npy``, plain TIFF,
        plain Zarr arrays); see `read_sources`.
    scheduler : str | None
        Address of a dask.distributed scheduler: every image is one task on
        its cluster (the workers must see `sources` and `dest` at the same
        paths). Needs the ``convert`` extra. None: local threads or
        processes (`processes`).
    processes : int | None
        None: images are written in parallel by threads of this process, one
        per image up to the number of CPUs. N > 1: by N local worker
        processes, which import the program's main module (see Notes). 1:
        every image in order through one stream in this process.
    progress : bool
        Show a progress bar (rich, from the ``convert`` extra) on stderr.

    Returns
    -------
    Path
        The dataset written (a directory for several OME-TIFF positions, a
        file for ``.ozx``).

    Raises
    ------
    ImportError
        `scheduler` or `progress` needs what the ``convert`` extra installs
        (``pip install "ome-writers[convert]"``) and it is not installed;
        raised before anything is read or written.
    FileExistsError
        The output exists and `overwrite` is False.
    ConversionError
        A task failed, or the output did not validate.

    Notes
    -----
    When the conversion fails (or is interrupted), an output it created is
    removed, with the folders made for it; an output it was replacing
    (`overwrite`) is left as far as it got. Nothing else is removed.

    A ``.ozx`` is a ZIP archive of an OME-Zarr 0.5 directory. A single
    OME-Zarr 0.5 source given without `format`, `chunks`, `shards`,
    `compression`, `pyramid` or `axes` is packed as it is; any other input is
    converted into an OME-Zarr beside `dest` first (removed afterwards). The
    archive is written under a temporary name and renamed to `dest` once
    valid: a failure leaves no partial archive, and one being replaced stays
    as it was.

    Local worker processes (``processes=N``) import the program's main
    module, as for any process pool: a script asking for them calls
    `convert` under ``if __name__ == "__main__":``. The default threads need
    no guard.
    """
    if processes is not None and processes < 1:
        raise ValueError(f"processes must be None or at least 1, got {processes}.")
    _check_extras(scheduler, progress)
    options: dict[str, Any] = {
        "format": format,
        "ngff_version": ngff_version,
        "chunks": chunks,
        "shards": shards,
        "compression": compression,
        "pyramid": pyramid,
        "axes": axes,
        "scheduler": scheduler,
        "processes": processes,
        "progress": progress,
    }
    if is_ozx_name(dest):
        from ome_writers.tools._convert_ozx import convert_to_ozx

        def into(staging: Path, shown: Path) -> None:
            _convert(sources, staging, overwrite=False, shown=shown, **options)

        return convert_to_ozx(sources, Path(dest), into, overwrite=overwrite, **options)
    return _convert(sources, dest, overwrite=overwrite, **options)


def _convert(
    sources: Sequence[str | Path],
    dest: str | Path,
    *,
    overwrite: bool,
    format: str | None,
    ngff_version: str | None,
    chunks: Mapping[str, int] | None,
    shards: Mapping[str, int] | None,
    compression: str | None,
    pyramid: int | str | Pyramid | None,
    axes: str | Sequence[str] | None,
    scheduler: str | None,
    processes: int | None,
    progress: bool,
    shown: Path | None = None,
) -> Path:
    """`convert` into an OME-Zarr or OME-TIFF dataset. `shown`: what the
    progress bar and the errors call the output, when `dest` is a step to
    it (the caller then says what is left after a failure)."""
    images = read_sources(sources, axes=axes)
    plate = plate_of(sources[0]) if len(sources) == 1 else None
    settings = _build_settings(
        images,
        dest,
        format=format,
        ngff_version=ngff_version,
        overwrite=overwrite,
        chunks=chunks,
        shards=shards,
        compression=compression,
        pyramid=pyramid,
        plate=plate,
    )
    out = Path(settings.output_path)
    if (out.exists() or out.is_symlink()) and not overwrite:
        also = "" if out == Path(dest) else f" (the output {out})"
        raise FileExistsError(
            f"Destination {dest}{also} already exists; pass overwrite=True "
            "(--overwrite) to replace it."
        )
    made = _NewOutput(out)
    try:
        _write(images, settings, progress, scheduler, processes, shown)
        from ome_writers.tools.info import inspect_dataset

        report = inspect_dataset(out)
        if not report.valid:
            raise ConversionError(
                f"The output {shown or out} did not validate: "
                + "; ".join(report.problems)
            )
    except BaseException as e:
        note = made.remove()
        if isinstance(e, ConversionError) and shown is None:  # else the caller's
            e.args = (f"{e} {note}",)
        raise
    return out


def _write(
    images: Sequence[SourceImage],
    settings: AcquisitionSettings,
    progress: bool,
    scheduler: str | None,
    processes: int | None,
    shown: Path | None,
) -> None:
    total = sum(im.num_planes for im in images)
    bar = _Progress(progress, total, (shown or Path(settings.root_path)).name)
    try:
        parallel = _parallel_layout(settings) and (processes != 1 or scheduler)
        if parallel:
            _convert_parallel(images, settings, bar, scheduler, processes)
        else:
            _convert_here(images, settings, bar)
        bar.finish()
    finally:
        bar.close()


class _NewOutput:
    """What a conversion makes at `out`, to remove if it fails: the output
    unless it existed before (an output being replaced is left as far as it
    got), and the folders made for it."""

    def __init__(self, out: Path) -> None:
        self.out = out
        self.existed = out.exists() or out.is_symlink()
        self.folders: list[Path] = []  # deepest first
        folder = out.parent
        while not folder.exists():
            self.folders.append(folder)
            folder = folder.parent

    def remove(self) -> str:
        """Remove what the conversion made; a sentence saying what is left."""
        if self.existed:
            return f"The output {self.out} it was replacing was left as far as it got."
        try:
            if self.out.is_dir() and not self.out.is_symlink():
                shutil.rmtree(self.out)
            else:
                self.out.unlink(missing_ok=True)
        except OSError as e:
            return f"The partial output {self.out} could not be removed: {e}."
        for folder in self.folders:
            try:
                folder.rmdir()
            except OSError:  # not empty: something else is in it
                break
        return f"Nothing was left at {self.out}."


def _convert_here(
    images: Sequence[SourceImage], settings: AcquisitionSettings, bar: _Progress
) -> None:
    """Every image in order through one stream of the whole dataset."""
    with create_stream(settings, checkpoint_seconds=None, finite_only=False) as s:
        for image in images:
            try:
                for _ in stream_image(s, image):
                    bar.advance(1)
            except Exception as e:
                raise failed(image, e) from e
        if settings.format.name == "ome-zarr" and len(images) == 1:
            from ome_writers.metadata._zarr_groups import ngff_part

            # a single image keeps its name (a collection's images have theirs)
            attributes = s.get_metadata()
            if "." in attributes:
                for multiscale in ngff_part(attributes["."])["multiscales"]:
                    multiscale["name"] = images[0].name
                s.update_metadata(attributes)


def _convert_parallel(
    images: Sequence[SourceImage],
    settings: AcquisitionSettings,
    bar: _Progress,
    scheduler: str | None,
    processes: int | None,
) -> None:
    from ome_writers.metadata._ngff import build_layout
    from ome_writers.metadata._zarr_groups import is_group, write_group

    root = resolve_output(settings.output_path)
    zarr = settings.format.name == "ome-zarr"
    zarr_format: int = getattr(settings.format, "zarr_format", 3)
    if zarr and (root.exists() or root.is_symlink()):  # overwrite=True
        remove_dataset(root, is_dataset=is_group(root))
    elif root.is_dir():  # a TIFF file set: its files, as the writer replaces them
        _remove_tiff_set(root, settings.format.suffix)
    layout = build_layout(settings) if zarr else None
    root.mkdir(parents=True, exist_ok=not zarr)
    if layout is not None:
        for path, attributes in layout.groups.items():
            if path not in layout.image_paths:
                write_group(root, path, attributes, zarr_format=zarr_format)
        places = [root / path for path in layout.image_paths]
    else:
        suffix = settings.format.suffix
        places = [root / f"{root.name}_p{k:03d}{suffix}" for k in range(len(images))]
    tasks = [
        Task(image, _position_settings(settings, k, place))
        for k, (image, place) in enumerate(zip(images, places, strict=True))
    ]
    if scheduler is not None:
        run_dask(tasks, scheduler, bar.advance)
    elif processes is None:
        run_threads(tasks, bar.advance)
    else:
        run_processes(tasks, processes, bar.advance)
    if layout is not None:
        _describe_collection(root, settings, layout)
    else:
        _join_tiff_set(settings, places)


def _remove_tiff_set(root: Path, suffix: str) -> None:
    """Remove the files of an OME-TIFF set in `root` (``<root>_pNNN<suffix>``)."""
    pattern = re.compile(re.escape(root.name) + r"_p\d{3,}" + re.escape(suffix))
    for path in root.iterdir():
        if pattern.fullmatch(path.name) or path.name.endswith(".companion.ome"):
            path.unlink()


def _describe_collection(
    root: Path, settings: AcquisitionSettings, layout: Any
) -> None:
    """Name every image group as the collection/plate does; the OME-XML of
    the whole, with every image's Planes (each image's own document, which its
    stream wrote, goes)."""
    from ome_writers.metadata._frame_metadata import stored_records
    from ome_writers.metadata._zarr_groups import (
        ngff_part,
        read_group_attributes,
        write_group,
    )
    from ome_writers.metadata._zarr_ome_xml import ZarrOmeXml

    zarr_format: int = getattr(settings.format, "zarr_format", 3)
    ome_xml = None
    if layout.ome_xml and not settings.is_ragged:
        ome_xml = ZarrOmeXml(settings)
    for k, path in enumerate(layout.image_paths):
        if path != ".":
            shutil.rmtree(root / path / "OME", ignore_errors=True)
        attributes = read_group_attributes(root / path)
        planned = layout.groups[path]
        name = ngff_part(planned)["multiscales"][0].get("name")
        for multiscale in ngff_part(attributes)["multiscales"]:
            multiscale["name"] = name
        # what the layout adds beside the NGFF documents (series coordinates)
        for key, value in planned.get("ome_writers", {}).items():
            attributes.setdefault("ome_writers", {})[key] = value
        write_group(root, path, attributes, zarr_format=zarr_format)
        if ome_xml is not None:  # in the order the image's stream received them
            records, _ = stored_records(root / path, attributes.get("ome_writers", {}))
            for record in records:
                index = record.pop("storage_index", None)
                if isinstance(index, list):
                    ome_xml.add_plane(k, index, record)
    if ome_xml is not None and "OME" in layout.groups:
        replace_file(root / "OME" / "METADATA.ome.xml", ome_xml.text())


def _join_tiff_set(settings: AcquisitionSettings, files: list[Path]) -> None:
    """Write the OME-XML of the whole set into every file of it."""
    import tifffile
    from ome_types import from_tiff

    from ome_writers.backends.tiff._ome_models import ome_xml
    from ome_writers.backends.tiff._ragged_files import (
        PositionFile,
        join_position_files,
    )

    parts = []
    for path in files:
        model = from_tiff(path)
        parts.append(PositionFile(model, str(model.uuid), path))
    for part, model in zip(
        parts, join_position_files(settings, parts, {}), strict=True
    ):
        tifffile.tiffcomment(part.path, ome_xml(model).encode())
