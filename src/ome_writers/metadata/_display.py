"""How the user set each channel to be displayed, and where formats keep it.

`OMEStream.set_channel_display` records a channel's colour, contrast limits
and visibility here, at any time; nothing is written then. The backends take
a `snapshot` at each loss-window visit and at close and write it whole: NGFF
``omero`` (``color``, ``window.start``/``end``, ``active``) in OME-Zarr, and
in OME-XML the Channel's ``Color`` and a MapAnnotation of namespace `NAMESPACE`
referenced from the Channel (OME has no field for contrast limits or
visibility), keys ``contrast_limits`` (JSON ``[low, high]``) and ``visible``
(``true``/``false``).

Display windows by default: the pixel type's range, or the range of
`AcquisitionSettings.significant_bits` (`value_range`).
"""

from __future__ import annotations

import json
import math
import threading
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import numpy as np

from ome_writers._schema import Channel, effective_type
from ome_writers.metadata._colors import channel_color

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from ome_writers._schema import AcquisitionSettings, Dimension

NAMESPACE = "ome_writers.display"


@dataclass(frozen=True)
class ChannelSetting:
    """What the user set for one channel (None: not set)."""

    color: str | None = None  # "RRGGBB"
    limits: tuple[float, float] | None = None
    visible: bool | None = None


Snapshot = tuple[int, dict[int, ChannelSetting]]


