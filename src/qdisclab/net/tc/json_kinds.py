"""What each kind's ``print_opt`` / ``print_xstats`` writes under ``tc -j`` (iproute2 6.1).

In JSON mode iproute2 prints numbers raw: rates in bytes per second
(``tc_print_rate``), sizes in bytes (``print_size``), codel/fq times in
microseconds as the kernel dumps them, fq's ``timer_slack`` in ns, tbf's
``lat`` in whole microseconds, netem's times in seconds and its percentages
as fractions (``%g``); ``print_0xhex`` writes a string (``"0x20"``, ``"0"``).
Keys come in print order, and some kinds write a key even when its text is
empty (red's four flags, netem's ``ecn`` and ``gap``).

>>> from qdisclab.net.tc import TcHost
>>> h = TcHost(); _ = h.run("ip link add dev d0 type dummy")
>>> _ = h.run("tc qdisc add dev d0 root handle 1: tbf rate 10mbit burst 10kb lat 50ms")
>>> h.run("tc -j qdisc show dev d0").stdout
'[{"kind":"tbf","handle":"1:","root":true,"refcnt":2,"options":{"rate":1250000,"burst":10240,"lat":50000}}]\\n'
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from qdisclab.net.tc.json_out import Obj, c_hex
from qdisclab.sched.ratecfg import LINKLAYER_ETHERNET, LINKLAYER_NAMES
from qdisclab.sched.tcutil import TIME_UNITS_PER_SEC, calc_xmitsize, sprint_size, tick2time

_OPTIONS: dict[str, Callable[[Any, bool], Obj]] = {}
_XSTATS: dict[str, Callable[[Any], Obj]] = {}


def _options(*kinds: str) -> Callable[[Callable[[Any, bool], Obj]], Callable[[Any, bool], Obj]]:
    def register(fn: Callable[[Any, bool], Obj]) -> Callable[[Any, bool], Obj]:
        for kind in kinds:
            _OPTIONS[kind] = fn
        return fn

    return register


def _xstats(kind: str) -> Callable[[Callable[[Any], Obj]], Callable[[Any], Obj]]:
    def register(fn: Callable[[Any], Obj]) -> Callable[[Any], Obj]:
        _XSTATS[kind] = fn
        return fn

    return register


def kind_options(q: Any, details: bool = False) -> Obj:
    """The ``options`` object of ``q`` (``{}`` for a kind with nothing to print).

    A kind tc does not know (a user's qdisc) has no reference to follow: its
    scalar options are written as they are.
    """
    fn = _OPTIONS.get(q.kind)
    if fn is not None:
        return fn(q, details)
    return Obj(
        (k, v) for k, v in q.opt.items() if isinstance(v, (int, float, str, bool)) and k[:1] != "_"
    )


def kind_xstats(q: Any) -> Obj:
    """The extended statistics ``tc -s -j`` adds to the qdisc's object (none for most kinds)."""
    fn = _XSTATS.get(q.kind)
    return fn(q) if fn is not None else Obj()


# -- fifos, prio -----------------------------------------------------------------------------
@_options("noqueue", "ingress")
def _nothing(q: Any, details: bool) -> Obj:
    return Obj()


@_options("pfifo", "bfifo")
def _fifo(q: Any, details: bool) -> Obj:
    return Obj([("limit", q.opt["limit"])]) if "limit" in q.opt else Obj()


@_options("prio", "pfifo_fast")
def _prio(q: Any, details: bool) -> Obj:
    from qdisclab.sched.qdiscs.pfifo_fast import PFIFO_FAST_BANDS, PRIO2BAND
    from qdisclab.sched.qdiscs.prio import DEFAULT_PRIOMAP

    if q.kind == "pfifo_fast":
        bands, priomap = PFIFO_FAST_BANDS, PRIO2BAND
    else:
        bands, priomap = q.opt["bands"], q.opt.get("priomap", DEFAULT_PRIOMAP)
    return Obj([("bands", bands), ("priomap", list(priomap)), ("multiqueue", False)])


# -- shapers -----------------------------------------------------------------------------------
@_options("tbf")
def _tbf(q: Any, details: bool) -> Obj:
    from qdisclab.sched.tcutil import calc_xmittime

    opt = q.opt
    rate = opt["rate"] // 8
    buffer = opt.get("buffer", calc_xmittime(rate, opt["burst"]))
    out = Obj([("rate", rate)])
    burst = calc_xmitsize(rate, buffer)
    if details:
        out.add("burst", f"{sprint_size(burst)}/1").add("mpu", opt.get("mpu", 0))
    else:
        out.add("burst", burst)
    peak = opt.get("peakrate", 0) // 8
    latency = TIME_UNITS_PER_SEC * (opt["limit"] / rate) - tick2time(buffer)
    if peak:  # the peak rate itself is printed as text only (PRINT_FP)
        mtu_ticks = opt.get("mtu_ticks", calc_xmittime(peak, opt["mtu"]))
        minburst = calc_xmitsize(peak, mtu_ticks)
        if details:
            out.add("mtu", f"{sprint_size(minburst)}/1").add("mpu", opt.get("mpu", 0))
        else:
            out.add("minburst", minburst)
        latency = max(latency, TIME_UNITS_PER_SEC * (opt["limit"] / peak) - tick2time(mtu_ticks))
    if latency >= 0.0:
        out.add("lat", int(latency))
    else:
        out.add("limit", opt["limit"])
    if opt.get("overhead"):
        out.add("overhead", opt["overhead"])
    linklayer = opt.get("linklayer", LINKLAYER_ETHERNET)
    if linklayer != LINKLAYER_ETHERNET or details:
        out.add("linklayer", LINKLAYER_NAMES[linklayer])
    return out


@_options("htb")
def _htb(q: Any, details: bool) -> Obj:
    out = Obj([("r2q", q.opt.get("r2q", 10)), ("default", c_hex(q.opt.get("default", 0)))])
    out.add("direct_packets_stat", q.ops.direct_pkts)
    if details:
        out.add("ver", "3.17")
    return out.add("direct_qlen", q.ops.direct_qlen)


# -- AQMs --------------------------------------------------------------------------------------
def _codel_times(out: Obj, opt: dict[str, Any]) -> Obj:
    out.add("target", opt["target"] // 1000)
    if opt.get("ce_threshold") is not None:
        out.add("ce_threshold", opt["ce_threshold"] // 1000)
    return out.add("interval", opt["interval"] // 1000)


@_options("codel")
def _codel(q: Any, details: bool) -> Obj:
    out = _codel_times(Obj([("limit", q.opt["limit"])]), q.opt)
    return out.add("ecn", True) if q.opt["ecn"] else out


@_options("fq_codel")
def _fq_codel(q: Any, details: bool) -> Obj:
    opt = q.opt
    out = Obj([("limit", opt["limit"]), ("flows", opt["flows"]), ("quantum", opt["quantum"])])
    _codel_times(out, opt).add("memory_limit", opt["memory_limit"])
    if opt["ecn"]:
        out.add("ecn", True)
    return out.add("drop_batch", opt["drop_batch"]) if opt["drop_batch"] else out


@_options("red")
def _red(q: Any, details: bool) -> Obj:
    opt = q.opt
    out = Obj([("limit", opt["limit"]), ("min", opt["min"]), ("max", opt["max"])])
    for flag in ("ecn", "harddrop", "adaptive", "nodrop"):  # tc_red_print_flags
        out.add(flag, bool(opt.get(flag)))
    return out


@_options("fq")
def _fq(q: Any, details: bool) -> Obj:
    opt = q.opt
    out = Obj([("limit", opt["limit"]), ("flow_limit", opt["flow_limit"])])
    out.add("buckets", opt["buckets"]).add("orphan_mask", opt["orphan_mask"])
    if not opt["pacing"]:
        out.add("pacing", False)
    out.add("quantum", opt["quantum"]).add("initial_quantum", opt["initial_quantum"])
    if opt.get("maxrate"):
        out.add("maxrate", opt["maxrate"] // 8)
    out.add("low_rate_threshold", opt["low_rate_threshold"] // 8)
    out.add("refill_delay", opt["refill_delay"] // 1000)
    if opt.get("ce_threshold") is not None:
        out.add("ce_threshold", opt["ce_threshold"] // 1000)
    out.add("timer_slack", opt["timer_slack"]).add("horizon", opt["horizon"] // 1000)
    return out.add("horizon_drop" if opt["horizon_drop"] else "horizon_cap", None)


# -- netem -------------------------------------------------------------------------------------
@_options("netem")
def _netem(q: Any, details: bool) -> Obj:
    opt = q.opt
    out = Obj([("limit", opt.get("limit", 1000))])
    if opt.get("latency"):
        delay = Obj([("delay", opt["latency"] / 1e9), ("jitter", opt.get("jitter", 0) / 1e9)])
        out.add("delay", delay.add("correlation", float(opt.get("delay_corr", 0))))
    if opt.get("loss"):
        loss = Obj([("loss", float(opt["loss"])), ("correlation", float(opt.get("loss_corr", 0)))])
        out.add("loss-random", loss)
    if "loss_state" in opt:
        names: tuple[str, ...] = ("p13", "p31", "p32", "p23", "p14")
        out.add(
            "loss-state", Obj((n, float(v)) for n, v in zip(names, opt["loss_state"], strict=True))
        )
    if "gemodel" in opt:
        names = ("p", "r", "1-h", "1-k")
        out.add(
            "loss-gemodel", Obj((n, float(v)) for n, v in zip(names, opt["gemodel"], strict=True))
        )
    for name in ("duplicate", "reorder", "corrupt"):
        if opt.get(name):
            pair = Obj(
                [(name, float(opt[name])), ("correlation", float(opt.get(f"{name}_corr", 0)))]
            )
            out.add(name, pair)
    if opt.get("rate"):
        rate = Obj([("rate", opt["rate"] // 8), ("packetoverhead", opt.get("packet_overhead", 0))])
        rate.add("cellsize", opt.get("cell_size", 0)).add(
            "celloverhead", opt.get("cell_overhead", 0)
        )
        out.add("rate", rate)
    slot = opt.get("slot")
    if slot:
        if slot.get("dist_jitter"):
            times = [("distribution", slot["dist_delay"]), ("jitter", slot["dist_jitter"])]
        else:
            times = [("min-delay", slot["min_delay"]), ("max-delay", slot["max_delay"])]
        obj = Obj((key, ns / 1e9) for key, ns in times)
        obj.add("packets", slot.get("max_packets", 0)).add("bytes", slot.get("max_bytes", 0))
        out.add("slot", obj)
    return out.add("ecn", bool(opt.get("ecn"))).add("gap", opt.get("gap", 0))


# -- extended statistics -------------------------------------------------------------------------
@_xstats("fq_codel")
def _fq_codel_xstats(q: Any) -> Obj:
    ops = q.ops
    st = ops.cstats
    out = Obj([("maxpacket", st.maxpacket), ("drop_overlimit", ops.drop_overlimit)])
    out.add("new_flow_count", ops.new_flow_count).add("ecn_mark", st.ecn_mark)
    for key, value in (("ce_mark", st.ce_mark), ("memory_used", ops.memory_usage),
                       ("drop_overmemory", ops.drop_overmemory)):  # fmt: skip
        if value:
            out.add(key, value)
    return out.add("new_flows_len", len(ops.new_flows)).add("old_flows_len", len(ops.old_flows))


@_xstats("codel")
def _codel_xstats(q: Any) -> Obj:
    from qdisclab.sched.codel_law import codel_to_ns

    ops = q.ops
    cvars, st = ops.vars, ops.stats
    out = Obj([("count", cvars.count), ("lastcount", cvars.lastcount)])
    out.add("ldelay", codel_to_ns(cvars.ldelay) // 1000)
    if cvars.dropping:
        out.add("dropping", True)
    delta = codel_to_ns(cvars.drop_next) - ops.now() if cvars.dropping else 0
    out.add("drop_next", int(delta / 1000))
    out.add("maxpacket", st.maxpacket).add("ecn_mark", st.ecn_mark)
    out.add("drop_overlimit", ops.drop_overlimit)
    return out.add("ce_mark", st.ce_mark) if st.ce_mark else out


@_xstats("red")
def _red_xstats(q: Any) -> Obj:
    ops = q.ops
    out = Obj([("marked", ops.prob_mark + ops.forced_mark)])
    out.add("early", ops.prob_drop + ops.forced_drop).add("pdrop", ops.pdrop)
    return out.add("other", 0)


@_xstats("fq")
def _fq_xstats(q: Any) -> Obj:
    from qdisclab.sched.fq_report import _NEVER

    ops = q.ops
    out = Obj([("flows", len(ops.table)), ("inactive", ops.inactive_flows)])
    out.add("throttled", ops.throttled_flows)
    if ops.delayed and ops.time_next_delayed_flow != _NEVER:
        out.add("next_packet_delay", max(ops.time_next_delayed_flow - ops.now(), 0))
    out.add("gc", ops.stat_gc_flows).add("highprio", ops.stat_internal_packets)
    out.add("throttled", ops.stat_throttled)
    if ops.unthrottle_latency_ns:
        out.add("latency", ops.unthrottle_latency_ns)
    for key, value in (("ce_mark", ops.stat_ce_mark), ("horizon_drops", ops.stat_horizon_drops),
                       ("horizon_caps", ops.stat_horizon_caps),
                       ("flows_plimit", ops.stat_flows_plimit)):  # fmt: skip
        if value:
            out.add(key, value)
    if ops.stat_pkts_too_long:
        out.add("pkts_too_long", ops.stat_pkts_too_long).add("alloc_errors", 0)
    return out
