"""tc-syntax units: rates, sizes and times, parsed exactly as ``tc`` reads them.

Everything is converted to integers: rates in bits per second, sizes in bytes,
times in nanoseconds. Follows iproute2 (``get_rate``, ``get_size``,
``get_time``), including its traps: ``mbps`` is megaBYTES per second, sizes
use 1024 multipliers (``64kb`` = 65536 bytes), and a bare time is in
microseconds.

>>> parse_rate("100mbit"), parse_rate("1mbps")
(100000000, 8000000)
>>> parse_size("1514b"), parse_size("64kb")
(1514, 65536)
>>> parse_time("5ms"), parse_time("10")
(5000000, 10000)
"""

from __future__ import annotations

import re
from fractions import Fraction


class UnitError(ValueError):
    """A value that is not a valid tc rate, size or time.

    Kept free of ``qdisclab.errors`` so this module stays at the bottom layer;
    the CLI reports it like any user error (one line, exit 2).
    """


# Multipliers to bits per second. Case-insensitive, as tc compares units.
_RATE_UNITS: dict[str, Fraction] = {
    "": Fraction(1),
    "bit": Fraction(1),
    "kbit": Fraction(1000),
    "mbit": Fraction(1000**2),
    "gbit": Fraction(1000**3),
    "tbit": Fraction(1000**4),
    "kibit": Fraction(1024),
    "mibit": Fraction(1024**2),
    "gibit": Fraction(1024**3),
    "tibit": Fraction(1024**4),
    # tc's "bps" family is BYTES per second.
    "bps": Fraction(8),
    "kbps": Fraction(8 * 1000),
    "mbps": Fraction(8 * 1000**2),
    "gbps": Fraction(8 * 1000**3),
    "tbps": Fraction(8 * 1000**4),
    "kibps": Fraction(8 * 1024),
    "mibps": Fraction(8 * 1024**2),
    "gibps": Fraction(8 * 1024**3),
    "tibps": Fraction(8 * 1024**4),
}

# Multipliers to bytes (iproute2 get_size: 1024-based, "kbit" = kilobits).
_SIZE_UNITS: dict[str, Fraction] = {
    "": Fraction(1),
    "b": Fraction(1),
    "k": Fraction(1024),
    "kb": Fraction(1024),
    "m": Fraction(1024**2),
    "mb": Fraction(1024**2),
    "g": Fraction(1024**3),
    "gb": Fraction(1024**3),
    "kbit": Fraction(1024, 8),
    "mbit": Fraction(1024**2, 8),
    "gbit": Fraction(1024**3, 8),
}

# Multipliers to nanoseconds. A bare number is microseconds, as in tc.
_TIME_UNITS: dict[str, Fraction] = {
    "": Fraction(1000),
    "s": Fraction(10**9),
    "sec": Fraction(10**9),
    "secs": Fraction(10**9),
    "ms": Fraction(10**6),
    "msec": Fraction(10**6),
    "msecs": Fraction(10**6),
    "us": Fraction(1000),
    "usec": Fraction(1000),
    "usecs": Fraction(1000),
    "ns": Fraction(1),
    "nsec": Fraction(1),
    "nsecs": Fraction(1),
}

_NUMBER = re.compile(r"^\s*([0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE]([+-]?[0-9]+))?\s*([A-Za-z]*)\s*$")


def _parse(text: str | int | float, units: dict[str, Fraction], what: str, examples: str) -> int:
    if isinstance(text, bool):
        raise UnitError(f"bad {what} {text!r}: expected a number with a unit, e.g. {examples}")
    if isinstance(text, int):
        text = str(text)
    elif isinstance(text, float):
        text = repr(text)
    match = _NUMBER.match(text)
    if match is None:
        raise UnitError(f"bad {what} {text!r}: expected a number with a unit, e.g. {examples}")
    mantissa, exponent, unit = match.groups()
    factor = units.get(unit.lower())
    if factor is None:
        allowed = ", ".join(u for u in units if u)
        raise UnitError(f"bad {what} {text!r}: unknown unit {unit!r} (allowed: {allowed})")
    value = Fraction(mantissa)
    if exponent:
        value *= Fraction(10) ** int(exponent)
    return round(value * factor)


def parse_rate(text: str | int | float) -> int:
    """Parse a tc rate (``"100mbit"``, ``"1gbit"``, ``"125kbps"``) into bits per second."""
    return _parse(text, _RATE_UNITS, "rate", "'100mbit', '1gbit', '10kbps' (bytes/s)")


def parse_size(text: str | int | float) -> int:
    """Parse a tc size (``"1514b"``, ``"64kb"``, ``"1m"``) into bytes."""
    return _parse(text, _SIZE_UNITS, "size", "'1514b', '64kb', '1mb'")


def parse_time(text: str | int | float) -> int:
    """Parse a tc time (``"10ms"``, ``"1s"``, ``"250us"``; bare = us) into nanoseconds."""
    return _parse(text, _TIME_UNITS, "time", "'10ms', '1s', '250us', '500ns'")


def format_rate(bits_per_s: int | float) -> str:
    """Format a rate the way ``tc`` prints it (``100Mbit``, ``1Gbit``, ``64Kbit``)."""
    for unit, scale in (("Tbit", 1000**4), ("Gbit", 1000**3), ("Mbit", 1000**2), ("Kbit", 1000)):
        if bits_per_s >= scale:
            return _trim(bits_per_s / scale) + unit
    return _trim(bits_per_s) + "bit"


def format_size(size_bytes: int | float) -> str:
    """Format a size the way ``tc`` prints it (``1514b``, ``64Kb``, ``2Mb``)."""
    for unit, scale in (("Gb", 1024**3), ("Mb", 1024**2), ("Kb", 1024)):
        if size_bytes >= scale and size_bytes % (scale // 8 or 1) == 0:
            return _trim(size_bytes / scale) + unit
    return f"{int(size_bytes)}b"


def format_time(ns: int | float) -> str:
    """Format nanoseconds the way ``tc`` prints times (``5ms``, ``100us``, ``1s``)."""
    for unit, scale in (("s", 10**9), ("ms", 10**6), ("us", 1000)):
        if abs(ns) >= scale:
            return _trim(ns / scale) + unit
    return f"{int(ns)}ns"


def _trim(value: float) -> str:
    text = f"{value:.3f}".rstrip("0").rstrip(".")
    return text or "0"
