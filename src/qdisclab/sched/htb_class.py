"""HTB classes: tc-like class definitions and the per-class token buckets (sch_htb.c).

A class is configured like ``tc class add ... htb``: ``rate`` (required),
``ceil`` (default = rate), ``burst``/``cburst`` (bytes; tc's defaults
``rate_bytes/HZ + mtu`` with HZ = 1000 and tc's htb mtu of 1600 bytes),
``prio`` (0..7, default 0), ``quantum`` (default ``rate_bytes / r2q``
clamped to 1000..200000, as the kernel does) and ``leaf`` (the leaf qdisc,
default pfifo). In a qdisc spec string each class starts with
``class MAJ:MIN`` and takes the options that follow it::

    htb default 20 class 1:1 rate 100mbit class 1:10 parent 1:1 rate 30mbit ceil 100mbit
        class 1:20 parent 1:1 rate 70mbit ceil 100mbit leaf "pfifo limit 50"

Class ids are hex minors as in tc; their major names "this qdisc" (the
qdisc's real handle may be an automatic ``8001:``), so only the minor is kept.
From Python, pass ``HtbClassSpec`` objects in ``opt["classes"]``.

Token buckets hold nanoseconds of transmission time, as the kernel's:
``tokens`` for ``rate`` (at most ``buffer``), ``ctokens`` for ``ceil`` (at
most ``cbuffer``). A class's mode: ``HTB_CANT_SEND`` when ctokens < 0,
``HTB_CAN_SEND`` when tokens >= 0, otherwise ``HTB_MAY_BORROW`` (the
kernel's default, hysteresis off).

>>> opt = parse_htb_options(["default", "10", "class", "1:10", "rate", "8mbit"])
>>> opt["default"], opt["classes"][0].minor, opt["classes"][0].rate
(16, 16, 8000000)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from qdisclab.errors import UserError
from qdisclab.sched.handle import parse_handle
from qdisclab.units import parse_rate, parse_size

HZ = 1000  # tc's get_hz() on a modern kernel; used only for the burst defaults
TC_HTB_DEFAULT_MTU = 1600  # tc htb's default "mtu" when computing burst defaults
TC_HTB_NUMPRIO = 8
TC_HTB_MAXDEPTH = 8
HTB_CANT_SEND = 0
HTB_MAY_BORROW = 1
HTB_CAN_SEND = 2
MODE_NAMES = {HTB_CANT_SEND: "cant_send", HTB_MAY_BORROW: "may_borrow", HTB_CAN_SEND: "can_send"}
NSEC_PER_SEC = 1_000_000_000
MBUFFER = 60 * NSEC_PER_SEC  # cl->mbuffer: the longest idle time credited
QUANTUM_MIN, QUANTUM_MAX = 1000, 200000


def _classid(text: str | int, what: str) -> int:
    """A class id as its minor: ``"1:10"`` -> 0x10, ``16`` -> 16."""
    if isinstance(text, int):
        return text & 0xFFFF
    if ":" not in text:
        raise UserError(f"qdisc htb: {what} {text!r} is not a class id such as '1:10'")
    return parse_handle(text) & 0xFFFF


@dataclass
class HtbClassSpec:
    """One HTB class (``tc class add ... classid C [parent P] htb rate R ...``).

    >>> spec = HtbClassSpec("1:10", rate="30mbit", parent="1:1", prio=1)
    >>> spec.minor, spec.parent_minor, spec.ceil, spec.burst
    (16, 1, 30000000, 5350)
    """

    classid: str | int
    rate: str | int
    ceil: str | int | None = None
    parent: str | int | None = None
    burst: str | int | None = None
    cburst: str | int | None = None
    prio: int = 0
    quantum: int | None = None
    leaf: str = "pfifo"

    def __post_init__(self) -> None:
        self.minor = _classid(self.classid, "class")
        self.parent_minor = 0 if self.parent is None else _classid(self.parent, "parent")
        if self.minor == 0:
            raise UserError(f"qdisc htb: class {self.classid!r}: minor 0 is the qdisc itself")
        self.rate = parse_rate(self.rate) if isinstance(self.rate, str) else int(self.rate)
        if self.rate <= 0:
            raise UserError(f"qdisc htb: class {self.classid}: rate must be positive")
        if self.ceil is None:
            self.ceil = self.rate
        elif isinstance(self.ceil, str):
            self.ceil = parse_rate(self.ceil)
        if self.ceil <= 0:
            raise UserError(f"qdisc htb: class {self.classid}: ceil must be positive")
        # tc: buffer = rate/HZ + mtu (bytes), likewise cbuffer from ceil.
        self.burst = _size(self.burst, self.rate // 8 // HZ + TC_HTB_DEFAULT_MTU)
        self.cburst = _size(self.cburst, self.ceil // 8 // HZ + TC_HTB_DEFAULT_MTU)
        # htb_change_class: prio >= TC_HTB_NUMPRIO is clamped to the lowest priority.
        self.prio = min(max(int(self.prio), 0), TC_HTB_NUMPRIO - 1)

    def describe(self) -> str:
        parent = f"parent 1:{self.parent_minor:x} " if self.parent_minor else ""
        return f"class 1:{self.minor:x} {parent}rate {self.rate}bit ceil {self.ceil}bit"


def _size(value: str | int | None, default: int) -> int:
    if value is None:
        return default
    return parse_size(value) if isinstance(value, str) else int(value)


_CLASS_KEYS = ("parent", "rate", "ceil", "burst", "cburst", "prio", "quantum", "leaf")
_QDISC_KEYS = ("default", "r2q", "direct_qlen")


def parse_htb_options(tokens: list[str]) -> dict[str, Any]:
    """``default MIN r2q N direct_qlen N class ID k v ... class ID k v ...`` -> opt dict."""
    opt: dict[str, Any] = {"default": 0, "r2q": 10, "classes": []}
    current: dict[str, Any] | None = None
    pending: list[dict[str, Any]] = []
    i = 0
    while i < len(tokens):
        word = tokens[i]
        if i + 1 >= len(tokens):
            raise UserError(f"qdisc htb: option '{word}' needs a value")
        value = tokens[i + 1]
        i += 2
        if word == "class":
            current = {"classid": value}
            pending.append(current)
        elif current is None and word in _QDISC_KEYS:
            try:
                opt[word] = int(value, 16) if word == "default" else int(value, 0)
            except ValueError:
                raise UserError(f"qdisc htb: bad value {value!r} for '{word}'") from None
        elif current is not None and word in _CLASS_KEYS:
            if word in ("prio", "quantum"):
                try:
                    current[word] = int(value, 0)
                except ValueError:
                    raise UserError(f"qdisc htb: bad value {value!r} for '{word}'") from None
            else:
                current[word] = value
        else:
            allowed = ", ".join(_CLASS_KEYS if current is not None else (*_QDISC_KEYS, "class"))
            where = f"class {current['classid']}" if current is not None else "qdisc"
            raise UserError(f"qdisc htb: unknown {where} option '{word}' (allowed: {allowed})")
    for fields in pending:
        if "rate" not in fields:
            raise UserError(f"qdisc htb: class {fields['classid']} needs a 'rate'")
        opt["classes"].append(HtbClassSpec(**fields))
    return opt


class HtbClass:
    """Run-time state of one class: buckets, mode, DRR deficits, leaf qdisc, stats."""

    __slots__ = (
        "borrows",
        "buffer",
        "cbuffer",
        "ceil",
        "children",
        "classid",
        "cmode",
        "ctokens",
        "deficit",
        "drops",
        "leaf",
        "lends",
        "level",
        "minor",
        "overlimits",
        "parent",
        "pq_key",
        "prio",
        "quantum",
        "rate",
        "spec",
        "t_c",
        "tokens",
    )

    def __init__(self, spec: HtbClassSpec, classid: int, parent: HtbClass | None, r2q: int) -> None:
        self.spec = spec
        self.minor = spec.minor
        self.classid = classid
        self.parent = parent
        self.children: list[HtbClass] = []
        self.level = 0
        self.rate = spec.rate
        self.ceil = spec.ceil
        self.buffer = l2t(self.rate, spec.burst)
        self.cbuffer = l2t(self.ceil, spec.cburst)
        self.tokens = self.buffer
        self.ctokens = self.cbuffer
        self.t_c = 0
        self.cmode = HTB_CAN_SEND
        self.prio = spec.prio
        if spec.quantum is not None:
            self.quantum = spec.quantum
        else:
            self.quantum = min(max(self.rate // 8 // max(r2q, 1), QUANTUM_MIN), QUANTUM_MAX)
        self.deficit = [0] * TC_HTB_MAXDEPTH
        self.leaf: Any = None
        self.pq_key: int | None = None  # when in the wait queue: the time the mode changes
        self.overlimits = 0
        self.lends = 0
        self.borrows = 0
        self.drops = 0

    def mode(self, diff: int) -> tuple[int, int]:
        """``htb_class_mode``: the mode after ``diff`` ns more, and the ns until it improves."""
        toks = self.ctokens + diff
        if toks < 0:
            return HTB_CANT_SEND, -toks
        toks = self.tokens + diff
        if toks >= 0:
            return HTB_CAN_SEND, diff
        return HTB_MAY_BORROW, -toks

    def accnt_tokens(self, nbytes: int, diff: int) -> None:
        """``htb_accnt_tokens``: refill by ``diff`` (capped at buffer), pay for ``nbytes``."""
        toks = diff + self.tokens
        if toks > self.buffer:
            toks = self.buffer
        toks -= nbytes * 8_000_000_000 // self.rate
        if toks <= -MBUFFER:
            toks = 1 - MBUFFER
        self.tokens = toks

    def accnt_ctokens(self, nbytes: int, diff: int) -> None:
        """``htb_accnt_ctokens``: the same for the ceil bucket."""
        toks = diff + self.ctokens
        if toks > self.cbuffer:
            toks = self.cbuffer
        toks -= nbytes * 8_000_000_000 // self.ceil
        if toks <= -MBUFFER:
            toks = 1 - MBUFFER
        self.ctokens = toks

    def __repr__(self) -> str:
        return f"<HtbClass {self.classid >> 16:x}:{self.minor:x} {MODE_NAMES[self.cmode]}>"


def l2t(rate_bps: int, nbytes: int) -> int:
    """``psched_l2t_ns``: ns to send ``nbytes`` at ``rate_bps``."""
    return nbytes * 8_000_000_000 // rate_bps
