"""tbf: token bucket filter (net/sched/sch_tbf.c, tc/q_tbf.c).

``tbf rate R burst B[/CELL] (limit L | latency T) [peakrate P mtu M] [overhead N]
[mpu M] [linklayer ethernet|atm]``, read as tc reads it (``lat`` for latency,
``buffer``/``maxburst`` for burst, ``minburst`` for mtu, ``rate 10%`` of the
device). The bucket is tc's tick count, so ``burst 1600`` at 512Kibit shows
as ``1599b`` as it does on Linux; a packet's cost is the kernel's
``psched_l2t_ns`` after the size table's ``overhead``/``mpu``/ATM cells.

Tokens are kept as the kernel keeps them, in nanoseconds of transmission
time: the bucket ``buffer`` is the time ``burst`` bytes take at ``rate``; a
packet of ``len`` bytes costs ``len`` at ``rate`` (and, with a peak rate,
``len`` at ``peakrate`` from a second bucket of ``mtu`` bytes). Packets wait
in a child qdisc, by default ``bfifo limit L``; dequeue peeks the child, takes
the packet only when both buckets allow it, otherwise counts an overlimit and
arms the watchdog for when they will. Packets larger than the bucket can
never pass; they are dropped at enqueue (the kernel segments GSO packets
first; qdisclab packets are never GSO).

>>> TBF.parse_options("rate 1mbit burst 10kb latency 50ms".split())["limit"]
16490
>>> render_tbf(TBF.parse_options("rate 10mbit burst 10kb lat 50ms".split()))
'rate 10Mbit burst 10Kb lat 50ms '
"""

from __future__ import annotations

import errno
from typing import TYPE_CHECKING, Any, ClassVar

from mypy_extensions import mypyc_attr

from qdisclab.errors import UserError
from qdisclab.sched.ops import QdiscOps
from qdisclab.sched.options import Args, KernelRefusal, TcParseError
from qdisclab.sched.ratecfg import LINKLAYER_ETHERNET, LINKLAYER_NAMES, RateCfg
from qdisclab.sched.registry import register_qdisc
from qdisclab.sched.tcutil import (
    TIME_UNITS_PER_SEC,
    TcValueError,
    calc_xmitsize,
    calc_xmittime,
    get_any_rate,
    get_linklayer,
    get_size,
    get_size_and_cell,
    get_time,
    get_u16,
    matches,
    ns_to_ticks,
    sprint_rate,
    sprint_size,
    sprint_time,
    tick2time,
    ticks_to_ns,
)

if TYPE_CHECKING:
    from qdisclab.sched.context import QdiscContext
    from qdisclab.sched.ops import ToFree
    from qdisclab.skb import SkBuff

NSEC_PER_SEC = 1_000_000_000
DROP_TBF_OVERSIZE = "tbf_oversize"  # larger than the bucket: could never be sent
TBF_USAGE = (
    "Usage: ... tbf limit BYTES burst BYTES[/BYTES] rate KBPS [ mtu BYTES[/BYTES] ]\n"
    "\t[ peakrate KBPS ] [ latency TIME ] [ overhead BYTES ] [ linklayer TYPE ]"
)


def _once(opt: dict[str, Any], key: str, what: str) -> None:
    if opt.get(key):
        raise TcParseError(f'tbf: duplicate "{what}" specification')


