"""Unit names: NGFF (UDUNITS-2) names, OME symbols and the spellings people type.

Space and time dimensions store the NGFF name (``micrometer``, ``second``);
OME-XML gets the OME symbol of that name (``µm``, ``s``). The names are those
yaozarrs accepts without a warning, the symbols those of ome-types' units
(a test compares the tables with both libraries, which are not imported here:
settings must stay cheap to import).
"""

from __future__ import annotations

import unicodedata

# NGFF name -> OME-XML UnitsLength / UnitsTime symbol
LENGTH_SYMBOLS: dict[str, str] = {
    "angstrom": "Å",
    "attometer": "am",
    "centimeter": "cm",
    "decimeter": "dm",
    "exameter": "Em",
    "femtometer": "fm",
    "foot": "ft",
    "gigameter": "Gm",
    "hectometer": "hm",
    "inch": "in",
    "kilometer": "km",
    "megameter": "Mm",
    "meter": "m",
    "micrometer": "µm",
    "mile": "mi",
    "millimeter": "mm",
    "nanometer": "nm",
    "parsec": "pc",
    "petameter": "Pm",
    "picometer": "pm",
    "terameter": "Tm",
    "yard": "yd",
    "yoctometer": "ym",
    "yottameter": "Ym",
    "zeptometer": "zm",
    "zettameter": "Zm",
}

TIME_SYMBOLS: dict[str, str] = {
    "attosecond": "as",
    "centisecond": "cs",
    "day": "d",
    "decisecond": "ds",
    "exasecond": "Es",
    "femtosecond": "fs",
    "gigasecond": "Gs",
    "hectosecond": "hs",
    "hour": "h",
    "kilosecond": "ks",
    "megasecond": "Ms",
    "microsecond": "µs",
    "millisecond": "ms",
    "minute": "min",
    "nanosecond": "ns",
    "petasecond": "Ps",
    "picosecond": "ps",
    "second": "s",
    "terasecond": "Ts",
    "yoctosecond": "ys",
    "yottasecond": "Ys",
    "zeptosecond": "zs",
    "zettasecond": "Zs",
}

_PREFIXES = {
    "yocto": 1e-24, "zepto": 1e-21, "atto": 1e-18, "femto": 1e-15,
    "pico": 1e-12, "nano": 1e-9, "micro": 1e-6, "milli": 1e-3, "centi": 1e-2,
    "deci": 1e-1, "hecto": 1e2, "kilo": 1e3, "mega": 1e6, "giga": 1e9,
    "tera": 1e12, "peta": 1e15, "exa": 1e18, "zetta": 1e21, "yotta": 1e24,
}  # fmt: skip
# seconds per unit of every time name
TIME_SECONDS: dict[str, float] = {
    "second": 1.0,
    "minute": 60.0,
    "hour": 3600.0,
    "day": 86400.0,
    **{f"{p}second": f for p, f in _PREFIXES.items()},
}

# spellings beyond the names, their plurals and the symbols
LENGTH_ALIASES: dict[str, str] = {
    "um": "micrometer",
    "u": "micrometer",
    "micron": "micrometer",
    "microns": "micrometer",
    "A": "angstrom",
    "ångström": "angstrom",
    "ångströms": "angstrom",
}
TIME_ALIASES: dict[str, str] = {
    "us": "microsecond",
    "usec": "microsecond",
    "µsec": "microsecond",
    "nsec": "nanosecond",
    "msec": "millisecond",
    "sec": "second",
    "secs": "second",
    "mins": "minute",
    "hr": "hour",
    "hrs": "hour",
}


def _key(unit: str) -> str:
    # NFKC makes the micro sign Greek mu and the angstrom sign Å; one- and
    # two-character symbols are case-sensitive ("Mm" vs "mm")
    unit = unicodedata.normalize("NFKC", unit.strip())
    return unit.lower() if len(unit) > 2 else unit


_PLURALS = {"foot": "feet", "inch": "inches"}


def _lookup(names: dict[str, str], aliases: dict[str, str]) -> dict[str, str]:
    spellings: dict[str, str] = {}
    for name, symbol in names.items():
        plural = _PLURALS.get(name, name + "s")
        spellings[name] = spellings[plural] = spellings[symbol] = name
        if name.endswith("meter"):  # British spelling
            metre = name[: -len("meter")] + "metre"
            spellings[metre] = spellings[metre + "s"] = name
    spellings.update(aliases)
    return {_key(spelling): name for spelling, name in spellings.items()}


_LENGTH = _lookup(LENGTH_SYMBOLS, LENGTH_ALIASES)
_TIME = _lookup(TIME_SYMBOLS, TIME_ALIASES)


def length_unit(unit: str) -> str | None:
    """Return the NGFF length name for `unit`, or None if it is not a length."""
    return _LENGTH.get(_key(unit))


def time_unit(unit: str) -> str | None:
    """Return the NGFF time name for `unit`, or None if it is not a time."""
    return _TIME.get(_key(unit))


def _accepted(kind: str) -> str:
    names, aliases = (
        (LENGTH_SYMBOLS, LENGTH_ALIASES)
        if kind == "length"
        else (TIME_SYMBOLS, TIME_ALIASES)
    )
    return (
        f"the NGFF (UDUNITS-2) {kind} names {', '.join(names)} (also plural"
        + (" or spelled -metre" if kind == "length" else "")
        + f"), their symbols {', '.join(names.values())}, "
        f"or {', '.join(aliases)}"
    )


def normalise_unit(unit: str, kind: str | None, dimension: object = None) -> str:
    """The NGFF name of the unit of a dimension of type `kind`.

    A space dimension needs a length, a time dimension a time and an untyped
    one either; channel, position and other dimensions keep `unit` as given
    (no format writes it). Raises ValueError naming `unit` and what is
    accepted.
    """
    if kind not in ("space", "time", None):
        return unit
    length, time = length_unit(unit), time_unit(unit)
    where = f" (dimension {dimension!r})" if dimension is not None else ""
    if kind == "space":
        if length is not None:
            return length
        hint = f"; {unit!r} is a unit of time" if time is not None else ""
        raise ValueError(
            f"Unrecognized unit of length: {unit!r}{where}{hint}. "
            f"Accepted: {_accepted('length')}."
        )
    if kind == "time":
        if time is not None:
            return time
        hint = f"; {unit!r} is a unit of length" if length is not None else ""
        raise ValueError(
            f"Unrecognized unit of time: {unit!r}{where}{hint}. "
            f"Accepted: {_accepted('time')}."
        )
    if length is not None:
        return length
    if time is not None:
        return time
    raise ValueError(
        f"Unrecognized unit: {unit!r}{where}: neither a unit of length nor "
        f"of time. Accepted: {_accepted('length')}; {_accepted('time')}. "
        "A unit of a channel, position or other dimension needs that `type`."
    )
