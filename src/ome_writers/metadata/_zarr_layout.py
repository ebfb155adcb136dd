"""Where the groups and arrays of an OME-Zarr dataset go (no NGFF models).

The paths are known without yaozarrs, so a stream's first array can be created
before the group documents are built (`_ngff.group_documents`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ome_writers._io._paths import safe_segment
from ome_writers.metadata._tiff_axes import ome_xml_problem

if TYPE_CHECKING:
    from ome_writers._schema import AcquisitionSettings, Position


@dataclass
class ZarrLayout:
    """Where every group and array of a dataset goes.

    Attributes
    ----------
    kind : str
        "image" (one image at the root), "collection" (bioformats2raw layout:
        one image per position and an ``OME`` group) or "plate".
    image_paths : list[str]
        Image group path per position index; the array is ``<image>/0``.
    wells : dict[tuple[str, str], list[str]]
        A plate's wells, (row name, column name) -> the fields' path segments.
    groups : dict[str, dict]
        Group path ("." for the root) -> attributes, in creation order; empty
        until the documents are built (`_ngff.build_layout`).
    ome_xml : bool
        Whether the dataset has ``OME/METADATA.ome.xml`` (its ``OME`` group
        lists the image groups, in the order of its Images).
    """

    kind: str = "image"
    image_paths: list[str] = field(default_factory=list)
    wells: dict[tuple[str, str], list[str]] = field(default_factory=dict)
    groups: dict[str, dict[str, Any]] = field(default_factory=dict)
    ome_xml: bool = True

    def array_path(self, position: int, level: int = 0) -> str:
        """Path of one position's array (of pyramid `level`), relative to the root."""
        image = self.image_paths[position]
        return str(level) if image == "." else f"{image}/{level}"


def plan_layout(settings: AcquisitionSettings) -> ZarrLayout:
    """The group and image paths of `settings` (single image, collection or plate)."""
    positions = settings.positions
    ome_xml = ome_xml_problem(settings) is None
    if settings.plate is not None:
        layout = ZarrLayout(kind="plate", ome_xml=ome_xml)
        for p, fov in zip(positions, _field_names(positions), strict=True):
            row, column = str(p.plate_row), str(p.plate_column)
            layout.wells.setdefault((row, column), []).append(fov)
            layout.image_paths.append(f"{well_path(row, column)}/{fov}")
        return layout
    if len(positions) > 1:
        names = _unique([safe_segment(_series_name(p)) for p in positions])
        return ZarrLayout(kind="collection", image_paths=names, ome_xml=ome_xml)
    return ZarrLayout(image_paths=["."], ome_xml=ome_xml)


def well_path(row: str, column: str) -> str:
    """A well's group path, ``<row>/<column>``."""
    return f"{safe_segment(row)}/{safe_segment(column)}"


def check_plate(settings: AcquisitionSettings) -> str | None:
    """Why plate positions cannot be laid out, or None."""
    plate = settings.plate
    if plate is None:
        return None
    outside = [
        p.name
        for p in settings.positions
        if p.plate_row not in plate.row_names
        or p.plate_column not in plate.column_names
    ]
    if outside:
        return (
            f"positions {outside} have a row/column that is not in the plate's "
            f"row_names/column_names; extend the Plate to include them"
        )
    return None


def _series_name(position: Position) -> str:
    if position.grid_row is not None:
        return f"{position.name}_{position.grid_row}_{position.grid_column}"
    return position.name


def _alnum(text: str) -> str:
    return "".join(ch for ch in text if ch.isascii() and ch.isalnum())


def _field_names(positions: tuple[Position, ...]) -> list[str]:
    """Field path per plate position: alphanumeric (NGFF), unique within a well.

    The position name with other characters removed (useq's well-plate fields
    ``fov0``, ``fov1`` give ``A/1/fov0``, ``A/1/fov1``); fields of one well that
    share a name but not a grid cell get the cell appended (``r<row>c<col>``);
    anything still empty or duplicated becomes ``fov<index>``.
    """
    wells: dict[tuple[Any, ...], list[str]] = {}
    names = []
    for i, p in enumerate(positions):
        taken = wells.setdefault((p.plate_row, p.plate_column), [])
        name = _alnum(p.name)
        if p.grid_row is not None and any(
            q.name == p.name
            and q.group[:2] == p.group[:2]  # the same well
            and q.group != p.group
            for q in positions
        ):
            name += f"r{p.grid_row}c{p.grid_column}"
        if not name or name in taken:
            name = f"fov{i}"
        taken.append(name)
        names.append(name)
    return names


def _unique(segments: list[str]) -> list[str]:
    out: list[str] = []
    for seg in segments:
        candidate, k = seg, 1
        while candidate in out:
            candidate = f"{seg}_{k}"
            k += 1
        out.append(candidate)
    return out
