"""fq: Fair Queue packet scheduler with pacing (net/sched/sch_fq.c, before the 3-band change).

``fq [limit PACKETS] [flow_limit PACKETS] [quantum BYTES] [initial_quantum BYTES]
[maxrate RATE] [refill_delay TIME] [low_rate_threshold RATE] [orphan_mask N]
[pacing|nopacing] [ce_threshold TIME] [timer_slack TIME] [horizon TIME]
[horizon_drop|horizon_cap]``; defaults limit 10000, flow_limit 100, quantum
2*mtu, initial_quantum 10*mtu, refill_delay 40ms, low_rate_threshold 550kbit,
orphan_mask 1023, pacing, timer_slack 10us, horizon 10s, horizon_drop.

A flow is a socket (``skb.sk`` identity) or, for packets without one,
``skb_get_hash & orphan_mask``; ``TC_PRIO_CONTROL`` packets use an internal,
unpaced flow served first. Flows take turns with credits (DRR, new flows
first). Each packet leaves no earlier than its time_to_send (``skb.tstamp``,
EDT) nor than the flow's ``time_next_packet``, which pacing derives from the
socket's ``sk_pacing_rate`` (bytes/s; absent or 0 = unpaced) capped by
``maxrate``. Throttled flows wait in a heap ordered by ``time_next_packet``;
the watchdog fires at the earliest (within ``timer_slack``).

Cost per packet is O(log flows): flows live in a dict, throttled flows in a
heap; detached flows idle for more than 3 s are collected, at most 8 per
new flow, oldest first.

>>> from qdisclab.sched.qdiscs.fq import Fq
>>> Fq.parse_options(["flow_limit", "50", "horizon_cap"])["horizon_drop"]
False
"""

from __future__ import annotations

import errno
from collections import deque
from collections.abc import Callable
from heapq import heappop, heappush
from itertools import count
from typing import TYPE_CHECKING, Any

from qdisclab.ops import SkbList, SkbRbTree
from qdisclab.sched.constants import NET_XMIT_SUCCESS, TC_PRIO_CONTROL, TC_PRIO_MAX
from qdisclab.sched.fq_report import FqTcReport
from qdisclab.sched.ops import QdiscOps
from qdisclab.sched.options import KernelRefusal, Opt, parse_options
from qdisclab.sched.registry import register_qdisc
from qdisclab.skb import psched_mtu

if TYPE_CHECKING:
    from qdisclab.sched.context import QdiscContext
    from qdisclab.sched.ops import ToFree
    from qdisclab.skb import SkBuff

FQ_USAGE = (
    "Usage: ... fq [ limit PACKETS ] [ flow_limit PACKETS ]\n"
    "              [ quantum BYTES ] [ initial_quantum BYTES ]\n"
    "              [ maxrate RATE ] [ buckets NUMBER ]\n"
    "              [ [no]pacing ] [ refill_delay TIME ]\n"
    "              [ low_rate_threshold RATE ]\n"
    "              [ orphan_mask MASK]\n"
    "              [ timer_slack TIME]\n"
    "              [ ce_threshold TIME ]\n"
    "              [ horizon TIME ]\n"
    "              [ horizon_{cap|drop} ]"
)

NSEC_PER_SEC = 1_000_000_000
FQ_GC_MAX = 8
FQ_GC_AGE = 3 * NSEC_PER_SEC
_NEVER = (1 << 64) - 1  # ~0ULL
_ACTIVE, _THROTTLED, _DETACHED = 0, 1, 2
DROP_FLOW_LIMIT = "fq_flow_limit"  # SKB_DROP_REASON_FQ_FLOW_LIMIT
DROP_HORIZON = "fq_horizon_limit"  # SKB_DROP_REASON_FQ_HORIZON_LIMIT
DROP_QDISC_LIMIT = "qdisc_overlimit"


