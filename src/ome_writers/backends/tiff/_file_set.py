"""The files of one OME-TIFF dataset and the pages each holds.

A value shared by the writer (which adds pages as it writes them), the OME
models (which describe them at close) and ``ome-writers repair`` (which
rebuilds it from the recovery record and the pages found on disk, and takes
the per-frame metadata from the journal beside the files).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ome_writers._io._paths import resolve_output, safe_segment
from ome_writers.backends.tiff._page_tables import PageNumbers
from ome_writers.metadata._tiff_axes import ImageState, PlaneRecord, new_uuid

if TYPE_CHECKING:
    from pathlib import Path

    from ome_writers._schema import AcquisitionSettings, OmeTiffFormat

RECOVERY_KEY = "ome_writers_recovery"
#: the comment holding the recovery record in a provisional OME-XML
_COMMENT = f"<!--{RECOVERY_KEY} "
Index = tuple[int, ...]


@dataclass
class TiffFileSet:
    """Paths, UUIDs and page bookkeeping of an OME-TIFF file or file set.

    Attributes
    ----------
    paths : list[Path]
        One TIFF file, or one per position.
    uuids : list[str]
        Root UUID of each file.
    companion : Path | None
        The companion OME-XML file ("companion-file" mode).
    single_file : bool
        Every position is a series of one file.
    metadata_mode : str
        Where the full OME-XML goes when there are several files.
    has_outer : bool
        Images have index dimensions (not a single plane each).
    images : list[ImageState]
        Per position: its file and the planes written, in page order.
    ifd_of : list[PageNumbers]
        Per position: storage index -> page (IFD) number in its file.
    padded : list[set[Index]]
        Per position: cells filled with zero pages at close.
    pages : list[int]
        Pages written per file.
    companion_uuid : str
        Root UUID of the companion file ("companion-file" mode).
    """

    paths: list[Path]
    uuids: list[str]
    companion: Path | None
    single_file: bool
    metadata_mode: str
    has_outer: bool
    images: list[ImageState] = field(default_factory=list)
    ifd_of: list[PageNumbers] = field(default_factory=list)
    padded: list[set[Index]] = field(default_factory=list)
    pages: list[int] = field(default_factory=list)
    companion_uuid: str = field(default_factory=new_uuid)

    @classmethod
    def plan(
        cls,
        settings: AcquisitionSettings,
        has_outer: bool,
        names: list[str] | None = None,
        uuids: list[str] | None = None,
    ) -> TiffFileSet:
        """The file set `settings` describes (`names`/`uuids`: reuse those)."""
        fmt: OmeTiffFormat = settings.format  # type: ignore[assignment]
        n_positions = len(settings.positions)
        counts = [d.count for d in settings.storage_index_dimensions]
        out = resolve_output(settings.output_path)
        single = fmt.is_single_file(n_positions)
        if names is not None:
            folder = out.parent if single else out
            paths = [folder / name for name in names]
        elif single:
            paths = [out]
        else:
            paths = [
                out / f"{out.name}_p{i:03d}{fmt.suffix}" for i in range(n_positions)
            ]
        companion = None
        if not single and fmt.multi_file_metadata == "companion-file":
            name = fmt.companion_file
            if name == "companion.ome":  # Bio-Formats needs *.companion.ome
                name = f"{out.name}.companion.ome"
            companion = out / safe_segment(name)
        return cls(
            paths=paths,
            uuids=list(uuids) if uuids is not None else [new_uuid() for _ in paths],
            companion=companion,
            single_file=single,
            metadata_mode=fmt.multi_file_metadata,
            has_outer=has_outer,
            images=[ImageState(0 if single else i) for i in range(n_positions)],
            ifd_of=[PageNumbers(counts) for _ in range(n_positions)],
            padded=[set() for _ in range(n_positions)],
            pages=[0] * len(paths),
        )

    def file_of(self, position: int) -> int:
        """Index of the file holding `position`'s pages."""
        return self.images[position].file_index

    def add_page(self, position: int, index: Index, zct: tuple[int, int, int]) -> int:
        """Record the next page of `position`'s file as cell `index`; its IFD."""
        f = self.images[position].file_index
        ifd = self.pages[f]
        self.pages[f] = ifd + 1
        self.images[position].planes.append(PlaneRecord(ifd, zct))
        self.ifd_of[position][index] = ifd
        return ifd

    def outer_extent(self, position: int) -> int | None:
        """Extent of the outermost storage dimension of one image (None: 2-D)."""
        if not self.has_outer:
            return None
        return self.ifd_of[position].outer_extent()

    @property
    def journal(self) -> Path:
        """The per-frame metadata journal (hidden beside the first file; the
        metadata reaches the OME-XML at close, or at ``repair``)."""
        first = self.paths[0]
        return first.with_name(f".{first.name}.frame_metadata.jsonl")

    def full_keys(self) -> list[int]:
        """Files (-1: the companion) whose OME-XML carries the full metadata."""
        if self.single_file or self.metadata_mode == "master-tiff":
            return [0]
        if self.metadata_mode == "companion-file":
            return [-1]
        return list(range(len(self.paths)))

    def provisional_keys(self) -> list[int]:
        """Files (-1: the companion) whose provisional OME-XML carries the
        full metadata while the set is written.

        One of them, not every file in "redundant" mode: each file's
        description would hold every image, O(files²) bytes for a plate's
        hundreds of files. Until close a redundant set is a master-TIFF set;
        the redundant copies are written at close (or by ``ome-writers
        repair``).
        """
        if not self.single_file and self.metadata_mode == "companion-file":
            return [-1]
        return [0]

    def remove_stale(self, suffix: str) -> None:
        """Remove ``_pNNN`` files of an earlier, larger run of this file set,
        and the companion file of an earlier run in "companion-file" mode (it
        would describe files that are gone)."""
        folder = self.paths[0].parent
        if self.single_file or not folder.is_dir():
            return
        pattern = re.compile(re.escape(folder.name) + r"_p\d{3,}" + re.escape(suffix))
        keep = {p.name for p in self.paths}
        if self.companion is not None:
            keep.add(self.companion.name)
        companion = f"{folder.name}.companion.ome"  # the default name
        for path in folder.iterdir():
            name = path.name
            if (pattern.fullmatch(name) or name == companion) and name not in keep:
                path.unlink()

    # ------------------------------------------------------------ recovery

    def recovery_record(self, settings: AcquisitionSettings, file_index: int) -> str:
        """What `repair` needs to rebuild the OME-XML if the process dies (JSON).

        The first file (the first to get a page) holds the record; every other
        file names it (``record_in``): the record is O(positions) long, and a
        copy in each file of a plate would be O(files²) bytes.
        """
        record: dict[str, Any] = {RECOVERY_KEY: 1, "file_index": file_index}
        if file_index:
            record["record_in"] = self.paths[0].name
            return json.dumps(record, ensure_ascii=True)
        record |= {
            "settings": settings.model_dump(mode="json"),
            "uuids": self.uuids,
            "files": [p.name for p in self.paths],
        }
        return json.dumps(record, ensure_ascii=True)

    def recovery_comment(self, settings: AcquisitionSettings, file_index: int) -> str:
        """The recovery record as an XML comment.

        It stands in the provisional OME-XML of the first page until the full
        OME-XML replaces it at close. A comment may not hold ``--``, which JSON
        has only inside strings: the second ``-`` is written ``\\u002d``.
        """
        text = self.recovery_record(settings, file_index)
        while "--" in text:
            text = text.replace("--", "-\\u002d")
        return f"{_COMMENT}{text}-->"


def parse_recovery_record(description: str) -> dict[str, Any] | None:
    """The recovery record in a first page's description, if it holds one:
    the JSON itself (files written before provisional OME-XML), or the comment
    of a provisional OME-XML."""
    if not isinstance(description, str):
        return None
    start = description.find(_COMMENT)
    if start >= 0:
        start += len(_COMMENT)
        description = description[start : description.find("-->", start)]
    try:
        record = json.loads(description)
    except (ValueError, TypeError):
        return None
    return record if isinstance(record, dict) and RECOVERY_KEY in record else None
