"""`ome-writers repair`: make a dataset from a crashed acquisition complete.

OME-TIFF files carry a recovery record (the settings, as JSON, in a comment of
the provisional OME-XML) in their first page's description until the full
OME-XML replaces it at close. They open without repair (the provisional
OME-XML describes the complete outer indices); after a crash, repair matches
the pages on disk to frames by replaying the frame router, pads the last outer
index with zero pages, and writes the full OME-XML with the per-frame metadata
journaled beside the files. OME-Zarr
arrays are readable without repair (every chunk written before the last
loss-window visit or checkpoint is readable as it is); arrays that declare
room past their last frame (written so by older versions, or other writers)
are cut to it, and the per-frame metadata journals beside the images are
moved into their ``zarr.json`` (``.zattrs`` in OME-Zarr 0.4).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ome_writers.backends.tiff._writer import TiffBackend


def _description_record(path: Path) -> dict[str, Any] | None:
    """The recovery record in the first page's description of `path`."""
    import tifffile

    from ome_writers.backends.tiff._file_set import parse_recovery_record

    with tifffile.TiffFile(path) as tif:
        page = tif.pages.first if tif.pages else None
        description = getattr(page, "description", "") or ""
    return parse_recovery_record(description)


def _recovery_record(path: Path) -> dict[str, Any] | None:
    """The recovery record of the file set `path` belongs to: its own, or
    the one in the set's first file, which the other files name."""
    record = _description_record(path)
    if record is None or "settings" in record:
        return record
    name = record.get("record_in")
    first = None  # a plain file name beside `path`, nothing else
    if isinstance(name, str) and name and Path(name).name == name:
        first = path.with_name(name)
    found = _description_record(first) if first and first.is_file() else None
    if found is None or "settings" not in found:
        raise FileNotFoundError(
            f"{path}: its recovery record is in {name!r}, which is not beside "
            "it or holds none; repair needs the whole file set"
        )
    return found


def _tiff_files(folder: Path) -> list[Path]:
    """The TIFF files of a file set (not its hidden metadata journal)."""
    if not folder.is_dir():
        return []
    suffixes = (".tif", ".tiff")
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in suffixes)


def _keep_whole_pages(path: Path, backend: TiffBackend, file_index: int) -> int:
    """Rewrite `path` with its complete pages only; return how many there are.

    A page being written when the process died can end the file's IFD chain
    with a broken entry; copying the whole pages leaves a clean file.
    """
    import tifffile

    if not path.is_file():
        return 0
    tmp = path.with_name(path.name + ".repairing")
    count = 0
    with tifffile.TiffFile(path) as tif, tifffile.TiffWriter(tmp, bigtiff=True) as out:
        try:
            for page in tif.pages:
                data = page.asarray()
                if data.shape != backend.frame_shape or data.dtype != backend.dtype:
                    break
                out.write(data, **backend.pages.page_options(file_index, count == 0))
                backend.pages.write_levels(out, data, file_index)  # SubIFDs, rebuilt
                count += 1
        except Exception:  # the broken tail: everything before it is kept
            pass
    os.replace(tmp, path)
    return count


def repair_tiff(path: Path) -> str:
    """Rebuild the OME-XML of an interrupted OME-TIFF file or file set."""
    from ome_writers._schema import AcquisitionSettings
    from ome_writers.backends._base import BackendContext
    from ome_writers.backends.tiff._writer import TiffBackend, frame_metadata_records

    files = [path] if path.is_file() else _tiff_files(path)
    record = next((r for f in files if (r := _recovery_record(f))), None)
    if record is None:
        return f"{path}: complete OME-TIFF, nothing to repair"
    settings = AcquisitionSettings.model_validate(record["settings"])
    context = BackendContext.for_settings(settings)
    backend = TiffBackend.reopen(context, record["files"], record["uuids"])
    file_set, axes = backend.files, backend.axes
    on_disk = [_keep_whole_pages(f, backend, i) for i, f in enumerate(file_set.paths)]
    router = context.router
    n = 0
    total = router.total
    while sum(file_set.pages) < sum(on_disk) and (total is None or n < total):
        position, index = router.route(n)
        f = file_set.file_of(position)
        if file_set.pages[f] >= on_disk[f]:
            break  # this frame never reached its file: nothing after it did
        file_set.add_page(position, index, axes.zct(index))
        n += 1
    journal = file_set.journal
    with_metadata = backend.attach_frame_metadata(frame_metadata_records(journal))
    backend.complete_interrupted()
    journal.unlink(missing_ok=True)
    n_files = len(file_set.paths)
    return (
        f"{path}: rebuilt OME-XML for {n} frames in {n_files} file(s), "
        f"{with_metadata} with per-frame metadata"
    )