def parse_tbf(tokens: list[str]) -> dict[str, Any]:
    """``tbf_parse_opt``: tc's words, checks and derived kernel parameters.

    The result holds what tc sends: ``rate``/``peakrate`` (bit/s), ``limit``
    (bytes, from ``latency`` if given), the bucket ``buffer``/``mtu_ticks`` in
    psched ticks (so sizes print back after the kernel's tick rounding), and
    the size-table adjustments ``overhead``, ``mpu``, ``linklayer``.
    """
    args = Args(tokens, "tbf")
    o: dict[str, Any] = {}
    while args:
        word = args.word()
        if matches(word, "limit"):
            value = args.value()
            _once(o, "limit", "limit")
            if "latency" in o:
                raise TcParseError('tbf: specifying both "latency" and "limit" is not allowed')
            o["limit"] = _get(get_size, value, "limit")
        elif matches(word, "latency"):
            value = args.value()
            _once(o, "latency", "latency/lat")
            if "limit" in o:
                raise TcParseError('tbf: specifying both "limit" and "/latency/lat" is not allowed')
            o["latency"] = _get(get_time, value, "latency")
        elif matches(word, "burst") or word in ("buffer", "maxburst"):
            value = args.value()
            _once(o, "burst", "buffer/burst/maxburst")
            o["burst"], _cell = _get(get_size_and_cell, value, word)
        elif word in ("mtu", "minburst"):
            value = args.value()
            _once(o, "mtu", "mtu/minburst")
            o["mtu"], _cell = _get(get_size_and_cell, value, word)
        elif word == "mpu":
            value = args.value()
            _once(o, "mpu", "mpu")
            o["mpu"] = _get(get_size, value, "mpu")
        elif word == "rate":
            value = args.value()
            _once(o, "rate", "rate")
            o["rate"] = _get(get_any_rate, value, "rate") * 8
        elif matches(word, "peakrate"):
            value = args.value()
            _once(o, "peakrate", "peakrate")
            o["peakrate"] = _get(get_any_rate, value, "peakrate") * 8
        elif matches(word, "overhead"):
            value = args.value()
            _once(o, "overhead", "overhead")
            o["overhead"] = _get(get_u16, value, "overhead")
        elif matches(word, "linklayer"):
            o["linklayer"] = _get(get_linklayer, args.value(), "linklayer")
        elif word == "help":
            raise TcParseError(TBF_USAGE)
        else:
            raise TcParseError(f'tbf: unknown parameter "{word}"\n{TBF_USAGE}')
    problems = []
    if not o.get("rate"):
        problems.append('tbf: the "rate" parameter is mandatory.')
    if not o.get("burst"):
        problems.append('tbf: the "burst" parameter is mandatory.')
    if o.get("peakrate") and not o.get("mtu"):
        problems.append('tbf: when "peakrate" is specified, "mtu" must also be specified.')
    if not o.get("limit") and not o.get("latency"):
        problems.append('tbf: either "limit" or "latency" is required.')
    if problems:
        raise TcParseError("\n".join([*problems, TBF_USAGE]))
    rate, burst = o["rate"] // 8, o["burst"]
    peak = o.get("peakrate", 0) // 8
    linklayer = o.setdefault("linklayer", LINKLAYER_ETHERNET)
    latency = o.pop("latency", None)
    if not o.get("limit"):
        limit = rate * latency / TIME_UNITS_PER_SEC + burst
        if peak:
            limit = min(limit, peak * latency / TIME_UNITS_PER_SEC + o["mtu"])
        o["limit"] = int(limit)
    # tc sends the burst in bytes (TCA_TBF_BURST, TCA_TBF_PBURST); sch_tbf turns it into
    # time at the rate with its size adjustments (psched_l2t_ns: "burst 1500 overhead 300"
    # shows 1800b) and dumps that time in ticks, which tc prints back as bytes.
    o["buffer"] = tbf_bucket_ticks(rate, burst, o, linklayer)
    if peak:
        o["mtu_ticks"] = tbf_bucket_ticks(peak, o["mtu"], o, linklayer)
    o.setdefault("overhead", 0)
    o.setdefault("mpu", 0)
    return o


def _get(getter: Any, value: str, name: str) -> Any:
    try:
        return getter(value)
    except TcValueError:
        raise TcParseError(f'Illegal "{name}"') from None


def tbf_bucket_ticks(rate: int, size: int, o: dict[str, Any], linklayer: int) -> int:
    """The bucket sch_tbf keeps for ``size`` bytes at ``rate`` bytes/s, in psched ticks."""
    cfg = RateCfg(rate, o.get("overhead", 0), o.get("mpu", 0), linklayer)
    return ns_to_ticks(cfg.l2t_ns(size))


def render_tbf(opt: dict[str, Any], details: bool = False) -> str:
    """``tbf_print_opt``: ``rate 10Mbit burst 10Kb lat 50ms `` (trailing space as tc)."""
    rate = opt["rate"] // 8
    buffer = opt.get("buffer", calc_xmittime(rate, opt["burst"]))
    text = f"rate {sprint_rate(rate)} burst {sprint_size(calc_xmitsize(rate, buffer))}"
    if details:
        text += f"/1 mpu {sprint_size(opt.get('mpu', 0))}"
    peak = opt.get("peakrate", 0) // 8
    latency = TIME_UNITS_PER_SEC * (opt["limit"] / rate) - tick2time(buffer)
    if peak:
        mtu_ticks = opt.get("mtu_ticks", calc_xmittime(peak, opt["mtu"]))
        text += (
            f" peakrate {sprint_rate(peak)} minburst {sprint_size(calc_xmitsize(peak, mtu_ticks))}"
        )
        if details:
            text += f"/1 mpu {sprint_size(opt.get('mpu', 0))}"
        latency = max(latency, TIME_UNITS_PER_SEC * (opt["limit"] / peak) - tick2time(mtu_ticks))
    if latency >= 0.0:
        text += f" lat {sprint_time(latency)}"
    if latency < 0.0:
        text += f" limit {sprint_size(opt['limit'])}"
    if opt.get("overhead"):
        text += f" overhead {opt['overhead']}"
    linklayer = opt.get("linklayer", LINKLAYER_ETHERNET)
    if linklayer != LINKLAYER_ETHERNET or details:
        text += f" linklayer {LINKLAYER_NAMES[linklayer]}"
    return text + " "