class FqFlow:
    """``struct fq_flow``: one flow's queue (in-order list + out-of-order tree), credit, pacing."""

    __slots__ = ("age", "credit", "key", "q", "qlen", "state", "t_root", "time_next_packet")

    def __init__(self) -> None:
        self.q = SkbList()
        self.t_root: SkbRbTree[int, SkBuff] | None = (
            None  # created on the first out-of-order packet
        )
        self.key: Any = None
        self.qlen = 0
        self.credit = 0
        self.age = 0
        self.state = _DETACHED
        self.time_next_packet = 0

    def add(self, skb: SkBuff) -> None:
        """``flow_queue_add``: append in EDT order, or into the tree when out of order."""
        tail = self.q.peek_back()
        if tail is None or skb.cb >= tail.cb:
            self.q.push_back(skb)
        else:
            if self.t_root is None:
                self.t_root = SkbRbTree()
            self.t_root.add(skb.cb, skb)

    def peek(self) -> SkBuff | None:
        head = self.q.peek_front()
        tree = self.t_root
        if tree is None or not tree:
            return head
        first = tree.first()
        if head is None or (first is not None and first.cb < head.cb):
            return first
        return head

    def take(self, skb: SkBuff) -> SkBuff:
        """``fq_erase_head``: remove ``skb`` (the one ``peek`` returned) and own it."""
        self.qlen -= 1
        tree = self.t_root
        taken = (
            self.q.pop_front() if tree is None or skb is self.q.peek_front() else tree.pop_first()
        )
        if taken is not skb:
            raise AssertionError(f"fq flow {self.key!r}: its head is not the skb peek returned")
        return taken

    def pop_any(self) -> SkBuff | None:
        skb = self.q.pop_front()
        if skb is None and self.t_root is not None:
            skb = self.t_root.pop_first()
        return skb


def _rate_bytes(bits: int | None) -> int:
    return _NEVER if not bits else bits // 8