def repair_zarr(path: Path) -> str:
    """Consolidate per-frame metadata journals left by an interrupted run.

    Every chunk written before the last checkpoint is readable as it is (a
    chunk file being written when the process died is left as
    ``<chunk>.partial``, which no reader opens; it is removed here). An image
    whose arrays declare indices past its last frame along the first axis
    (room an unbounded array grew ahead, as older versions declared it) is
    cut to that frame, unless the dataset's ``OME/METADATA.ome.xml``
    describes the declared extent. Per-frame metadata reaches ``zarr.json``
    at close; until then it is appended to ``frame_metadata.jsonl`` beside
    each image's ``zarr.json`` at every checkpoint, and is moved into it here.
    An ``OME/METADATA.ome.xml`` left behind the frames (a long run rewrites
    it less often than it journals) is rebuilt from its recovery record and
    the journals, with a Plane for every frame the progress record counts.
    """
    import json

    from ome_writers._io._paths import ACQUIRE_ZARR_STAGING, replace_file
    from ome_writers.backends.zarr._chunk_file_writer import PARTIAL_SUFFIX
    from ome_writers.backends.zarr._hierarchy import INLINE_FRAME_RECORDS
    from ome_writers.metadata._frame_metadata import JOURNAL_NAME, read_journal

    staging = path / ACQUIRE_ZARR_STAGING
    removed = ""
    if staging.is_dir() and not staging.is_symlink():
        shutil.rmtree(staging)
        removed = "; removed acquire-zarr's staging store"
    root_document, _, root = _attributes_document(path)
    if not _has_ngff(root):  # the placeholder `prepare` writes
        raise ValueError(
            f"{path}: its writer stopped before the OME-Zarr metadata was written "
            "(the root is a placeholder group); the arrays below it hold what "
            "reached the disk, but there is no metadata to repair. Write the "
            "acquisition again with overwrite=True."
        )
    journals: list[Path] = []
    partial = 0
    for directory, _, names in os.walk(path):  # one walk: a dataset may be large
        for name in names:
            if name == JOURNAL_NAME:
                journals.append(Path(directory, name))
            elif name.endswith(PARTIAL_SUFFIX):
                Path(directory, name).unlink(missing_ok=True)
                partial += 1
    journals.sort()
    if partial:
        removed += f"; removed {partial} partly written chunk file(s) (*.partial)"
    cut, note = _cut_past_last_frame(path)
    removed += note
    rebuilt = _rebuild_ome_xml(path)
    total = moved = 0
    for journal in journals:
        document, meta, attributes = _attributes_document(journal.parent)
        own = attributes.setdefault("ome_writers", {})
        if "frame_metadata_file" in own:  # the final record store of a closed run
            continue
        records = list(read_journal(journal))
        if len(records) > INLINE_FRAME_RECORDS:  # as close does: refer to it
            own["frame_metadata_file"] = {"path": JOURNAL_NAME, "records": len(records)}
        else:
            own["frame_metadata"] = records
        replace_file(
            document, json.dumps(meta, indent=2), aside=f"{document.name}.repairing"
        )
        if len(records) <= INLINE_FRAME_RECORDS:
            journal.unlink()
        total += len(records)
        moved += 1
    done = [cut] if cut else []
    if rebuilt:
        done.append(rebuilt)
    if moved:
        if not cut:
            done.append("arrays readable as written")
        done.append(
            f"recovered {total} per-frame metadata records from {moved} "
            f"journal(s) into {root_document.name}"
        )
    if not done:
        return f"{path}: OME-Zarr, readable as written; nothing to repair{removed}"
    return f"{path}: OME-Zarr, {'; '.join(done)}{removed}"


def _rebuild_ome_xml(path: Path) -> str:
    """Rebuild ``OME/METADATA.ome.xml`` from its recovery record and the
    journals, if the run left one; what was done ("": nothing)."""
    import json

    from ome_writers._schema import AcquisitionSettings
    from ome_writers.backends.zarr._ome_xml_file import (
        OME_XML_PATH,
        RECOVERY_PATH,
        rebuild,
        write_document,
    )
    from ome_writers.metadata._frame_metadata import stored_records
    from ome_writers.metadata._progress import PROGRESS_KEY
    from ome_writers.metadata._zarr_groups import read_group_attributes
    from ome_writers.metadata._zarr_layout import plan_layout

    record_path = path.joinpath(*RECOVERY_PATH)
    if not record_path.is_file():
        return ""
    try:
        record = json.loads(record_path.read_text(encoding="utf-8"))
        progress = read_group_attributes(path)["ome_writers"][PROGRESS_KEY]
        frames = int(progress["frames"])
        settings = AcquisitionSettings.model_validate(record["settings"])
    except (OSError, ValueError, KeyError, TypeError):
        return ""  # torn or foreign: the document stays as it was written
    metadata: list[dict[tuple[int, ...], dict[str, Any]]] = []
    for image in plan_layout(settings).image_paths:
        group = path / image
        _, _, attributes = _attributes_document(group)
        records, _ = stored_records(group, attributes.get("ome_writers", {}))
        by_index: dict[tuple[int, ...], dict[str, Any]] = {}
        for entry in records:
            index = entry.pop("storage_index", None)
            if isinstance(index, list):
                by_index[tuple(index)] = entry
        metadata.append(by_index)
    doc, extents, planes = rebuild(settings, record, frames, metadata)
    write_document(path.joinpath(*OME_XML_PATH), doc, extents)
    record_path.unlink()
    return (
        f"rebuilt {'/'.join(OME_XML_PATH)} with {planes} Plane(s) of the "
        f"{frames} frame(s) written"
    )


