"""The CoDel control law shared by ``codel`` and ``fq_codel`` (include/net/codel_impl.h).

Restated from the kernel, integer for integer:

* time is ``codel_time_t``: nanoseconds >> ``CODEL_SHIFT`` (1024 ns units);
  the enqueue time of a packet lives in ``skb.cb``;
* ``1/sqrt(count)`` is kept in ``rec_inv_sqrt`` (Q0.16) and refined by one
  fixed-point Newton step per drop (``newton_step``), as the kernel does, but
  for the first ``REC_INV_SQRT_CACHE`` counts it comes from a table of fully
  converged values (``invsqrt``), the way sch_cake's COBALT builds
  ``cobalt_rec_inv_sqrt_cache``. One Newton step from 1.0 alone is coarse for
  small counts (sch_codel's spacings would be 100, 50.0, 56.25, 48.78 ms); with
  the table the spacings are interval/sqrt(count): 100, 70.7, 57.7, 50.0, 44.7 ms
  (RFC 8289, validation.md);
* ``control_law(t) = t + interval * rec_inv_sqrt`` (``reciprocal_scale``).

A qdisc using the law provides ``codel_dequeue_skb(ctx)`` (next owned skb or
None) and ``codel_drop(skb, ctx)`` (free it) and calls ``codel_dequeue``.

>>> control_law(0, ms_to_codel(100), invsqrt(REC_INV_SQRT_INIT, 2)) * 1024 // 1000  # us: ~70.7 ms
70669
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol, TypeVar

if TYPE_CHECKING:
    from qdisclab.sched.context import QdiscContext
    from qdisclab.skb import SkBuff

from qdisclab.sched.options import Opt
from qdisclab.sched.tcutil import sprint_time

CODEL_SHIFT = 10
REC_INV_SQRT_BITS = 16
REC_INV_SQRT_SHIFT = 32 - REC_INV_SQRT_BITS
REC_INV_SQRT_INIT = 0xFFFFFFFF >> REC_INV_SQRT_SHIFT  # ~0U >> shift: 1.0 in Q0.16
CODEL_DISABLED_THRESHOLD = 0x7FFFFFFF  # INT_MAX
_U64 = (1 << 64) - 1


def ns_to_codel(ns: int) -> int:
    """Nanoseconds to ``codel_time_t`` units (``ns >> CODEL_SHIFT``)."""
    return ns >> CODEL_SHIFT


def ms_to_codel(ms: int) -> int:
    """``MS2TIME``: milliseconds to codel time units."""
    return (ms * 1_000_000) >> CODEL_SHIFT


def codel_to_ns(t: int) -> int:
    return t << CODEL_SHIFT


def newton_step(rec_inv_sqrt: int, count: int) -> int:
    """``codel_Newton_step``: one fixed-point Newton iteration of 1/sqrt(count)."""
    invsqrt = (rec_inv_sqrt << REC_INV_SQRT_SHIFT) & 0xFFFFFFFF
    invsqrt2 = (invsqrt * invsqrt) >> 32
    val = ((3 << 32) - (count & 0xFFFFFFFF) * invsqrt2) & _U64
    val >>= 2  # avoid overflow in the following multiply
    val = ((val * invsqrt) & _U64) >> (32 - 2 + 1)
    return (val >> REC_INV_SQRT_SHIFT) & 0xFFFF


def codel_options(ecn: bool) -> dict[str, Opt]:
    """The CoDel parameters ``codel`` and ``fq_codel`` share (kernel names; ``ecn`` default differs)."""
    return {
        "target": Opt("time", 5_000_000, "acceptable standing queue delay", zero_default=True),
        "interval": Opt(
            "time", 100_000_000, "width of the moving minimum window", zero_default=True
        ),
        "ecn": Opt("flag", ecn, "mark ECN-capable packets instead of dropping"),
        "ce_threshold": Opt("time", None, "mark CE above this sojourn time (DCTCP-style)"),
    }


REC_INV_SQRT_CACHE = 16


def _build_cache() -> tuple[int, ...]:
    # cobalt_cache_init: carry the estimate from count to count, four Newton
    # steps each, which converges to the Q0.16 value of 1/sqrt(count).
    rec = REC_INV_SQRT_INIT
    cache = [rec]
    for count in range(1, REC_INV_SQRT_CACHE):
        for _ in range(4):
            rec = newton_step(rec, count)
        cache.append(rec)
    return tuple(cache)


_INVSQRT_CACHE = _build_cache()


def invsqrt(rec_inv_sqrt: int, count: int) -> int:
    """``cobalt_invsqrt``: the cached 1/sqrt(count) for small counts, else one Newton step."""
    if count < REC_INV_SQRT_CACHE:
        return _INVSQRT_CACHE[count]
    return newton_step(rec_inv_sqrt, count)


def control_law(t: int, interval: int, rec_inv_sqrt: int) -> int:
    """``codel_control_law``: ``t + reciprocal_scale(interval, rec_inv_sqrt << 16)``."""
    return t + ((interval * (rec_inv_sqrt << REC_INV_SQRT_SHIFT)) >> 32)


class CodelParams:
    """``struct codel_params`` (times in codel units; ``mtu`` in bytes)."""

    __slots__ = ("ce_threshold", "ecn", "interval", "mtu", "target")

    def __init__(
        self,
        target_ns: int = 5_000_000,
        interval_ns: int = 100_000_000,
        mtu: int = 1500,
        ecn: bool = False,
        ce_threshold_ns: int | None = None,
    ) -> None:
        self.target = ns_to_codel(target_ns)
        self.interval = ns_to_codel(interval_ns)
        self.mtu = mtu
        self.ecn = ecn
        self.ce_threshold = (
            CODEL_DISABLED_THRESHOLD if ce_threshold_ns is None else ns_to_codel(ce_threshold_ns)
        )


def render_codel_times(opt: dict[str, Any]) -> str:
    """``target 5ms [ce_threshold T] interval 100ms `` as codel and fq_codel print them."""
    text = f"target {sprint_time(opt['target'] // 1000)} "
    if opt.get("ce_threshold") is not None:
        text += f"ce_threshold {sprint_time(opt['ce_threshold'] // 1000)} "
    return text + f"interval {sprint_time(opt['interval'] // 1000)} "


def vars_xstats(cvars: CodelVars, now: int) -> str:
    """``count N lastcount N ldelay T [dropping drop_next T]`` (codel's per-queue state)."""
    text = (
        f"count {cvars.count} lastcount {cvars.lastcount} "
        f"ldelay {sprint_time(codel_to_ns(cvars.ldelay) // 1000)}"
    )
    if cvars.dropping:
        delta = codel_to_ns(cvars.drop_next) - now
        sign = "-" if delta < 0 else ""
        text += f" dropping drop_next {sign}{sprint_time(abs(delta) // 1000)}"
    return text


class CodelVars:
    """``struct codel_vars``: the per-queue state of the control law."""

    __slots__ = (
        "count",
        "drop_next",
        "dropping",
        "first_above_time",
        "lastcount",
        "ldelay",
        "rec_inv_sqrt",
    )

    def __init__(self) -> None:
        self.count = 0
        self.lastcount = 0
        self.dropping = False
        self.rec_inv_sqrt = 0
        self.first_above_time = 0
        self.drop_next = 0
        self.ldelay = 0


class CodelStats:
    """``struct codel_stats`` plus the CE-threshold counter."""

    __slots__ = ("ce_mark", "drop_count", "drop_len", "ecn_mark", "maxpacket")

    def __init__(self) -> None:
        self.maxpacket = 0
        self.drop_count = 0
        self.drop_len = 0
        self.ecn_mark = 0
        self.ce_mark = 0


def should_drop(
    skb: SkBuff | None, sch: QdiscContext, v: CodelVars, p: CodelParams, st: CodelStats, now: int
) -> bool:
    """``codel_should_drop``: above target for a whole interval, with more than an MTU queued.

    ``sch.backlog`` still counts ``skb`` until dequeue returns (the trampoline
    accounts), so the kernel's backlog, already reduced by the dequeue, is
    ``sch.backlog - skb.len``.
    """
    if skb is None:
        v.first_above_time = 0
        return False
    length = skb.len
    v.ldelay = now - skb.cb
    if length > st.maxpacket:
        st.maxpacket = length
    if v.ldelay < p.target or sch.backlog - length <= p.mtu:
        v.first_above_time = 0  # went below: stay below for at least interval
        return False
    if v.first_above_time == 0:
        v.first_above_time = now + p.interval
    elif now > v.first_above_time:
        return True
    return False


Ctx = TypeVar("Ctx", contravariant=True)


class CodelQueue(Protocol[Ctx]):
    """What the control law dequeues from: codel's one queue, or one fq_codel flow (``ctx``)."""

    def codel_dequeue_skb(self, ctx: Ctx) -> SkBuff | None:
        """Pop the next owned skb of ``ctx``'s queue, or None."""

    def codel_drop(self, skb: SkBuff, ctx: Ctx) -> None:
        """Drop ``skb`` (owned) as the law decided, counting it."""


def codel_dequeue(
    q: CodelQueue[Ctx], ctx: Ctx, sch: QdiscContext, p: CodelParams, v: CodelVars, st: CodelStats
) -> SkBuff | None:
    """``codel_dequeue``: the next skb after the law's drops/marks, or None.

    ``q.codel_dequeue_skb(ctx)`` pops the next owned skb; ``q.codel_drop(skb, ctx)``
    frees one (``sch.kfree_skb``).
    """
    skb = q.codel_dequeue_skb(ctx)
    if skb is None:
        v.dropping = False
        return None
    now = sch.now >> CODEL_SHIFT
    drop = should_drop(skb, sch, v, p, st, now)
    if v.dropping:
        if not drop:
            v.dropping = False  # sojourn below target: leave dropping state
        elif now >= v.drop_next:
            # Time for the next drop(s); a large backlog may need several now.
            while v.dropping and now >= v.drop_next and skb is not None:  # drop: an skb
                v.count += 1
                v.rec_inv_sqrt = invsqrt(v.rec_inv_sqrt, v.count)
                if p.ecn and sch.set_ce(skb):
                    st.ecn_mark += 1
                    v.drop_next = control_law(v.drop_next, p.interval, v.rec_inv_sqrt)
                    return _ce_threshold(skb, sch, v, p, st)
                st.drop_len += skb.len
                q.codel_drop(skb, ctx)
                st.drop_count += 1
                skb = q.codel_dequeue_skb(ctx)
                if not should_drop(skb, sch, v, p, st, now):
                    v.dropping = False
                else:
                    v.drop_next = control_law(v.drop_next, p.interval, v.rec_inv_sqrt)
    elif drop and skb is not None:  # should_drop(None) is False
        if p.ecn and sch.set_ce(skb):
            st.ecn_mark += 1
        else:
            st.drop_len += skb.len
            q.codel_drop(skb, ctx)
            st.drop_count += 1
            skb = q.codel_dequeue_skb(ctx)
            drop = should_drop(skb, sch, v, p, st, now)
        v.dropping = True
        # Re-entering soon after leaving: resume near the drop rate that worked last time.
        delta = v.count - v.lastcount
        if delta > 1 and now - v.drop_next < 16 * p.interval:
            v.count = delta
            v.rec_inv_sqrt = invsqrt(v.rec_inv_sqrt, v.count)
        else:
            v.count = 1
            v.rec_inv_sqrt = REC_INV_SQRT_INIT
        v.lastcount = v.count
        v.drop_next = control_law(now, p.interval, v.rec_inv_sqrt)
    return _ce_threshold(skb, sch, v, p, st)


def _ce_threshold(
    skb: SkBuff | None, sch: QdiscContext, v: CodelVars, p: CodelParams, st: CodelStats
) -> SkBuff | None:
    if skb is not None and v.ldelay > p.ce_threshold and sch.set_ce(skb):
        st.ce_mark += 1
    return skb


DROP_CODEL = "codel"  # SKB_DROP_REASON_QDISC_CODEL
