"""``ome-writers convert ... X.ozx``: a conversion into a single-file OME-Zarr.

An OME-Zarr 0.5 dataset given alone, with no option that changes how it is
stored, is packed as it is (nothing re-encoded). Any other input is first
converted into an OME-Zarr beside the target (a hidden ``.<token>.X.ome.zarr``,
removed afterwards), which is then packed. The archive is written under a
hidden temporary name beside the target (``.<token>.X.ozx``), validated as
``ome-writers info`` validates it, and only then renamed over the target: a
failure or an interruption never leaves a partial ``.ozx``, and an archive
being replaced stays as it was until the new one is complete.
"""

from __future__ import annotations

import json
import os
import shutil
import uuid
from typing import TYPE_CHECKING, Any

from ome_writers._io._paths import resolve_output, written_path
from ome_writers.reading._zip import is_zip_archive
from ome_writers.tools._convert_tasks import ConversionError
from ome_writers.tools._ozx import write_archive

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence
    from pathlib import Path

#: options that change how the pixels are stored: given, a source is rewritten
_STORAGE_OPTIONS = (
    "format",
    "ngff_version",
    "chunks",
    "shards",
    "compression",
    "pyramid",
    "axes",
)


def _check_format(format: str | None) -> None:
    """Refuse, before anything is read, a format other than OME-Zarr."""
    if format is None:
        return
    from ome_writers._schema._format import resolve_format

    chosen = resolve_format(format, "out.ome.zarr")
    if chosen.name != "ome-zarr":
        raise ValueError(
            f"A .ozx archive holds OME-Zarr; format={format!r} writes "
            f"{chosen.name}. Leave format out, or name an OME-Zarr backend."
        )


def _packable(sources: Sequence[str | Path], options: dict[str, Any]) -> Path | None:
    """The source to pack as it is: one complete OME-Zarr of Zarr v3, given
    without options that change its storage; None otherwise."""
    if len(sources) != 1 or any(options.get(k) is not None for k in _STORAGE_OPTIONS):
        return None
    path = written_path(resolve_output(os.fspath(sources[0])))
    try:
        doc = json.loads((path / "zarr.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    attributes = doc.get("attributes") if isinstance(doc, dict) else None
    if doc.get("zarr_format") != 3 or not isinstance(attributes, dict):
        return None
    if not isinstance(attributes.get("ome"), dict):
        return None
    own = attributes.get("ome_writers")
    progress = own.get("progress") if isinstance(own, dict) else None
    if isinstance(progress, dict) and progress.get("status") != "complete":
        return None  # still written, or interrupted: converted from what is there
    return path


def _refuse_existing(target: Path, dest: Path, overwrite: bool) -> None:
    if not (target.exists() or target.is_symlink()):
        return
    if not overwrite:
        raise FileExistsError(
            f"Destination {dest} already exists; pass overwrite=True "
            "(--overwrite) to replace it."
        )
    if target.is_symlink() or not (target.is_file() and is_zip_archive(target)):
        raise FileExistsError(
            f"Destination {dest} exists, but is not a .ozx archive (a ZIP "
            "file). Refusing to overwrite. Please delete it manually."
        )


def _missing_folders(folder: Path) -> list[Path]:
    """The folders above a file in `folder` that do not exist, deepest first."""
    out = []
    while not folder.exists():
        out.append(folder)
        folder = folder.parent
    return out


def _sync_directory(folder: Path) -> None:
    """Make a rename in `folder` durable (where directories can be opened)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def convert_to_ozx(
    sources: Sequence[str | Path],
    dest: Path,
    into: Callable[[Path, Path], None],
    *,
    overwrite: bool,
    **options: Any,
) -> Path:
    """Convert `sources` into the single-file OME-Zarr `dest` (``.ozx``).

    `into(staging, dest)` converts the sources into the OME-Zarr directory
    `staging`, naming it `dest` in its progress bar and errors; `options`
    are `convert`'s.
    """
    _check_format(options.get("format"))
    if options.get("ngff_version") == "0.4":
        raise ValueError(
            "A .ozx archive holds Zarr v3 (OME-Zarr 0.5 or later); "
            "ngff_version='0.4' writes Zarr v2. Write a .ome.zarr directory "
            "for 0.4, or leave ngff_version out."
        )
    target = resolve_output(os.fspath(dest))
    _refuse_existing(target, dest, overwrite)
    existed = target.exists()
    made = _missing_folders(target.parent)
    token = uuid.uuid4().hex[:12]
    part = target.with_name(f".{token}.{target.name}")
    staging: Path | None = None
    try:
        source = _packable(sources, options)
        if source is None:
            staging = target.with_name(f".{token}.{target.stem}.ome.zarr")
            into(staging, target)
            source = staging
        target.parent.mkdir(parents=True, exist_ok=True)
        write_archive(source, part)
        from ome_writers.tools.info import inspect_dataset

        report = inspect_dataset(part)
        if not report.valid:
            raise ConversionError(
                f"The output {target} did not validate: " + "; ".join(report.problems)
            )
        os.replace(part, target)
        _sync_directory(target.parent)
    except BaseException as e:
        part.unlink(missing_ok=True)
        if staging is not None:
            shutil.rmtree(staging, ignore_errors=True)
        for folder in made:
            try:
                folder.rmdir()
            except OSError:  # not empty: something else is in it
                break
        if isinstance(e, ConversionError):
            note = (
                f"The archive {target} it was replacing is unchanged."
                if existed
                else f"Nothing was left at {target}."
            )
            e.args = (f"{e} {note}",)
        raise
    finally:
        if staging is not None:
            shutil.rmtree(staging, ignore_errors=True)
    return target
