"""Unit names: NGFF (UDUNITS-2) names, OME symbols and common aliases."""

from __future__ import annotations

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


def _lookup(names: dict[str, str], aliases: dict[str, str]) -> dict[str, str]:
    table = {name: name for name in names}
    table.update({symbol: name for name, symbol in names.items()})
    table.update(aliases)
    return table


_LENGTH = _lookup(
    LENGTH_SYMBOLS,
    {"um": "micrometer", "u": "micrometer", "micron": "micrometer", "A": "angstrom"},
)
_TIME = _lookup(
    TIME_SYMBOLS,
    {
        "us": "microsecond",
        "usec": "microsecond",
        "µsec": "microsecond",
        "msec": "millisecond",
        "sec": "second",
    },
)


def _key(unit: str) -> str:
    # One- and two-character symbols are case-sensitive ("Mm" vs "mm").
    return unit.lower() if len(unit) > 2 else unit


def length_unit(unit: str) -> str | None:
    """Return the NGFF length name for `unit`, or None if it is not a length."""
    return _LENGTH.get(_key(unit))


def time_unit(unit: str) -> str | None:
    """Return the NGFF time name for `unit`, or None if it is not a time."""
    return _TIME.get(_key(unit))
