"""iproute2's value grammar and printing (tc/tc_util.c, tc/tc_core.c), for qdisc options.

``qdisclab.units`` reads rates, sizes and times loosely for scenario files;
this module reads them exactly as ``tc`` does, so a command line accepted or
refused by iproute2 is accepted or refused here, and prints them as ``tc qdisc
show`` does. Rates are kept in bytes per second (the kernel's unit), sizes in
bytes, tc times in microseconds and tc's 64-bit times in nanoseconds.

>>> get_rate("1.5mbit"), sprint_rate(get_rate("1.5mbit")), sprint_rate(get_rate("10Mibit"))
(187500, '1500Kbit', '10485Kbit')
>>> get_size("10kb"), get_size_and_cell("10kb/8"), sprint_size(102400)
(10240, (10240, 3), '100Kb')
>>> get_time("50ms"), sprint_time(49100), sprint_time64(10_000_000)
(50000, '49.1ms', '10ms')
>>> matches("lat", "latency"), matches("latencyx", "latency")
(True, False)
"""

from __future__ import annotations

import contextlib
import contextvars
import math
import re
from collections.abc import Iterator, Mapping

TIME_UNITS_PER_SEC = 1_000_000  # tc times are microseconds
NSEC_PER_SEC = 1_000_000_000
# /proc/net/psched on a high-resolution kernel: 1000 ns per us, 64 ticks per us
# scaled to 1 GHz; tc_core_init derives tick_in_usec = 1000 / 64 from it.
TICK_IN_USEC = 1000 / 64
PSCHED_SHIFT = 6  # a kernel tick (PSCHED_TICKS2NS) is 64 ns
# tc's get_hz() reads the clock resolution (1e9) from /proc/net/psched, so
# "rate / HZ" in htb's and tbf's burst defaults is 0 for any real rate.
TC_HZ = 1_000_000_000

_RATE_SUFFIXES = {
    "bit": 1, "kibit": 1024, "kbit": 1000, "mibit": 1024**2, "mbit": 1000**2,
    "gibit": 1024**3, "gbit": 1000**3, "tibit": 1024**4, "tbit": 1000**4,
    "bps": 8, "kibps": 8 * 1024, "kbps": 8000, "mibps": 8 * 1024**2, "mbps": 8 * 1000**2,
    "gibps": 8 * 1024**3, "gbps": 8 * 1000**3, "tibps": 8 * 1024**4, "tbps": 8 * 1000**4,
}  # fmt: skip
_SIZE_SUFFIXES = {
    "": 1, "b": 1, "k": 1024, "kb": 1024, "m": 1024**2, "mb": 1024**2, "g": 1024**3,
    "gb": 1024**3, "kbit": 1024 / 8, "mbit": 1024**2 / 8, "gbit": 1024**3 / 8,
}  # fmt: skip
_TIME_SUFFIXES = {
    "": 1, "s": TIME_UNITS_PER_SEC, "sec": TIME_UNITS_PER_SEC, "secs": TIME_UNITS_PER_SEC,
    "ms": 1000, "msec": 1000, "msecs": 1000, "us": 1, "usec": 1, "usecs": 1,
}  # fmt: skip
_TIME64_SUFFIXES = {
    "": 1, "s": NSEC_PER_SEC, "sec": NSEC_PER_SEC, "secs": NSEC_PER_SEC,
    "ms": 1_000_000, "msec": 1_000_000, "msecs": 1_000_000,
    "us": 1000, "usec": 1000, "usecs": 1000, "ns": 1, "nsec": 1, "nsecs": 1,
}  # fmt: skip
# What C's strtod accepts at the front of a word (decimal and hex floats, inf/nan aside).
_STRTOD = re.compile(r"\s*[+-]?(?:0[xX][0-9a-fA-F]+|(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)")
U32_MAX = 0xFFFFFFFF
# Set by the tc front end while it parses a command for a device with a known speed.
_DEVICE_SPEED: contextvars.ContextVar[int | None] = contextvars.ContextVar("speed", default=None)


@contextlib.contextmanager
def speed_of_device(bps: int | None) -> Iterator[None]:
    """Let ``rate N%`` words parsed inside the block refer to a device of ``bps`` bit/s."""
    token = _DEVICE_SPEED.set(bps)
    try:
        yield
    finally:
        _DEVICE_SPEED.reset(token)


class TcValueError(ValueError):
    """A word tc's parser refuses (the caller prints iproute2's message for it)."""


