"""Per-packet sojourn time in every qdisc, from the qdisc tracepoints.

The sojourn of a packet is the time from its enqueue to its dequeue in one
qdisc (a child qdisc and its parent each see their own). The recorder keeps
the enqueue time of every packet inside a qdisc and, at dequeue, appends
(dequeue time, sojourn) to that qdisc's arrays; a requeue (the skb went back
to the head, as after a peek) undoes the dequeue it follows. Drops forget the
packet. Packets that bypass an empty qdisc (``TCQ_F_CAN_BYPASS``) never enter
it and are not counted (as the kernel traces only
qdisc_enqueue/qdisc_dequeue of packets that went through the qdisc).

>>> from qdisclab.net import World
>>> from qdisclab.traffic import CbrSource, UdpSink
>>> w = World(seed=1); a, b = w.add_host("A"), w.add_host("B")
>>> lk = w.connect(a, b, "10mbit", "1ms", qdisc_a="codel"); w.build_routes()
>>> _ = UdpSink(b, 9); rec = SojournRecorder(w.sched)
>>> _ = CbrSource(a, b.addr, 9, "f", rate="20mbit", size=1000, stop=10_000_000)
>>> w.run(50_000_000)
>>> s = rec.summary(lk.a.qdisc, (0, 50_000_000))
>>> s["packets"] == lk.a.qdisc.packets, s["max"] > s["p50"] > 0
(True, True)
"""

from __future__ import annotations

from array import array
from bisect import bisect_left
from typing import Any

from qdisclab.sched.tracepoints import QDISC_DEQUEUE, QDISC_DROP, QDISC_ENQUEUE, QDISC_REQUEUE
from qdisclab.sim.tracepoint import tracepoint
from qdisclab.skb.flowmetrics import percentile

NET_XMIT_MASK = 0x0F
NET_XMIT_DROP = 0x01  # include/linux/netdevice.h: the enqueued skb itself was dropped


class QdiscSojourn:
    """One qdisc's packets inside it (skb -> enqueue time) and its dequeues so far."""

    __slots__ = ("dropped", "last_dequeued", "last_enqueued_at", "pending", "sojourn", "times")

    def __init__(self) -> None:
        self.pending: dict[Any, int] = {}
        self.times = array("q")  # dequeue time, ns (non-decreasing)
        self.sojourn = array("q")  # time spent inside, ns
        self.last_dequeued: Any = None  # for a requeue that follows the dequeue it undoes
        self.last_enqueued_at = 0
        self.dropped: Any = None  # the skb most recently dropped (maybe inside its enqueue)


class SojournRecorder:
    """Listens to one scheduler's qdisc tracepoints; ``summary(qdisc, window)`` per qdisc."""

    def __init__(self, sched: Any) -> None:
        self.qdiscs: dict[Any, QdiscSojourn] = {}
        self._attached = [
            (tracepoint(sched, QDISC_ENQUEUE), self._enqueue),
            (tracepoint(sched, QDISC_DEQUEUE), self._dequeue),
            (tracepoint(sched, QDISC_DROP), self._drop),
            (tracepoint(sched, QDISC_REQUEUE), self._requeue),
        ]
        for tp, fn in self._attached:
            tp.attach(fn)

    def detach(self) -> None:
        """Stop listening (the recorded data stays)."""
        for tp, fn in self._attached:
            tp.detach(fn)

    def _state(self, qdisc: Any) -> QdiscSojourn:
        st = self.qdiscs.get(qdisc)
        if st is None:
            st = self.qdiscs[qdisc] = QdiscSojourn()
        return st

    def _enqueue(self, now: int, qdisc: Any, skb: Any, ret: int) -> None:
        st = self.qdiscs.get(qdisc) or self._state(qdisc)
        if ret & NET_XMIT_MASK == NET_XMIT_DROP or st.dropped is skb:
            return  # dropped on the way in: it never waited here
        st.pending[skb] = now

    def _dequeue(self, now: int, qdisc: Any, skb: Any) -> None:
        st = self.qdiscs.get(qdisc)
        if st is None:
            return
        t0 = st.pending.pop(skb, None)
        if t0 is None:
            return  # it entered before the recorder started listening
        st.times.append(now)
        st.sojourn.append(now - t0)
        st.last_dequeued = skb
        st.last_enqueued_at = t0

    def _requeue(self, now: int, qdisc: Any, skb: Any) -> None:
        st = self.qdiscs.get(qdisc)
        if st is None or st.last_dequeued is not skb:
            return
        st.times.pop()
        st.sojourn.pop()
        st.pending[skb] = st.last_enqueued_at
        st.last_dequeued = None

    def _drop(self, now: int, qdisc: Any, skb: Any, reason: str) -> None:
        st = self.qdiscs.get(qdisc) or self._state(qdisc)
        st.pending.pop(skb, None)
        st.dropped = skb

    def samples(self, qdisc: Any, window: tuple[int, int] | None = None) -> tuple[Any, Any]:
        """(dequeue times, sojourns) in ns, of dequeues at ``start <= t < end``."""
        st = self.qdiscs.get(qdisc)
        if st is None:
            return array("q"), array("q")
        if window is None:
            return st.times, st.sojourn
        lo = bisect_left(st.times, window[0])
        hi = bisect_left(st.times, window[1])
        return st.times[lo:hi], st.sojourn[lo:hi]

    def summary(self, qdisc: Any, window: tuple[int, int]) -> dict[str, float | int | None]:
        """Sojourn in ms over the window: mean, p50, p90, p99 (nearest rank), max; packets."""
        _times, values = self.samples(qdisc, window)
        ordered = sorted(values)
        out: dict[str, float | int | None] = {"packets": len(ordered)}
        if not ordered:
            out.update(mean=None, p50=None, p90=None, p99=None, max=None)
            return out
        out["mean"] = round(sum(ordered) / len(ordered) / 1e6, 6)
        for q in (50, 90, 99):
            out[f"p{q}"] = percentile(ordered, q) / 1e6
        out["max"] = ordered[-1] / 1e6
        return out