@mypyc_attr(allow_interpreted_subclasses=True)  # a kind may be extended
class TBF(QdiscOps):
    """``tbf rate R burst B (limit L | latency T) [peakrate P mtu M] [overhead N] [mpu M] [linklayer L]``."""

    id = "tbf"

    @classmethod
    def parse_options(cls, tokens: list[str]) -> dict[str, Any]:
        return parse_tbf(tokens)

    @classmethod
    def render_options(cls, opt: dict[str, Any]) -> str:
        return render_tbf(opt) if "rate" in opt else ""

    @classmethod
    def render_details(cls, opt: dict[str, Any]) -> str:
        return render_tbf(opt, details=True) if "rate" in opt else ""

    @staticmethod
    def tc_find_class(minor: int) -> int:
        return 1  # tbf_find: every class id names the one inner qdisc

    #: The child whose fifo follows this qdisc's limit on a change (``fifo_set_limit``).
    tc_inner_fifo: ClassVar[int] = 1

    def init(self, sch: QdiscContext, opt: dict[str, Any]) -> None:
        self.tc_change(sch, opt)
        self.t_c = sch.now
        sch.create_child(1, f"bfifo limit {sch.limit}")
        # Looked up per packet: `tc qdisc add ... parent X:1` may graft another child.
        self.classid = sch.handle | 1

    def tc_change(self, sch: QdiscContext, opt: dict[str, Any]) -> None:
        """``tbf_change``: new buckets (refilled), the inner fifo's queue kept at the new limit."""
        rate = opt.get("rate")
        burst = opt.get("burst")
        if not rate or not burst or opt.get("limit") is None:
            raise UserError("qdisc tbf: rate, burst and limit (or latency) are required")
        self.rate = rate
        shape = {k: opt.get(k, 0) for k in ("overhead", "mpu")}
        linklayer = opt.get("linklayer", LINKLAYER_ETHERNET)
        self.rcfg = RateCfg(rate // 8, linklayer=linklayer, **shape)
        # The bucket the kernel keeps: tc's ticks, in ns (PSCHED_TICKS2NS).
        self.buffer = ticks_to_ns(opt.get("buffer") or calc_xmittime(rate // 8, burst))
        self.peak = opt.get("peakrate") or 0
        self.mtu = 0
        self.pcfg: RateCfg | None = None
        if self.peak:
            if self.peak <= rate:
                raise KernelRefusal(
                    errno.EINVAL
                )  # sch_tbf only logs "peakrate ... is lower than rate"
            self.pcfg = RateCfg(self.peak // 8, linklayer=linklayer, **shape)
            self.mtu = ticks_to_ns(
                opt.get("mtu_ticks") or calc_xmittime(self.peak // 8, opt["mtu"])
            )
        # tbf_change: the largest packet the buckets can ever pass.
        self.max_size = self.rcfg.t2l(self.buffer)
        if self.pcfg is not None:
            self.max_size = min(self.max_size, self.pcfg.t2l(self.mtu))
        if self.max_size < 0:
            raise KernelRefusal(errno.EINVAL)
        sch.limit = opt["limit"]
        self.tokens = self.buffer
        self.ptokens = self.mtu

    def enqueue(self, skb: SkBuff, sch: QdiscContext, to_free: ToFree) -> int:
        if skb.len > self.max_size:
            return sch.drop(skb, to_free, DROP_TBF_OVERSIZE)
        return sch.enqueue_child(skb, sch.find_class(self.classid), to_free)

    def dequeue(self, sch: QdiscContext) -> SkBuff | None:
        child = sch.find_class(self.classid)
        skb = sch.peek_child(child)
        if skb is None:
            return None
        length = skb.len
        now = sch.now
        toks = min(now - self.t_c, self.buffer)
        ptoks = 0
        if self.pcfg is not None:
            ptoks = min(toks + self.ptokens, self.mtu) - self.pcfg.l2t_ns(length)
        toks = min(toks + self.tokens, self.buffer) - self.rcfg.l2t_ns(length)
        if toks >= 0 and ptoks >= 0:
            skb = sch.dequeue_child(child)
            if skb is None:
                return None
            self.t_c = now
            self.tokens = toks
            self.ptokens = ptoks
            return skb
        sch.watchdog_schedule(now + max(-toks, -ptoks))
        sch.overlimits += 1
        return None

    def reset(self, sch: QdiscContext) -> None:
        # The child is reset by the infrastructure; refill the buckets as tbf_reset does.
        self.t_c = sch.now
        self.tokens = self.buffer
        self.ptokens = self.mtu

    def destroy(self, sch: QdiscContext) -> None:
        pass


register_qdisc(TBF)