class Fq(FqTcReport, QdiscOps):
    """Per-flow fair queueing with EDT and socket-rate pacing."""

    id = "fq"
    options = {
        "limit": Opt("count", 10000, "total queue limit in packets"),
        "flow_limit": Opt("count", 100, "per-flow queue limit in packets"),
        "buckets": Opt("int", 1024, "flow hash buckets (a power of two; tc sends its log)"),
        "quantum": Opt("int", None, "credit per round (default 2 * psched_mtu)"),
        "initial_quantum": Opt("int", None, "credit of a new flow (default 10 * psched_mtu)"),
        "maxrate": Opt("rate", None, "per-flow pacing rate cap"),
        "defrate": Opt("rate", None, "obsolete: accepted and ignored, as the kernel does"),
        "refill_delay": Opt("time", 40_000_000, "idle time after which a flow's credit refills"),
        "low_rate_threshold": Opt("rate", 550_000, "below this rate, one packet per round"),
        "orphan_mask": Opt("int", 1023, "hash mask for packets without a socket"),
        "pacing": Opt("flag", True, "pace packets"),
        "ce_threshold": Opt("time", None, "mark CE when a packet is this late"),
        "timer_slack": Opt("time64", 10_000, "watchdog slack"),
        "horizon": Opt("time", 10 * NSEC_PER_SEC, "drop or cap timestamps further ahead"),
        "horizon_drop": Opt("flag", True, "drop beyond the horizon (horizon_cap: clamp)"),
    }

    @classmethod
    def parse_options(cls, tokens: list[str]) -> dict[str, Any]:
        # tc spells the opposite of horizon_drop "horizon_cap".
        return parse_options(
            cls.id, tokens, cls.options, FQ_USAGE, {"horizon_cap": "nohorizon_drop"}
        )

    def init(self, sch: QdiscContext, opt: dict[str, Any]) -> None:
        self.tc_change(sch, opt)
        self.internal = SkbList()  # TC_PRIO_CONTROL packets
        self.table: dict[Any, FqFlow] = {}
        self.new_flows: deque[FqFlow] = deque()
        self.old_flows: deque[FqFlow] = deque()
        self.delayed: list[tuple[int, int, FqFlow]] = []  # heap by time_next_packet
        self._seq = count().__next__
        self.detached: deque[tuple[int, FqFlow]] = deque()  # (age, flow), oldest first
        self.time_next_delayed_flow = _NEVER
        self.inactive_flows = 0
        self.throttled_flows = 0
        self.stat_gc_flows = 0
        self.stat_internal_packets = 0
        self.stat_throttled = 0
        self.stat_flows_plimit = 0
        self.stat_pkts_too_long = 0
        self.stat_horizon_drops = 0
        self.stat_horizon_caps = 0
        self.stat_ce_mark = 0
        self.unthrottle_latency_ns = 0

    def tc_over_limit(self, sch: QdiscContext) -> bool:
        """fq_change dequeues (and frees) while the queue is over its new limit."""
        return sch.q.qlen > sch.limit

    def tc_change(self, sch: QdiscContext, opt: dict[str, Any]) -> None:
        """``fq_change``: the kernel's range checks, then the parameters, flows kept."""
        mtu = psched_mtu(sch.dev.mtu)
        # fq_change: the kernel's range checks.
        quantum = opt.setdefault("quantum", 2 * mtu)
        if not 0 < quantum <= 1 << 20:
            raise KernelRefusal(errno.EINVAL, "sch_fq: invalid quantum")
        if opt.get("initial_quantum", 0) > 0x7FFFFFFF:
            raise KernelRefusal(errno.EINVAL, hint="fq: initial_quantum above 2^31 - 1")
        log = (opt["buckets"] - 1).bit_length()  # tc sends ilog2 rounded up
        if not 1 <= log <= 18:
            raise KernelRefusal(errno.EINVAL, hint="fq: buckets must be 2..262144")
        opt["buckets"] = 1 << log
        opt.pop("defrate", None)  # TCA_FQ_FLOW_DEFAULT_RATE: ignored by the kernel
        sch.limit = opt["limit"]
        opt.setdefault("initial_quantum", 10 * mtu)
        self.now: Callable[[], int] = lambda: sch.now  # for the statistics dump
        self.flow_plimit = opt["flow_limit"]
        self.quantum = opt["quantum"]
        self.initial_quantum = opt["initial_quantum"]
        self.flow_max_rate = _rate_bytes(opt.get("maxrate"))
        self.flow_refill_delay = opt["refill_delay"]
        self.low_rate_threshold = opt["low_rate_threshold"] // 8
        self.orphan_mask = opt["orphan_mask"]
        self.rate_enable = opt["pacing"]
        ce = opt.get("ce_threshold")
        self.ce_threshold = _NEVER if ce is None else ce
        self.timer_slack = opt["timer_slack"]
        self.horizon = opt["horizon"]
        self.horizon_drop = opt["horizon_drop"]
        self.buckets = opt["buckets"]  # 1 << fq_trees_log: the GC starts at twice this many flows

    @property
    def flows(self) -> int:
        return len(self.table)

    # -- enqueue ---------------------------------------------------------------
    def classify(self, skb: SkBuff, sch: QdiscContext, now: int) -> FqFlow | None:
        """The skb's flow (None: the internal one), created if new (``fq_classify``)."""
        if skb.priority & TC_PRIO_MAX == TC_PRIO_CONTROL:
            return None
        sk = skb.sk
        key = sk if sk is not None else sch.skb_get_hash(skb) & self.orphan_mask
        f = self.table.get(key)
        if f is not None:
            return f
        if len(self.table) >= 2 * self.buckets and self.inactive_flows > len(self.table) // 2:
            self.gc(now)
        # A new flow (kmem_cache_zalloc); a collected one is simply forgotten: its empty
        # lists leave this instance's storage once nothing refers to them.
        f = FqFlow()
        f.key = key
        f.credit = self.initial_quantum
        f.age = now
        self.table[key] = f
        self.inactive_flows += 1
        return f

    def gc(self, now: int) -> int:
        """``fq_gc``: forget at most 8 flows detached for more than 3 s, oldest first."""
        detached = self.detached
        collected = 0
        while detached and collected < FQ_GC_MAX:
            age, f = detached[0]
            if f.state != _DETACHED or f.age != age or self.table.get(f.key) is not f:
                detached.popleft()  # stale entry: re-activated or already collected
                continue
            if now - age <= FQ_GC_AGE:
                break
            detached.popleft()
            del self.table[f.key]
            f.key = None
            self.inactive_flows -= 1
            collected += 1
        self.stat_gc_flows += collected
        return collected

    def enqueue(self, skb: SkBuff, sch: QdiscContext, to_free: ToFree) -> int:
        if sch.q.qlen >= sch.limit:
            return sch.drop(skb, to_free, DROP_QDISC_LIMIT)
        now = sch.now
        tstamp = skb.tstamp
        if not tstamp:
            skb.cb = now  # time_to_send
        else:
            if tstamp > now + self.horizon:
                if self.horizon_drop:
                    self.stat_horizon_drops += 1
                    return sch.drop(skb, to_free, DROP_HORIZON)
                self.stat_horizon_caps += 1
                skb.tstamp = tstamp = now + self.horizon
            skb.cb = tstamp
        f = self.classify(skb, sch, now)
        if f is None:
            self.stat_internal_packets += 1
            self.internal.push_back(skb)
            return NET_XMIT_SUCCESS
        if f.qlen >= self.flow_plimit:
            self.stat_flows_plimit += 1
            return sch.drop(skb, to_free, DROP_FLOW_LIMIT)
        if f.state == _DETACHED:
            f.state = _ACTIVE
            self.new_flows.append(f)
            if now > f.age + self.flow_refill_delay:
                f.credit = max(f.credit, self.quantum)
            self.inactive_flows -= 1
        f.qlen += 1
        f.add(skb)
        return NET_XMIT_SUCCESS

    # -- dequeue ---------------------------------------------------------------
    def check_throttled(self, now: int) -> None:
        """``fq_check_throttled``: move every due flow from the heap to the old list."""
        if self.time_next_delayed_flow > now:
            return
        sample = now - self.time_next_delayed_flow
        self.unthrottle_latency_ns += (sample >> 3) - (self.unthrottle_latency_ns >> 3)
        self.time_next_delayed_flow = _NEVER
        delayed = self.delayed
        while delayed:
            when, _seq, f = delayed[0]
            if when > now:
                self.time_next_delayed_flow = when
                break
            heappop(delayed)
            self.throttled_flows -= 1
            f.state = _ACTIVE
            self.old_flows.append(f)

    def dequeue(self, sch: QdiscContext) -> SkBuff | None:
        skb = self.internal.pop_front()
        if skb is not None:
            return skb
        if not sch.q.qlen:
            return None
        now = sch.now
        self.check_throttled(now)
        new_flows, old_flows = self.new_flows, self.old_flows
        while True:
            head = new_flows if new_flows else old_flows
            if not head:
                if self.time_next_delayed_flow != _NEVER:
                    sch.watchdog_schedule(self.time_next_delayed_flow, self.timer_slack)
                return None
            f = head[0]
            if f.credit <= 0:
                f.credit += self.quantum
                head.popleft()
                old_flows.append(f)
                continue
            skb = f.peek()
            if skb is None:
                head.popleft()
                if head is new_flows and old_flows:
                    old_flows.append(f)  # a pass through old_flows prevents starvation
                else:
                    f.state = _DETACHED
                    f.age = now
                    self.detached.append((now, f))
                    self.inactive_flows += 1
                continue
            time_next_packet = max(skb.cb, f.time_next_packet)
            if now < time_next_packet:
                head.popleft()
                f.time_next_packet = time_next_packet
                f.state = _THROTTLED
                heappush(self.delayed, (time_next_packet, self._seq(), f))
                self.throttled_flows += 1
                self.stat_throttled += 1
                if self.time_next_delayed_flow > time_next_packet:
                    self.time_next_delayed_flow = time_next_packet
                continue
            if now - time_next_packet - self.ce_threshold > 0 and sch.set_ce(skb):
                self.stat_ce_mark += 1
            skb = f.take(skb)
            break
        plen = skb.len
        f.credit -= plen
        if self.rate_enable:
            self._pace(skb, f, plen, now)
        return skb

    def _pace(self, skb: SkBuff, f: FqFlow, plen: int, now: int) -> None:
        rate = self.flow_max_rate
        # With EDT timestamps the sender paces; only maxrate applies.
        if not skb.tstamp:
            sk = skb.sk
            if sk is not None:
                sk_rate = getattr(sk, "sk_pacing_rate", 0) or _NEVER
                if sk_rate < rate:
                    rate = sk_rate
            if rate <= self.low_rate_threshold:
                f.credit = 0
            else:
                plen = max(plen, self.quantum)
                if f.credit > 0:
                    return
        if rate != _NEVER:
            delay = plen * NSEC_PER_SEC // rate if rate else NSEC_PER_SEC
            if delay > NSEC_PER_SEC:  # the socket rate may change: clamp to 1 s
                delay = NSEC_PER_SEC
                self.stat_pkts_too_long += 1
            if f.time_next_packet:  # absorb timer drift, up to half the delay
                delay -= min(delay // 2, now - f.time_next_packet)
            f.time_next_packet = now + delay

    # -- lifecycle ---------------------------------------------------------------
    def reset(self, sch: QdiscContext) -> None:
        while (skb := self.internal.pop_front()) is not None:
            sch.kfree_skb(skb)
        for f in self.table.values():
            while (skb := f.pop_any()) is not None:
                sch.kfree_skb(skb)
            f.qlen = 0
            f.key = None
        self.table.clear()
        self.new_flows.clear()
        self.old_flows.clear()
        self.delayed.clear()
        self.detached.clear()
        self.time_next_delayed_flow = _NEVER
        self.inactive_flows = self.throttled_flows = 0

    def destroy(self, sch: QdiscContext) -> None:
        pass


register_qdisc(Fq)
