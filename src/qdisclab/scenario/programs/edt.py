"""EDT pacing as a tcx egress program: stamp ``skb.tstamp`` so a flow leaves at a fixed rate.

The per-flow "next departure" state lives on the program object (a map in BPF).

>>> from qdisclab.skb import SkBuff
>>> prog = EdtPacer(8_000_000)
>>> a = SkBuff(1000, 1, 2, 3, 4, 6, created=0); b = SkBuff(1000, 1, 2, 3, 4, 6, created=0)
>>> prog(a), prog(b), b.tstamp - a.tstamp
(-1, -1, 1000000)
"""

from __future__ import annotations

from qdisclab.skb import SkBuff

TCX_NEXT = -1  # continue with the next program / the qdisc


class EdtPacer:
    """Departure time = max(now, previous departure + len / rate), per 5-tuple."""

    __slots__ = ("next_tx", "rate")

    def __init__(self, rate_bps: int) -> None:
        self.rate = rate_bps
        self.next_tx: dict[tuple[int, int, int, int], int] = {}

    def __call__(self, skb: SkBuff) -> int:
        key = (skb.src, skb.dst, skb.sport, skb.dport)
        now = skb.created if skb.dev is None else skb.dev.sched.now
        t = max(now, self.next_tx.get(key, 0))
        skb.tstamp = t
        self.next_tx[key] = t + skb.len * 8_000_000_000 // self.rate
        return TCX_NEXT


pace_20mbit = EdtPacer(20_000_000)
