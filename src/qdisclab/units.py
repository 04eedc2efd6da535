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

# The widths the kernel and tc keep each quantity in. A value outside is refused,
# never wrapped or clamped: ktime_t is a signed 64-bit ns count, rates are u64
# bytes per second (tc's rate64, the kernel's rate_bytes_ps), sizes are u32
# (iproute2's get_size refuses anything past UINT_MAX).
TIME_NS_MAX = 2**63 - 1
RATE_BITS_MAX = 8 * (2**64 - 1)
SIZE_BYTES_MAX = 2**32 - 1

# A number longer than this is not a value anyone means; refusing it up front keeps
# parsing cost independent of the text (Fraction of a million digits is slow).
_MAX_DIGITS = 40
# Past this exponent a non-zero value overflows every width above (the largest,
# 8 * 2**64 bit/s, is below 1e21) and below its negative it rounds to zero even with
# the largest multiplier (8e12), so neither needs an exact power of ten.
_MAX_EXPONENT = 60


# Parsed values by (type, text, quantity): a scenario repeats a few values over and over
# (a 256-flow dumbbell parses about 4,400 of them, its links' "100mbit" and "10ms" among
# them, in validation, checks and build), and exact Fraction arithmetic costs ~10 us each.
# Errors are not kept: they raise every time. Cleared when full, so sweeps stay bounded.
_PARSED: dict[tuple[type, str | int, str], int] = {}
_PARSED_MAX = 4096


def _parse(text: str | int | float, units: dict[str, Fraction], what: str, examples: str,
           maximum: int, unit_name: str) -> int:  # fmt: skip
    if type(text) is str:
        key: tuple[type, str | int, str] = (str, text, what)
    elif type(text) is int:
        key = (int, text, what)
    else:  # floats (1.0 == 1 as a key) and bools (True == 1) are parsed every time
        return _parse_value(text, units, what, examples, maximum, unit_name)
    found = _PARSED.get(key)
    if found is None:
        found = _parse_value(text, units, what, examples, maximum, unit_name)
        if len(_PARSED) >= _PARSED_MAX:
            _PARSED.clear()
        _PARSED[key] = found
    return found


def _parse_value(text: str | int | float, units: dict[str, Fraction], what: str,
                 examples: str, maximum: int, unit_name: str) -> int:  # fmt: skip
    if isinstance(text, bool):
        raise UnitError(f"bad {what} {text!r}: expected a number with a unit, e.g. {examples}")
    if isinstance(text, int):
        if not 0 <= text <= maximum:  # also keeps str() off a huge int
            shown = (
                text if abs(text) < 10**_MAX_DIGITS else f"an integer of {text.bit_length()} bits"
            )
            raise UnitError(f"bad {what} {shown}: out of range; allowed 0..{maximum} {unit_name}")
        text = str(text)
    elif isinstance(text, float):
        text = repr(text)  # nan and inf do not match _NUMBER
    if not isinstance(text, str):
        raise UnitError(f"bad {what} {text!r}: expected a number with a unit, e.g. {examples}")
    match = _NUMBER.match(text)
    if match is None:
        raise UnitError(
            f"bad {what} {_short(text)}: expected a number with a unit, e.g. {examples}"
        )
    mantissa, exponent, unit = match.groups()
    factor = units.get(unit.lower())
    if factor is None:
        allowed = ", ".join(u for u in units if u)
        raise UnitError(f"bad {what} {_short(text)}: unknown unit {unit!r} (allowed: {allowed})")
    out_of_range = UnitError(
        f"bad {what} {_short(text)}: out of range; allowed 0..{maximum} {unit_name}"
    )
    if len(mantissa) > _MAX_DIGITS:
        raise UnitError(f"bad {what} {_short(text)}: more than {_MAX_DIGITS} digits")
    value = Fraction(mantissa)
    if exponent:
        digits = exponent.lstrip("+-").lstrip("0")
        power = 0 if not digits else _MAX_EXPONENT + 1 if len(digits) > 3 else int(digits)
        if exponent.startswith("-"):
            power = -power
        if value and power > _MAX_EXPONENT:
            raise out_of_range
        if power < -_MAX_EXPONENT:
            return 0
        value *= Fraction(10) ** power
    result = round(value * factor)
    if result > maximum:
        raise out_of_range
    return result


def _short(text: str) -> str:
    """``repr`` of the user's text, cut so that a megabyte of digits stays one short line."""
    return repr(text) if len(text) <= 60 else repr(text[:40] + "...") + f" ({len(text)} chars)"


def parse_rate(text: str | int | float) -> int:
    """Parse a tc rate (``"100mbit"``, ``"1gbit"``, ``"125kbps"``) into bits per second.

    At most ``RATE_BITS_MAX`` (a u64 count of bytes per second, as tc's rate64).
    """
    return _parse(text, _RATE_UNITS, "rate", "'100mbit', '1gbit', '10kbps' (bytes/s)",
                  RATE_BITS_MAX, "bit/s")  # fmt: skip


def parse_size(text: str | int | float) -> int:
    """Parse a tc size (``"1514b"``, ``"64kb"``, ``"1m"``) into bytes (at most u32, as tc)."""
    return _parse(text, _SIZE_UNITS, "size", "'1514b', '64kb', '1mb'", SIZE_BYTES_MAX, "bytes")


def parse_time(text: str | int | float) -> int:
    """Parse a tc time (``"10ms"``, ``"1s"``, ``"250us"``; bare = us) into nanoseconds.

    At most ``TIME_NS_MAX`` (the kernel's ktime_t, a signed 64-bit ns count: ~292 years).
    """
    return _parse(text, _TIME_UNITS, "time", "'10ms', '1s', '250us', '500ns'", TIME_NS_MAX, "ns")


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