def matches(word: str, keyword: str) -> bool:
    """iproute2's ``matches()``: ``word`` is a non-empty prefix of ``keyword``."""
    return bool(word) and keyword.startswith(word)


def _strtod(text: str) -> tuple[float, str]:
    m = _STRTOD.match(text)
    if m is None:
        raise TcValueError(text)
    number = m.group(0).strip()
    value = float.fromhex(number) if "x" in number.lower() else float(number)
    return value, text[m.end() :]


def _c_uint(value: float) -> int:
    """A C double stored into an unsigned int (x86: truncation modulo 2^32 of the int64)."""
    if math.isnan(value) or math.isinf(value):
        raise TcValueError(str(value))
    return int(value) & U32_MAX


def get_rate(text: str) -> int:
    """``get_rate``: a rate in bytes per second (bare numbers are bits)."""
    value, rest = _strtod(text)
    if rest:
        scale = _RATE_SUFFIXES.get(rest.lower())
        if scale is None:
            raise TcValueError(text)
        value *= scale
    value /= 8
    if value < 0 or value >= 2**32 or int(value) != math.floor(value):
        raise TcValueError(text)
    return int(value)


def get_rate64(text: str) -> int:
    """``get_rate64``: as ``get_rate`` without the 32-bit limit."""
    value, rest = _strtod(text)
    if rest:
        scale = _RATE_SUFFIXES.get(rest.lower())
        if scale is None:
            raise TcValueError(text)
        value *= scale
    if value < 0:
        raise TcValueError(text)
    return int(value / 8)


def device_speed() -> int | None:
    """The speed (bit/s) of the device the command being parsed names, for ``rate 10%``."""
    return _DEVICE_SPEED.get()


def get_percent_rate(text: str, dev_bps: int | None) -> int:
    """``get_percent_rate``: ``"10%"`` of the device speed, in bytes per second."""
    if dev_bps is None:
        raise TcValueError("Cannot get device speed")
    body = text[:-1] if text.endswith("%") else text
    try:
        perc = float(body) / 100.0
    except ValueError:
        raise TcValueError("Specified rate value could not be read or is malformed") from None
    if not 0.0 <= perc <= 1.0:
        raise TcValueError(f"Invalid rate specified; should be between [0,100]% but is {text}")
    return int(perc * dev_bps / 8)


def get_any_rate(text: str, wide: bool = True) -> int:
    """A rate word as tc's qdiscs read it: a percentage of the device speed, or ``get_rate``."""
    if "%" in text:
        return get_percent_rate(text, device_speed())
    return get_rate64(text) if wide else get_rate(text)


def get_size(text: str) -> int:
    """``get_size``: bytes (``k``/``kb`` are 1024, ``kbit`` is 128, bare is bytes)."""
    value, rest = _strtod(text)
    scale = _SIZE_SUFFIXES.get(rest.lower())
    if scale is None or value < 0 or value * scale > U32_MAX:
        raise TcValueError(text)
    return int(value * scale)


def get_size_and_cell(text: str) -> tuple[int, int | None]:
    """``get_size_and_cell``: ``"10kb/8"`` -> (10240, cell_log 3)."""
    size_text, slash, cell_text = text.partition("/")
    size = get_size(size_text)
    if not slash:
        return size, None
    cell = get_integer(cell_text)
    for log in range(32):
        if 1 << log == cell:
            return size, log
    raise TcValueError(text)


def _scaled(text: str, suffixes: Mapping[str, float]) -> float:
    value, rest = _strtod(text)
    scale = suffixes.get(rest.lower())
    if scale is None:
        raise TcValueError(text)
    return value * scale


def get_time(text: str) -> int:
    """``get_time``: microseconds (a bare number is microseconds; no ``ns``)."""
    return _c_uint(_scaled(text, _TIME_SUFFIXES))


def get_time64(text: str) -> int:
    """``get_time64``: nanoseconds (a bare number is nanoseconds here)."""
    return int(_scaled(text, _TIME64_SUFFIXES))


def get_unsigned(text: str) -> int:
    """``get_unsigned``/``get_u32`` with base 0: decimal, ``0x`` hex or octal, 32 bits."""
    text = text.strip()
    if not re.fullmatch(r"[0-9]+|0[xX][0-9a-fA-F]+", text):
        raise TcValueError(text)
    value = int(text, 16) if text[:2].lower() == "0x" else int(text, 8 if text[0] == "0" else 10)
    if value > U32_MAX:
        raise TcValueError(text)
    return value


