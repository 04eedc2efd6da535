"""EDT pacing with a map shared between a tcx program and the qdisc (the sch_bpf use case).

* :class:`EdtPacer` is a tcx egress program: per flow (``ctx.hash``) it keeps a
  :class:`FlowRate` in a BPF hash map and stamps ``skb->tstamp`` with the
  flow's earliest departure time: ``max(now, previous departure + len / rate)``.
* :class:`FqEdt` (``fq_edt``) is fq, which enforces those timestamps, plus one
  thing fq has no hook for: every drop is reported back into the same map
  (pinned as ``map NAME``, default ``edt_flows``): the flow's ``drops`` and
  ``dropped_bytes`` grow.
* The program sees the new drops on the flow's next packet and gives back the
  departure slots the dropped bytes had reserved: without that correction the
  flow's timeline keeps gaps for packets that never left and it runs below its
  rate. The rate itself is not cut: the sender (TCP) already reacts to the loss,
  and a second backoff here would compound it.

>>> from qdisclab.net import World
>>> from qdisclab.tcx import Tcx
>>> w = World(); a, b = w.add_host("A"), w.add_host("B"); dev = w.connect(a, b).a
>>> prog = EdtPacer(8_000_000).bind(w)          # 8 mbit: 1000 B every 1 ms
>>> Tcx.of(dev).egress.attach(Tcx.of(dev).load(prog))
>>> prog.flows.max_entries
65536
"""

from __future__ import annotations

from typing import Any

from qdisclab.ops.maps import BPF_NOEXIST, HashMap
from qdisclab.sched import QDISC_OPS, register_qdisc
from qdisclab.sched.constants import NET_XMIT_SUCCESS
from qdisclab.sched.options import Opt
from qdisclab.sched.qdiscs.fq import Fq
from qdisclab.tcx import TCX_NEXT, pin_map, pinned_map

NSEC_PER_SEC = 1_000_000_000
EDT_MAP = "edt_flows"


class FlowRate:
    """One flow's map value: current rate, next departure, drops reported / already seen."""

    __slots__ = ("dropped_bytes", "drops", "last", "next_tstamp", "rate", "seen_drops")

    def __init__(self, rate: int, now: int) -> None:
        self.rate = rate  # bit/s
        self.next_tstamp = 0
        self.last = now
        self.drops = 0  # written by the qdisc
        self.dropped_bytes = 0  # written by the qdisc, consumed by the program
        self.seen_drops = 0  # read position of the program

    def __repr__(self) -> str:
        return f"FlowRate(rate={self.rate}, drops={self.drops})"


class EdtPacer:
    """The tcx egress program; call :meth:`bind` once per world (creates and pins the map)."""

    __slots__ = ("flows", "rate")

    def __init__(self, rate_bps: int) -> None:
        self.rate = rate_bps
        self.flows = HashMap(65536, name=EDT_MAP)

    def bind(self, world: Any, name: str = EDT_MAP) -> EdtPacer:
        """A fresh map for ``world``, pinned as ``name`` so the qdisc finds it."""
        self.flows = HashMap(65536, name=name)
        pin_map(world, name, self.flows)
        return self

    def __call__(self, ctx: Any) -> int:
        now = ctx.ktime_get_ns()
        key = ctx.hash
        st = self.flows.lookup(key)
        if st is None:
            st = FlowRate(self.rate, now)
            self.flows.update(key, st, BPF_NOEXIST)
        if st.drops != st.seen_drops:
            # dropped packets never used their departure slots: give the time back
            back = st.next_tstamp - st.dropped_bytes * 8 * NSEC_PER_SEC // st.rate
            st.next_tstamp = back if back > now else now
            st.dropped_bytes = 0
            st.seen_drops = st.drops
        st.last = now
        t = st.next_tstamp if st.next_tstamp > now else now
        ctx.tstamp = t
        st.next_tstamp = t + ctx.len * 8 * NSEC_PER_SEC // st.rate
        return TCX_NEXT


class FqEdt(Fq):
    """fq that reports each drop into the pinned EDT map (``fq_edt [fq options] [map NAME]``)."""

    id = "fq_edt"
    options = {**Fq.options, "map": Opt("str", EDT_MAP, "pinned map receiving drop reports")}

    def init(self, sch: Any, opt: dict[str, Any]) -> None:
        super().init(sch, opt)
        self.map_name = opt["map"]
        self.reported = 0

    def enqueue(self, skb: Any, sch: Any, to_free: Any) -> int:
        ret = super().enqueue(skb, sch, to_free)
        if ret != NET_XMIT_SUCCESS:
            flows = pinned_map(sch.dev.world, self.map_name)
            st = flows.lookup(sch.skb_get_hash(skb))  # the key the program used (ctx.hash)
            if st is not None:
                st.drops += 1
                st.dropped_bytes += skb.len
                self.reported += 1
        return ret


if QDISC_OPS.lookup(FqEdt.id) is None:
    register_qdisc(FqEdt)

pace_20mbit = EdtPacer(20_000_000)
