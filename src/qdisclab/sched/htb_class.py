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
from typing import Any, cast

from qdisclab.errors import UserError
from qdisclab.sched.handle import parse_handle
from qdisclab.sched.options import INCOMPLETE, Args, TcParseError, read
from qdisclab.sched.ratecfg import LINKLAYER_ETHERNET, RateCfg
from qdisclab.sched.tcutil import (
    TC_HZ,
    calc_xmittime,
    get_any_rate,
    get_linklayer,
    get_size_and_cell,
    get_u16,
    get_unsigned,
    matches,
    ticks_to_ns,
)
from qdisclab.units import parse_rate, parse_size

HZ = TC_HZ  # tc's get_hz(): 1e9 on a high-resolution kernel, so rate/HZ adds nothing
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
    (16, 1, 30000000, 1600)
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
    overhead: int = 0
    mpu: int = 0
    linklayer: int = LINKLAYER_ETHERNET

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
        # What tc sends: the buckets in psched ticks (shown back after the tick rounding).
        self.buffer_ticks = calc_xmittime(self.rate // 8, self.burst)
        self.cbuffer_ticks = calc_xmittime(self.ceil // 8, self.cburst)
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


HTB_USAGE = (
    "Usage: ... qdisc add ... htb [default N] [r2q N]\n"
    "                      [direct_qlen P] [offload]"
)


def _hex(text: str) -> int:
    try:
        value = int(text, 16)
    except ValueError:
        raise TcParseError('Illegal "default"') from None
    if not 0 <= value <= 0xFFFFFFFF:
        raise TcParseError('Illegal "default"')
    return value


def parse_htb_options(tokens: list[str]) -> dict[str, Any]:
    """``htb_parse_opt`` (``default`` in hex, prefixes allowed), then qdisclab's inline classes.

    ``class ID [parent ID] rate R ...`` after the qdisc's own words defines a
    class with ``tc class add``'s words (plus ``leaf "SPEC"`` for its qdisc).
    """
    opt: dict[str, Any] = {"default": 0, "r2q": 10, "classes": []}
    args = Args(tokens, "htb")
    while args and args.peek() != "class":
        word = args.word()
        if matches(word, "r2q"):
            opt["r2q"] = read(args, "r2q", get_unsigned)
        elif matches(word, "default"):
            opt["default"] = _hex(args.value())
        elif matches(word, "debug"):
            read(args, "debug", get_unsigned)
        elif matches(word, "direct_qlen"):
            opt["direct_qlen"] = read(args, "direct_qlen", get_unsigned)
        elif matches(word, "offload"):
            raise TcParseError("htb: offload needs a device that offloads htb")
        else:
            raise args.unknown(HTB_USAGE)
    rest = tokens[args.i :]
    while rest:
        if len(rest) < 2:
            raise TcParseError(INCOMPLETE, 255)
        classid = rest[1]
        end = next((k for k in range(2, len(rest)) if rest[k] == "class"), len(rest))
        words, rest = rest[2:end], rest[end:]
        leaf = "pfifo"
        parent = 0
        if "parent" in words:
            at = _valued(words, "parent")
            parent = _classid(words[at + 1], "parent")
            words = words[:at] + words[at + 2 :]
        if "leaf" in words:
            at = _valued(words, "leaf")
            leaf = words[at + 1]
            words = words[:at] + words[at + 2 :]
        spec = parse_htb_class(words, _classid(classid, "class"), parent)
        spec.leaf = leaf
        opt["classes"].append(spec)
    return opt


def _valued(words: list[str], key: str) -> int:
    """Where ``key`` is in ``words``; tc's "Command line is not complete." when no value follows."""
    at = words.index(key)
    if at + 1 >= len(words):
        raise TcParseError(INCOMPLETE, 255)
    return at


class HtbClass:
    """Run-time state of one class: buckets, mode, DRR deficits, leaf qdisc, stats."""

    __slots__ = (
        "borrows",
        "buffer",
        "cbuffer",
        "ccfg",
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
        "rcfg",
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
        self.configure(spec, r2q)
        self.tokens = self.buffer
        self.ctokens = self.cbuffer
        self.t_c = 0
        self.cmode = HTB_CAN_SEND
        self.deficit = [0] * TC_HTB_MAXDEPTH
        self.leaf: Any = None
        self.pq_key: int | None = None  # when in the wait queue: the time the mode changes
        self.overlimits = 0
        self.lends = 0
        self.borrows = 0
        self.drops = 0

    def configure(self, spec: HtbClassSpec, r2q: int) -> str:
        """Take ``spec``'s rates, buckets, prio and quantum; returns the kernel's warning, if any."""
        self.spec = spec
        # __post_init__ resolved both to bit/s (a tc rate string becomes an int)
        self.rate = cast(int, spec.rate)
        self.ceil = cast(int, spec.ceil)
        shape = {"overhead": spec.overhead, "mpu": spec.mpu, "linklayer": spec.linklayer}
        self.rcfg = RateCfg(self.rate // 8, **shape)
        self.ccfg = RateCfg(self.ceil // 8, **shape)
        self.buffer = ticks_to_ns(spec.buffer_ticks)
        self.cbuffer = ticks_to_ns(spec.cbuffer_ticks)
        self.prio = spec.prio
        warning = ""
        if spec.quantum:
            self.quantum = spec.quantum
        else:
            self.quantum = self.rate // 8 // max(r2q, 1)
            if self.quantum < QUANTUM_MIN:
                warning, self.quantum = "small", QUANTUM_MIN
            elif self.quantum > QUANTUM_MAX:
                warning, self.quantum = "big", QUANTUM_MAX
        if warning:
            return f"quantum of class {self.classid:X} is {warning}. Consider r2q change."
        return ""

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
        toks -= self.rcfg.l2t_ns(nbytes)
        if toks <= -MBUFFER:
            toks = 1 - MBUFFER
        self.tokens = toks

    def accnt_ctokens(self, nbytes: int, diff: int) -> None:
        """``htb_accnt_ctokens``: the same for the ceil bucket."""
        toks = diff + self.ctokens
        if toks > self.cbuffer:
            toks = self.cbuffer
        toks -= self.ccfg.l2t_ns(nbytes)
        if toks <= -MBUFFER:
            toks = 1 - MBUFFER
        self.ctokens = toks

    def __repr__(self) -> str:
        return f"<HtbClass {self.classid >> 16:x}:{self.minor:x} {MODE_NAMES[self.cmode]}>"


HTB_CLASS_USAGE = (
    "... class add ... htb rate R1 [burst B1] [mpu B] [overhead O]\n"
    "                      [prio P] [slot S] [pslot PS]\n"
    "                      [ceil R2] [cburst B2] [mtu MTU] [quantum Q]"
)


def parse_htb_class(words: list[str], classid: int, parentid: int) -> HtbClassSpec:
    """``htb_parse_class_opt``: a class's words as tc reads them (``tc class add ... htb ...``)."""
    args = Args(words, "htb")
    fields: dict[str, Any] = {}
    mtu = TC_HTB_DEFAULT_MTU
    while args:
        word = args.word()
        if matches(word, "prio"):
            fields["prio"] = read(args, "prio", get_unsigned)
        elif matches(word, "mtu"):
            mtu = read(args, "mtu", get_unsigned)
        elif matches(word, "mpu"):
            fields["mpu"] = read(args, "mpu", get_u16)
        elif matches(word, "overhead"):
            fields["overhead"] = read(args, "overhead", get_u16)
        elif matches(word, "linklayer"):
            fields["linklayer"] = read(args, "linklayer", get_linklayer)
        elif matches(word, "quantum"):
            fields["quantum"] = read(args, "quantum", get_unsigned)
        elif matches(word, "burst") or word in ("buffer", "maxburst"):
            fields["burst"] = read(args, "buffer", get_size_and_cell)[0]
        elif matches(word, "cburst") or word in ("cbuffer", "cmaxburst"):
            fields["cburst"] = read(args, "cbuffer", get_size_and_cell)[0]
        elif word in ("ceil", "rate"):
            if word in fields:
                raise TcParseError(f'Double "{word}" spec')
            fields[word] = read(args, word, get_any_rate) * 8
        elif word == "help":
            raise TcParseError(HTB_CLASS_USAGE)
        else:
            raise args.unknown(HTB_CLASS_USAGE)
    if not fields.get("rate"):
        raise TcParseError('"rate" is required.')
    rate, ceil = fields["rate"], fields.get("ceil") or fields["rate"]
    fields.setdefault("burst", rate // 8 // HZ + mtu)
    fields.setdefault("cburst", ceil // 8 // HZ + mtu)
    fields["ceil"] = ceil
    parent = None if parentid & 0xFFFF == 0 or parentid == 0xFFFFFFFF else parentid & 0xFFFF
    return HtbClassSpec(classid & 0xFFFF, parent=parent, **fields)
