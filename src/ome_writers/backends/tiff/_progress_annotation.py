"""The progress record of an OME-TIFF file set, in its provisional OME-XML.

The record (`metadata/_progress.py`) is the text of one MapAnnotation of
namespace ``ome_writers.progress`` (one ``M`` element, ``K="progress"``,
holding JSON), the last part of the provisional description, replaced at
every update. Beyond the record every format states, it says what a reader
needs before the description lists an image, and where the pages are that
the description does not list yet (those of outer indices still in progress):

- ``dimension_order``: the images' DimensionOrder;
- ``sizes``: SizeZ, SizeC, SizeT (keys ``"Z"``, ``"C"``, ``"T"``), null for
  the axis holding the acquisition's outer dimension (its pages are numbered
  as if it were unbounded);
- ``names``, ``files``: each image's name and the file holding its pages;
- ``channels``: each C index's name and colour (``"#RRGGBB"`` or null);
- ``dtype``, ``frame``: the pixel type and the frame's [SizeY, SizeX];
- ``pages``: runs ``[image, ifd, count, z, c, t]``: `count` pages from page
  `ifd` of the image's file hold the planes from (z, c, t) on, in
  DimensionOrder (numbered with ``sizes``).
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from ome_writers.metadata._colors import channel_color
from ome_writers.metadata._ome_xml_text import escape
from ome_writers.metadata._progress import PROGRESS_NAMESPACE

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence

    from ome_writers._schema import AcquisitionSettings
    from ome_writers.backends.tiff._file_set import TiffFileSet
    from ome_writers.metadata._tiff_axes import TiffAxes

#: what ends the provisional description, after the record
END = "</StructuredAnnotations></OME>"


def progress_element(record: dict[str, Any]) -> str:
    """The MapAnnotation holding `record` (ASCII)."""
    text = escape(json.dumps(record, separators=(",", ":")))
    return (
        f'<MapAnnotation ID="Annotation:Progress" Namespace="{PROGRESS_NAMESPACE}">'
        f'<Value><M K="progress">{text}</M></Value></MapAnnotation>'
    )


def static_entries(
    settings: AcquisitionSettings,
    axes: TiffAxes,
    files: TiffFileSet,
    plane_sizes: dict[str, int | None],
) -> dict[str, Any]:
    """The entries of the record that do not change during a run."""
    size_c = axes.sizes(None)["c"]
    channels = []
    for label, optical in axes.channel_labels(size_c):
        color = channel_color(optical if optical is not None else label)
        channels.append({"name": label, "color": f"#{color}" if color else None})
    frame = settings.frame_dimensions
    count = len(files.images)
    return {
        "dimension_order": axes.order,
        "sizes": plane_sizes,
        "names": [settings.positions[p].name for p in range(count)],
        "files": [files.paths[files.file_of(p)].name for p in range(count)],
        "channels": channels,
        "dtype": str(settings.dtype),
        "frame": [int(frame[0].count or 0), int(frame[1].count or 0)],
    }


def page_runs(
    pending: Iterable[tuple[int, Sequence[tuple[int, int, tuple[int, int, int]]]]],
) -> list[list[int]]:
    """Runs ``[image, ifd, count, z, c, t]`` of pages (ifd, plane key, zct)
    per image, consecutive both in the file and in the plane keys."""
    out: list[list[int]] = []
    for image, pages in pending:
        run: list[int] | None = None
        next_ifd = next_key = -1
        for ifd, key, (z, c, t) in sorted(pages):
            if run is not None and ifd == next_ifd and key == next_key:
                run[2] += 1
            else:
                run = [image, ifd, 1, z, c, t]
                out.append(run)
            next_ifd, next_key = ifd + 1, key + 1
    return out