def _attributes_document(group: Path) -> tuple[Path, dict[str, Any], dict[str, Any]]:
    """A group's document: (its file, its content, the attributes in it).

    ``zarr.json`` holds them under ``attributes`` (Zarr v3); ``.zattrs`` is
    them (Zarr v2, OME-Zarr 0.4).
    """
    import json

    v3 = group / "zarr.json"
    document = v3 if v3.is_file() else group / ".zattrs"
    meta: dict[str, Any] = {}
    if document.is_file():
        meta = json.loads(document.read_text(encoding="utf-8"))
    if document is v3:
        return document, meta, meta.setdefault("attributes", {})
    return document, meta, meta


def _has_ngff(attributes: dict[str, Any]) -> bool:
    """Whether a root group's attributes hold OME-Zarr metadata (0.5 or 0.4)."""
    return "ome" in attributes or any(
        key in attributes for key in ("multiscales", "plate", "bioformats2raw.layout")
    )


def _array_document(array: Path) -> Path:
    """The document declaring an array's shape: ``zarr.json`` or ``.zarray``."""
    v3 = array / "zarr.json"
    return v3 if v3.is_file() else array / ".zarray"


def _progress_status(path: Path) -> str | None:
    """The status of the dataset's progress record (None: it states none)."""
    from ome_writers.metadata._progress import PROGRESS_KEY
    from ome_writers.metadata._zarr_groups import read_group_attributes

    try:
        record = read_group_attributes(path)["ome_writers"][PROGRESS_KEY]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    status = record.get("status") if isinstance(record, dict) else None
    return status if isinstance(status, str) else None


def _cut_past_last_frame(path: Path) -> tuple[str, str]:
    """Cut each image's arrays along the first axis to its last frame: what
    was cut ("": nothing), and a note on what was not ("" or "; ...")."""
    import json
    import math

    from ome_writers._io._paths import replace_file
    from ome_writers.metadata._zarr_groups import ngff_part, read_group_attributes
    from ome_writers.tools._info_zarr import inspect_zarr

    images = []  # (image, its first-axis end of frames)
    for image in inspect_zarr(path).images:
        end = image.frames.frames_end if image.frames is not None else None
        if end is not None and end < image.shape[0]:
            images.append((image, end))
    if not images:
        return "", ""
    status = _progress_status(path)
    if status == "complete":
        return "", (
            "; kept the extents declared past the last frame of "
            f"{len(images)} image(s): the writer closed the dataset so"
        )
    # a writer that died (still "writing") grew room it never filled; other
    # software's dataset with a whole OME-XML declares what it describes
    if status is None and (path / "OME" / "METADATA.ome.xml").is_file():
        return "", (
            "; kept the extents declared past the last frame of "
            f"{len(images)} image(s): OME/METADATA.ome.xml describes them"
        )
    cuts = []
    for image, end in images:
        first = image.shape[0]
        group = path / image.path
        ome = ngff_part(read_group_attributes(group))
        datasets = ome["multiscales"][0]["datasets"]
        for dataset in datasets:
            document = _array_document(group / str(dataset["path"]))
            meta = json.loads(document.read_text(encoding="utf-8"))
            extent = int(meta["shape"][0])
            # a level's first axis is level 0's, or reduced from it
            meta["shape"][0] = min(extent, math.ceil(end * extent / first))
            replace_file(
                document,
                json.dumps(meta, indent=2),
                aside=f"{document.name}.repairing",
            )
        axis = image.axes[0] if image.axes else "the first axis"
        cuts.append(f"{image.array} {axis} {first} -> {end}")
    shown = ", ".join(cuts[:5]) + (f", ... (+{len(cuts) - 5})" if len(cuts) > 5 else "")
    return (
        f"cut {len(cuts)} image(s) to their last frame, past which they declared "
        f"room never acquired ({shown})"
    ), ""


def repair(path: str | Path) -> str:
    """Repair the dataset at `path` if it needs it; say what was done."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: does not exist")
    if (path / "zarr.json").is_file() or (path / ".zgroup").is_file():
        return repair_zarr(path)
    if path.is_file() or _tiff_files(path):
        return repair_tiff(path)
    raise FileNotFoundError(f"{path}: not an OME-TIFF or OME-Zarr dataset")
