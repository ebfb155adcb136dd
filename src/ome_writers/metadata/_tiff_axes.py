"""How OME-XML describes index dimensions, without the OME model library.

`TiffAxes` maps the storage index dimensions onto OME's Z, C and T: a
dimension typed (or named) time is T, channel is C, space is Z; any other
dimension (e.g. pymmcore-plus's ``cam``) is folded into C together with the
channel dimension, so C holds every (channel, camera) combination and channel
names read ``"<channel>-<cam>"``. T and Z may each come from one dimension only.

Everything a TIFF writer needs before its first frame and for every page lives
here; the OME-XML models (`_ome_model.py`, ome-types, slow to import) are
needed only at close. OME-Zarr's ``OME/METADATA.ome.xml`` maps its images'
dimensions the same way.
"""

from __future__ import annotations

import math
import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ome_writers._schema import Channel, effective_type

if TYPE_CHECKING:
    from collections.abc import Sequence

    from ome_writers._schema import AcquisitionSettings, Dimension

PIXEL_TYPES = {
    "uint8": "uint8",
    "uint16": "uint16",
    "uint32": "uint32",
    "int8": "int8",
    "int16": "int16",
    "int32": "int32",
    "float32": "float",
    "float64": "double",
}
# the OME orders, in the preference used to fill in axes that are absent
OME_ORDERS = ("XYZCT", "XYZTC", "XYCTZ", "XYCZT", "XYTCZ", "XYTZC")
_LETTER = {"time": "t", "channel": "c", "space": "z"}


def axis_letter(dim: Dimension) -> str:
    """OME axis (``"z"``, ``"c"`` or ``"t"``) that stores an index dimension."""
    return _LETTER.get(effective_type(dim) or "", "c")


class TiffAxes:
    """How storage indices map to OME (TheZ, TheC, TheT) and Pixels sizes."""

    def __init__(self, settings: AcquisitionSettings) -> None:
        self.dims = settings.storage_index_dimensions
        self.letters = [axis_letter(d) for d in self.dims]
        self.counts = [d.count for d in self.dims]
        # mixed radix within each letter, storage order (outer first)
        self.radix = [1] * len(self.dims)
        running = {"z": 1, "c": 1, "t": 1}
        for i in reversed(range(len(self.dims))):
            self.radix[i] = running[self.letters[i]]
            running[self.letters[i]] *= self.counts[i] or 1
        fastest = "".join(dict.fromkeys(a.upper() for a in reversed(self.letters)))
        self.order = next(o for o in OME_ORDERS if o[2:].startswith(fastest))
        self.inner = math.prod(c or 1 for c in self.counts[1:])
        self._slot = [("z", "c", "t").index(a) for a in self.letters]

    def problem(self) -> str | None:
        """Why these dimensions cannot be stored as OME Z/C/T, or None."""
        names = [d.name for d in self.dims]
        for letter, kind in (("t", "time"), ("z", "space")):
            if self.letters.count(letter) > 1:
                which = [
                    n for n, a in zip(names, self.letters, strict=True) if a == letter
                ]
                return (
                    f"OME-TIFF has one {letter.upper()} axis, but dimensions {which} "
                    f"are all {kind} dimensions. Supported: at most one time and one "
                    "space (z) dimension besides Y/X; channel and other dimensions "
                    "are combined into C."
                )
        return None

    def zct(self, index: Sequence[int]) -> tuple[int, int, int]:
        """(TheZ, TheC, TheT) of a storage index."""
        out = [0, 0, 0]
        for slot, radix, i in zip(self._slot, self.radix, index, strict=True):
            out[slot] += radix * i
        return out[0], out[1], out[2]

    def sizes(self, outer: int | None, axis: int = 0) -> dict[str, int]:
        """SizeZ/C/T (keys z, c, t); `outer` replaces the count of dimension
        `axis` (default: the first)."""
        sizes = {"z": 1, "c": 1, "t": 1}
        for i, (letter, count) in enumerate(
            zip(self.letters, self.counts, strict=True)
        ):
            n = outer if i == axis and outer is not None else count
            sizes[letter] *= n or 1
        return sizes

    def raster_key(self, zct: tuple[int, int, int]) -> tuple[int, ...]:
        """Sort key putting planes in DimensionOrder (slowest axis first)."""
        by = {"Z": zct[0], "C": zct[1], "T": zct[2]}
        return tuple(by[a] for a in reversed(self.order[2:]))

    def channel_of(self, c: int) -> int:
        """The channel dimension's index in combined C index `c` (`c` itself
        when C holds no channel dimension)."""
        for d, radix, letter in zip(self.dims, self.radix, self.letters, strict=True):
            if letter == "c" and effective_type(d) == "channel":
                return c // radix % d.count if d.count else c // radix
        return c

    def channel_labels(self, size_c: int) -> list[tuple[str, Channel | None]]:
        """Name (and optical channel, if any) of each combined C index.

        Names join the labels of the folded dimensions, channel first
        (``"DAPI-cam1"``); a dimension without coords is labelled
        ``<name><index>``.
        """
        group = [
            (d, r)
            for d, r, a in zip(self.dims, self.radix, self.letters, strict=True)
            if a == "c"
        ]
        group.sort(key=lambda g: effective_type(g[0]) != "channel")
        out = []
        for k in range(size_c):
            parts, optical = [], None
            for d, radix in group:
                i = k // radix % d.count if d.count else k // radix
                label = d.coords[i] if d.coords and i < len(d.coords) else None
                if isinstance(label, Channel):
                    optical = optical or label
                    parts.append(label.name)
                elif label is not None:
                    parts.append(str(label))
                else:
                    parts.append(f"{d.name}{i}")
            out.append(("-".join(parts) or str(k), optical))
        return out


def ome_xml_problem(settings: AcquisitionSettings) -> str | None:
    """Why OME-XML cannot describe `settings` (its pixel type, or dimensions
    that do not map onto Z, C and T), or None."""
    if settings.dtype and settings.dtype not in PIXEL_TYPES:
        return (
            f"OME-TIFF cannot store dtype {settings.dtype!r}; supported: "
            f"{sorted(PIXEL_TYPES)}"
        )
    return TiffAxes(settings).problem()


def check_tiff_settings(settings: AcquisitionSettings) -> str | None:
    """Why OME-TIFF cannot store `settings`, or None."""
    problem = ome_xml_problem(settings)
    if problem:
        return problem
    acquisition = settings.index_dimensions
    storage = settings.storage_index_dimensions
    if (
        acquisition
        and acquisition[0].count is None
        and storage[0] is not acquisition[0]
    ):
        return (
            f"OME-TIFF pages grow along the unbounded dimension "
            f"{acquisition[0].name!r}: it must stay first in storage_order"
        )
    return None


@dataclass(slots=True)  # one per page of a long acquisition
class PlaneRecord:
    """One page: where it is and what it holds."""

    ifd: int
    zct: tuple[int, int, int]
    metadata: dict[str, Any] | None = None


@dataclass
class ImageState:
    """What has been written for one image (position)."""

    file_index: int
    planes: list[PlaneRecord] = field(default_factory=list)


def new_uuid() -> str:
    """A fresh ``urn:uuid:`` identifier."""
    return f"urn:uuid:{uuid.uuid4()}"
