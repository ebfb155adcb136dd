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
- ``channels``: each C index's name, colour (``"#RRGGBB"`` or null), display
  window (``[start, end]``: the contrast limits the user set, else the range
  of the significant bits; or null) and visibility, as of the last update;
- ``dtype``, ``frame``: the pixel type and the frame's [SizeY, SizeX];
- ``pages``: runs ``[image, ifd, count, z, c, t]``: `count` pages from page
  `ifd` of the image's file hold the planes from (z, c, t) on, in
  DimensionOrder (numbered with ``sizes``);
- ``newest``: per image, ``[ifd, offset, bytes]`` of its page written last
  (where its strip is), or null: a viewer following the acquisition reads
  the newest plane without walking the chain of pages.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import numpy as np

from ome_writers.metadata._colors import channel_color
from ome_writers.metadata._display import ChannelSetting, value_range
from ome_writers.metadata._ome_xml_text import escape
from ome_writers.metadata._progress import PROGRESS_NAMESPACE

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping, Sequence

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
    frame = settings.frame_dimensions
    count = len(files.images)
    return {
        "dimension_order": axes.order,
        "sizes": plane_sizes,
        "names": [settings.positions[p].name for p in range(count)],
        "files": [files.paths[files.file_of(p)].name for p in range(count)],
        "channels": channel_entries(settings, axes, {}),
        "dtype": str(settings.dtype),
        "frame": [int(frame[0].count or 0), int(frame[1].count or 0)],
    }


def channel_entries(
    settings: AcquisitionSettings,
    axes: TiffAxes,
    shown: Mapping[int, ChannelSetting],
) -> list[dict[str, Any]]:
    """The record's ``channels``, with the display settings `shown` (by
    channel index)."""
    window = None
    if settings.significant_bits is not None:
        window = list(value_range(np.dtype(settings.dtype), settings.significant_bits))
    out = []
    for c, (label, optical) in enumerate(axes.channel_labels(axes.sizes(None)["c"])):
        setting = shown.get(axes.channel_of(c)) or ChannelSetting()
        color = setting.color or channel_color(
            optical if optical is not None else label
        )
        limits = list(setting.limits) if setting.limits is not None else window
        out.append(
            {
                "name": label,
                "color": f"#{color}" if color else None,
                "window": limits,
                "visible": setting.visible is not False,
            }
        )
    return out


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
