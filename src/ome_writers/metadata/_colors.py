"""Display colours of channels that name no colour, for viewers.

An explicit `Channel.color` always wins. Otherwise the channel's name (or its
fluorophore) is matched, case-insensitively, against `NAMED` (first match
wins; a name must start a word, and numbers and names of up to three letters
must be whole words); failing that, the emission wavelength picks a colour by
band (`BANDS`). A channel that matches nothing gets no guess (NGFF ``omero``
writes white, OME-XML leaves ``Color`` out). The table is documented in
docs/formats.md.
"""

from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ome_writers._schema import Channel

NAMED: list[tuple[str, tuple[str, ...]]] = [
    ("FFFFFF", ("bf", "brightfield", "bright field", "dic", "phase", "trans")),
    ("0000FF", ("dapi", "hoechst", "bfp", "cfp", "blue", "405", "445")),
    ("00FF00", ("fitc", "gfp", "egfp", "alexa 488", "alexa488", "af488", "cy2")),
    ("00FF00", ("green", "488")),
    ("FFFF00", ("yfp", "venus", "citrine", "yellow", "514")),
    ("FF00FF", ("cy5", "alexa 647", "alexa647", "af647", "far red", "farred")),
    ("FF00FF", ("633", "640", "647")),
    ("800000", ("cy7", "ir", "750")),
    ("FF0000", ("tritc", "cy3", "rfp", "mcherry", "tdtomato", "texas red", "txred")),
    ("FF0000", ("alexa 568", "alexa568", "alexa 594", "alexa594", "red")),
    ("FF0000", ("561", "568", "594")),
]
BANDS = [(490, "0000FF"), (560, "00FF00"), (590, "FFFF00"), (650, "FF0000")]
BANDS += [(720, "FF00FF")]


def _matches(text: str, name: str) -> bool:
    """Whether `name` starts a word of `text`; numbers and names of up to three
    letters must be whole words ("IR" is not "iris")."""
    # string scans, not regular expressions: compiling a pattern per name
    # costs the first stream's creation milliseconds
    at = text.find(name)
    while at >= 0:
        end = at + len(name)
        if at == 0 or not _is_word(text[at - 1]):
            after = text[end : end + 1]
            if name[-1].isdigit():
                whole = not after.isdecimal()
            elif len(name) <= 3:
                whole = not ("a" <= after <= "z")
            else:
                whole = True
            if whole:
                return True
        at = text.find(name, at + 1)
    return False


def _is_word(char: str) -> bool:
    return "a" <= char <= "z" or "0" <= char <= "9"


@lru_cache(maxsize=256)  # the same channels in every image of a plate
def guess_color(name: str, emission_nm: float | None = None) -> str | None:
    """``RRGGBB`` for a channel named `name` (see the table), or None."""
    text = name.lower().replace("-", " ").replace("_", " ")
    for color, names in NAMED:
        if any(_matches(text, n) for n in names):
            return color
    if emission_nm:
        for limit, color in BANDS:
            if emission_nm < limit:
                return color
        return "800000"
    return None


def channel_color(channel: Channel | str) -> str | None:
    """``RRGGBB`` of a channel: its own colour, else a guess, else None."""
    if isinstance(channel, str):
        return guess_color(channel)
    if channel.color is not None:
        r, g, b, *_ = channel.color.as_rgb_tuple(alpha=False)
        return f"{r:02X}{g:02X}{b:02X}"
    for text in (channel.name, channel.fluorophore or ""):
        color = guess_color(text)
        if color is not None:
            return color
    return guess_color("", channel.emission_wavelength_nm)