def get_u16(text: str) -> int:
    """``get_u16`` (base 10)."""
    value = get_unsigned(text)
    if value > 0xFFFF:
        raise TcValueError(text)
    return value


def get_linklayer(text: str) -> int:
    """``get_linklayer``: ``ethernet`` 1, ``atm``/``adsl`` 2 (prefixes allowed)."""
    if matches(text, "ethernet"):
        return 1
    if matches(text, "atm") or matches(text, "adsl"):
        return 2
    raise TcValueError(text)


def get_integer(text: str) -> int:
    """``get_integer`` with base 0: a signed int."""
    text = text.strip()
    if not re.fullmatch(r"[+-]?(?:[0-9]+|0[xX][0-9a-fA-F]+)", text):
        raise TcValueError(text)
    value = int(text, 0) if not re.fullmatch(r"[+-]?0[0-7]+", text) else int(text, 8)
    if not -(2**31) <= value < 2**31:
        raise TcValueError(text)
    return value


# -- printing -----------------------------------------------------------------------
def sprint_rate(rate_bytes: int) -> str:
    """``print_rate``: bytes/s as tc prints bits (``1500Kbit``, ``524288bit``)."""
    rate = rate_bytes * 8
    units = ("", "K", "M", "G", "T")
    i = 0
    while i < len(units) - 1:
        if rate < 1000 or (rate % 1000 and rate < 1000 * 1000):
            break
        rate //= 1000
        i += 1
    return f"{rate}{units[i]}bit"


def sprint_size(size: int) -> str:
    """``print_size``: ``100Kb``, ``32Mb``, ``1514b``."""
    if size >= 1024 * 1024 and abs(1024 * 1024 * round(size / (1024 * 1024)) - size) < 1024:
        return f"{_g(round(size / (1024 * 1024)))}Mb"
    if size >= 1024 and abs(1024 * round(size / 1024) - size) < 16:
        return f"{_g(round(size / 1024))}Kb"
    return f"{size}b"


def sprint_time(usec: float) -> str:
    """``print_time`` of a tc time in microseconds: ``50ms``, ``49.1ms``, ``10us``."""
    if usec >= TIME_UNITS_PER_SEC:
        return f"{usec / TIME_UNITS_PER_SEC:.3g}s"
    if usec >= 1000:
        return f"{usec / 1000:.3g}ms"
    return f"{int(usec) & U32_MAX}us"


def sprint_time64(nsec: int) -> str:
    """``print_time64`` of nanoseconds: ``10ms``, ``1.5us``, ``300ns``."""
    if nsec >= NSEC_PER_SEC:
        return f"{nsec / NSEC_PER_SEC:.3g}s"
    if nsec >= 1_000_000:
        return f"{nsec / 1_000_000:.3g}ms"
    if nsec >= 1000:
        return f"{nsec / 1000:.3g}us"
    return f"{nsec}ns"


def _g(value: float) -> str:
    return f"{value:g}"


# -- tc_core: ticks and transmission times ---------------------------------------------
def time2tick(usec: float) -> int:
    """``tc_core_time2tick``: microseconds to psched ticks.

    iproute2 6.1 takes the time as an ``unsigned int``, so whole microseconds
    are scaled (1600 bytes at 6 Mbit/s: 2133 us, 33328 ticks, not 33333):

    >>> time2tick(2133.33)
    33328
    """
    return int(int(usec) * TICK_IN_USEC)


def tick2time(ticks: int) -> int:
    """``tc_core_tick2time``: psched ticks to whole microseconds (an ``unsigned int``)."""
    return int(ticks / TICK_IN_USEC)


def calc_xmittime(rate_bytes: int, size: int) -> int:
    """``tc_calc_xmittime``: ticks to send ``size`` bytes at ``rate_bytes`` per second."""
    return time2tick(TIME_UNITS_PER_SEC * (size / rate_bytes))


def calc_xmitsize(rate_bytes: int, ticks: int) -> int:
    """``tc_calc_xmitsize``: the bytes ``ticks`` of time carry at ``rate_bytes``."""
    return int(rate_bytes * tick2time(ticks) / TIME_UNITS_PER_SEC)


def ticks_to_ns(ticks: int) -> int:
    """``PSCHED_TICKS2NS``."""
    return ticks << PSCHED_SHIFT


def ns_to_ticks(ns: int) -> int:
    """``PSCHED_NS2TICKS``."""
    return ns >> PSCHED_SHIFT