class DisplaySettings:
    """The display settings of a stream's channels, by channel index.

    Set from any thread; the backends read consistent snapshots. `version`
    grows with every change, so a visit writes only when something changed.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._channels: dict[int, ChannelSetting] = {}
        self.version = 0

    def set(
        self,
        channel: int,
        *,
        color: str | None = None,
        limits: tuple[float, float] | None = None,
        visible: bool | None = None,
    ) -> None:
        """Record the given values of `channel` (others stay as they were)."""
        changes: dict[str, Any] = {}
        if color is not None:
            changes["color"] = color
        if limits is not None:
            changes["limits"] = limits
        if visible is not None:
            changes["visible"] = visible
        with self._lock:
            old = self._channels.get(channel, ChannelSetting())
            new = replace(old, **changes)
            if new != old:
                self._channels[channel] = new
                self.version += 1

    def snapshot(self) -> Snapshot:
        """(version, channel index -> setting), as of now."""
        with self._lock:
            return self.version, dict(self._channels)


# ------------------------------------------------------------ checking input


def _channel_dimensions(settings: AcquisitionSettings) -> list[Dimension]:
    """The channel dimension of the acquisition and of positions with
    dimensions of their own."""
    groups = [settings.dimensions]
    groups += [p.dimensions for p in settings.positions if p.dimensions]
    out = []
    for dims in groups:
        found = next((d for d in dims if effective_type(d) == "channel"), None)
        if found is not None:
            out.append(found)
    return out


def _names(dim: Dimension) -> list[str]:
    return [c.name if isinstance(c, Channel) else str(c) for c in dim.coords or ()]


def channel_index(settings: AcquisitionSettings, channel: Any) -> int:
    """The index of `channel` (an index or a name) along the channel
    dimension; 0 is the one channel of an acquisition without one."""
    dims = _channel_dimensions(settings)
    if isinstance(channel, str):
        found = {n.index(channel) for n in map(_names, dims) if channel in n}
        if len(found) == 1:
            return found.pop()
        names = sorted({n for d in dims for n in _names(d)})
        if found:
            raise ValueError(
                f"channel {channel!r} has different indices in different "
                f"positions ({sorted(found)}): give its index"
            )
        raise ValueError(
            f"no channel is named {channel!r}; channels: {names or 'none named'}"
        )
    if isinstance(channel, bool) or not hasattr(channel, "__index__"):
        raise TypeError(
            f"channel must be an index or a name, got {type(channel).__name__}"
        )
    index = int(channel.__index__())
    counts = [d.count for d in dims]
    # an unbounded channel dimension has no last index
    limit = None if None in counts else max([c or 0 for c in counts], default=1)
    if index < 0 or (limit is not None and index >= limit):
        what = f"{limit} channel{'s' * (limit != 1)}" if limit else "channels"
        raise IndexError(f"channel {index} is not one of the {what} (0 first)")
    return index


def check_color(value: Any) -> str:
    """``RRGGBB`` of a colour given as a name, ``"#RRGGBB"`` or (r, g, b)."""
    from pydantic_extra_types.color import Color

    try:
        r, g, b, *_ = Color(value).as_rgb_tuple(alpha=False)
    except Exception:
        raise ValueError(
            f"color {value!r} is not a colour: give a name, '#RRGGBB' or (r, g, b)"
        ) from None
    return f"{r:02X}{g:02X}{b:02X}"


def check_limits(value: Sequence[Any]) -> tuple[float, float]:
    """(low, high) of contrast limits: two finite numbers, low <= high."""
    try:
        low, high = value
    except (TypeError, ValueError):
        raise ValueError(
            f"contrast_limits must be two numbers (low, high), got {value!r}"
        ) from None
    numbers = []
    for v in (low, high):
        if isinstance(v, bool) or not hasattr(v, "__float__"):
            raise ValueError(f"contrast_limits must be numbers, got {value!r}")
        number = float(v)
        if not math.isfinite(number):
            raise ValueError(f"contrast_limits must be finite, got {value!r}")
        numbers.append(number)
    if numbers[0] > numbers[1]:
        raise ValueError(
            f"contrast_limits {value!r}: the low limit is above the high one"
        )
    return numbers[0], numbers[1]


def check_visible(value: Any) -> bool:
    """`value` as a bool (only True and False, numpy's included)."""
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    raise ValueError(f"visible must be True or False, got {value!r}")


def value_range(dtype: np.dtype, significant_bits: int | None) -> tuple[float, float]:
    """The values a pixel can hold: the type's range, or that of its
    significant bits; 0..1 for floats (a reader can rescale)."""
    if dtype.kind not in "iu":
        return 0.0, 1.0
    info = np.iinfo(dtype)
    if significant_bits is None:
        return float(info.min), float(info.max)
    if dtype.kind == "i":
        half = 1 << (significant_bits - 1)
        return float(-half), float(half - 1)
    return 0.0, float((1 << significant_bits) - 1)


# ---------------------------------------------------------------- NGFF omero


def omero_channel(label: str, color: str, low: float, high: float) -> dict[str, Any]:
    """An NGFF ``omero`` channel entry shown over `low`..`high`."""
    window = {"start": low, "min": low, "end": high, "max": high}
    return {"label": label, "color": color, "window": window, "active": True}


def omero_defaults(settings: AcquisitionSettings) -> list[dict[str, Any]]:
    """The ``omero`` channels of an image whose document lists none: one per
    index of the channel dimension (one without), named by index."""
    dims = settings.array_storage_dimensions
    channel = next((d for d in dims if effective_type(d) == "channel"), None)
    count = int(channel.count or 1) if channel is not None else 1
    labels = _names(channel) if channel is not None else []
    low, high = value_range(np.dtype(settings.dtype), settings.significant_bits)
    out = []
    for i in range(count):
        label = labels[i] if i < len(labels) else str(i)
        color = channel_color(label) or "FFFFFF"
        out.append(omero_channel(label, color, low, high))
    return out


def set_omero_window(entry: dict[str, Any], start: float, end: float) -> None:
    """Show `entry` over `start`..`end`, widening min/max to hold them."""
    window = entry.setdefault("window", {})
    window["start"], window["end"] = start, end
    window["min"] = min(window.get("min", start), start)
    window["max"] = max(window.get("max", end), end)


def apply_to_omero(
    attributes: dict[str, Any],
    channels: Mapping[int, ChannelSetting],
    defaults: list[dict[str, Any]],
) -> None:
    """Write the user's settings into an image group's ``omero`` (in place).

    `defaults` are the entries of an image whose document lists none (no
    channel names were declared); channels beyond an image's own are skipped.
    """
    if not channels:
        return
    # NGFF 0.5 keeps its documents under "ome", 0.4 in the attributes themselves
    v04 = "multiscales" in attributes
    ome = attributes if v04 else attributes.setdefault("ome", {})
    omero = ome.get("omero")
    if not omero or not omero.get("channels"):
        omero = ome["omero"] = {"channels": [dict(d) for d in defaults]}
    entries = omero["channels"]
    for c, setting in sorted(channels.items()):
        if c >= len(entries):
            continue
        entry = entries[c]
        if setting.color is not None:
            entry["color"] = setting.color
        if setting.limits is not None:
            set_omero_window(entry, *setting.limits)
        if setting.visible is not None:
            entry["active"] = setting.visible


# ------------------------------------------------------------------- OME-XML


def annotation_values(setting: ChannelSetting) -> list[tuple[str, str]]:
    """The (key, value) pairs of a channel's display MapAnnotation (none when
    only the colour was set, which the Channel holds)."""
    out = []
    if setting.limits is not None:
        out.append(("contrast_limits", json.dumps(list(setting.limits))))
    if setting.visible is not None:
        out.append(("visible", json.dumps(setting.visible)))
    return out


def read_annotation(values: Mapping[str, str]) -> ChannelSetting:
    """A display MapAnnotation's values as a setting (what parses)."""
    limits = visible = None
    try:
        low, high = json.loads(values.get("contrast_limits", "null"))
        if all(isinstance(v, (int, float)) and math.isfinite(v) for v in (low, high)):
            limits = (float(low), float(high))
    except (TypeError, ValueError):
        pass
    flag = values.get("visible")
    if flag in ("true", "false"):
        visible = flag == "true"
    return ChannelSetting(limits=limits, visible=visible)
