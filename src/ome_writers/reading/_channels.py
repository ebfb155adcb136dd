"""How a dataset's channels are displayed: name, colour, window, visibility."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

#: colours of channels whose metadata names none, in channel order (NGFF
#: viewers' usual defaults: a single channel is grey)
_DEFAULTS = ("#00FF00", "#FF00FF", "#00FFFF", "#FF0000", "#0000FF", "#FFFF00")


@dataclass(frozen=True)
class ChannelDisplay:
    """How one channel is meant to be shown.

    Attributes
    ----------
    name : str
        The channel's name.
    color : str
        ``"#RRGGBB"``.
    window : tuple[float, float] | None
        The display range (start, end), where the metadata gives one.
    visible : bool
        Whether the channel is shown initially.
    """

    name: str
    color: str
    window: tuple[float, float] | None = None
    visible: bool = True


def default_color(index: int, count: int) -> str:
    """The colour of channel `index` of `count` when the metadata names none."""
    if count <= 1:
        return "#FFFFFF"
    return _DEFAULTS[index % len(_DEFAULTS)]


def hex_color(value: Any) -> str | None:
    """``"#RRGGBB"`` of an NGFF colour (``"RRGGBB"``, ``"RRGGBBAA"``) or None."""
    if not isinstance(value, str):
        return None
    text = value.strip().lstrip("#")
    if len(text) not in (6, 8):
        return None
    try:
        int(text, 16)
    except ValueError:
        return None
    return "#" + text[:6].upper()


def ome_color(value: Any) -> str | None:
    """``"#RRGGBB"`` of an OME-XML ``Color`` (a signed 32-bit RGBA integer)."""
    try:
        rgba = int(value) & 0xFFFFFFFF
    except (TypeError, ValueError):
        return None
    return f"#{rgba >> 8:06X}"


def window_of(value: Any) -> tuple[float, float] | None:
    """(start, end) of an NGFF ``omero`` window (or a ``[start, end]`` list),
    if it has both."""
    if isinstance(value, list) and len(value) == 2:
        start, end = value
    elif isinstance(value, dict):
        start, end = value.get("start"), value.get("end")
    else:
        return None
    numbers = all(
        isinstance(v, (int, float)) and not isinstance(v, bool) for v in (start, end)
    )
    return (float(start), float(end)) if numbers else None


def ngff_channels(omero: Any, count: int) -> list[ChannelDisplay]:
    """The channels an NGFF ``omero`` block describes (`count` in all)."""
    listed = omero.get("channels") if isinstance(omero, dict) else None
    listed = listed if isinstance(listed, list) else []
    out = []
    for i in range(count):
        entry = listed[i] if i < len(listed) and isinstance(listed[i], dict) else {}
        label = entry.get("label")
        out.append(
            ChannelDisplay(
                name=str(label) if label not in (None, "") else str(i),
                color=hex_color(entry.get("color")) or default_color(i, count),
                window=window_of(entry.get("window")),
                visible=bool(entry.get("active", True)),
            )
        )
    return out
