"""netem: network emulator (net/sched/sch_netem.c, tc/q_netem.c).

``netem [limit N] [delay D [JITTER [CORR]]] [distribution normal|pareto|paretonormal|uniform]
[loss [random] P [CORR] | loss gemodel p [r [1-h [1-k]]]] [ecn] [duplicate P [CORR]]
[reorder P [CORR] [gap N]] [corrupt P [CORR]] [rate R [PACKETOVERHEAD]]``

Percentages follow tc: ``1%`` and a bare ``1`` both mean one percent.
Packets wait in a time-ordered queue keyed by their send time; dequeue hands
out the earliest once it is due and otherwise arms the watchdog. Random
numbers come from the instance's own named stream, with the kernel's
correlation rule (``get_crandom``: ``next = (1 - c) * uniform + c * last``).

Delay distributions: the kernel draws from a tc table (the inverse CDF of a
distribution with zero mean and unit spread, scaled by JITTER). qdisclab
evaluates the inverse CDF directly: ``normal`` (std = JITTER), ``pareto``
(alpha 3, shifted and scaled to mean 0 and std 1), ``paretonormal`` (0.25 of
normal plus 0.75 of pareto at the same quantile), and without a distribution
the kernel's uniform in ``[D - JITTER, D + JITTER)``.

>>> Netem.parse_options("delay 100ms 10ms 25% loss 1%".split())["jitter"]
10000000
"""

from __future__ import annotations

import random
from statistics import NormalDist
from typing import TYPE_CHECKING, Any

from mypy_extensions import mypyc_attr

from qdisclab.ops import SkbList, SkbRbTree
from qdisclab.sched.constants import __NET_XMIT_BYPASS as NET_XMIT_BYPASS
from qdisclab.sched.constants import NET_XMIT_SUCCESS
from qdisclab.sched.handle import format_handle
from qdisclab.sched.netem_models import Slots, loss_model, packet_time_ns
from qdisclab.sched.netem_opts import parse_netem, render_netem
from qdisclab.sched.ops import QdiscOps
from qdisclab.sched.registry import register_qdisc

if TYPE_CHECKING:
    from qdisclab.sched.context import QdiscContext
    from qdisclab.sched.ops import ToFree
    from qdisclab.skb import SkBuff

DROP_NETEM_LOSS = "netem_loss"
DROP_NETEM_LIMIT = "netem_limit"
DISTRIBUTIONS = ("uniform", "normal", "pareto", "paretonormal")
_NORMAL = NormalDist()
_PARETO_MEAN, _PARETO_STD = 1.5, 0.75**0.5  # alpha 3, x_m 1


def dist_quantile(dist: str, u: float) -> float:
    """Inverse CDF, at ``u`` in (0, 1), of ``dist`` standardised to mean 0 and unit spread."""
    u = min(max(u, 1e-9), 1.0 - 1e-9)
    if dist == "normal":
        return _NORMAL.inv_cdf(u)
    pareto: float = ((1.0 - u) ** (-1.0 / 3.0) - _PARETO_MEAN) / _PARETO_STD
    if dist == "pareto":
        return pareto
    return 0.25 * _NORMAL.inv_cdf(u) + 0.75 * pareto  # paretonormal


class _Cor:
    """Correlated uniform source (``struct crndstate``): ``rho`` in [0, 1], ``last`` value."""

    __slots__ = ("last", "rho")

    def __init__(self, rho: float) -> None:
        self.rho = rho
        self.last = 0.0

    def next(self, rng: random.Random) -> float:
        value = rng.random()
        if self.rho:
            value = (1.0 - self.rho) * value + self.rho * self.last
            self.last = value
        return value


@mypyc_attr(allow_interpreted_subclasses=True)  # a kind may be extended
class Netem(QdiscOps):
    """``netem`` with iproute2's positional syntax (see the module doc)."""

    id = "netem"

    @classmethod
    def parse_options(cls, tokens: list[str]) -> dict[str, Any]:
        return parse_netem(tokens)

    @classmethod
    def render_options(cls, opt: dict[str, Any]) -> str:
        return render_netem(opt)

    def init(self, sch: QdiscContext, opt: dict[str, Any]) -> None:
        self.rng = self._stream(sch)  # before the slots: they draw their first one from it
        self.t_last = 0  # latest time_to_send in the tfifo (rate's reference point)
        self.tfifo: SkbRbTree[int, SkBuff] = SkbRbTree()  # keyed by time_to_send
        self.head = SkbList()  # reordered packets, sent before the tfifo
        self.lost = self.duplicated = self.corrupted = self.ecn_marked = 0
        self.tc_change(sch, opt)

    def tc_change(self, sch: QdiscContext, opt: dict[str, Any]) -> None:
        """``netem_change``: new parameters (the reorder counter restarts), the tfifo kept."""
        sch.limit = opt.get("limit", 1000)
        self.latency: int = opt.get("latency", 0)
        self.jitter = opt.get("jitter", 0)
        dist = opt.get("distribution")
        self.dist = None if dist in (None, "uniform") else dist
        self.loss = opt.get("loss", 0.0)
        self.loss_model = loss_model(opt)  # 4-state or Gilbert-Elliott, or None
        self.duplicate = opt.get("duplicate", 0.0)
        self.corrupt = opt.get("corrupt", 0.0)
        self.reorder = opt.get("reorder", 0.0)
        self.gap = opt.get("gap", 0)
        self.ecn = bool(opt.get("ecn"))
        self.rate = opt.get("rate", 0)
        self.packet_overhead = opt.get("packet_overhead", 0)
        self.cell_size = opt.get("cell_size", 0)
        self.cell_overhead = opt.get("cell_overhead", 0)
        slot = opt.get("slot")
        self.slots = Slots(slot, sch.now, self._tabledist) if slot else None
        self.delay_cor = _Cor(opt.get("delay_corr", 0.0))
        self.loss_cor = _Cor(opt.get("loss_corr", 0.0))
        self.dup_cor = _Cor(opt.get("duplicate_corr", 0.0))
        self.corrupt_cor = _Cor(opt.get("corrupt_corr", 0.0))
        self.reorder_cor = _Cor(opt.get("reorder_corr", 0.0))
        self.counter = 0

    @staticmethod
    def _stream(sch: QdiscContext) -> random.Random:
        dev = sch.dev
        world = getattr(dev, "world", None)
        node = getattr(getattr(dev, "node", None), "name", "")
        name = f"netem:{node}/{getattr(dev, 'name', '?')}:{format_handle(sch.handle)}"
        if world is not None and hasattr(world, "rng"):
            stream: random.Random = world.rng.stream(name)
            return stream
        return random.Random(sch.hash_seed ^ sch.handle)

    # -- the random events ----------------------------------------------------
    def _loss_event(self) -> bool:
        rng = self.rng
        model = self.loss_model
        if model is None:
            return bool(self.loss) and self.loss_cor.next(rng) < self.loss
        return model.lost(rng)

    def _delay(self) -> int:
        """tabledist(latency, jitter, delay_cor, dist)."""
        sigma = self.jitter
        if not sigma:
            return self.latency
        return self._tabledist(self.latency, sigma, self.delay_cor.next(self.rng))

    def _tabledist(self, mu: int, sigma: int, u: float) -> int:
        if self.dist is None:
            return mu - sigma + int(u * 2 * sigma)
        return mu + int(dist_quantile(self.dist, u) * sigma)

    # -- callbacks ----------------------------------------------------------------
    def enqueue(self, skb: SkBuff, sch: QdiscContext, to_free: ToFree) -> int:
        rng = self.rng
        count = 1
        if self.duplicate and self.dup_cor.next(rng) < self.duplicate:
            count += 1
        if self._loss_event():
            if self.ecn and sch.set_ce(skb):
                self.ecn_marked += 1
            else:
                count -= 1
        if count == 0:
            self.lost += 1
            sch.drop(skb, to_free, DROP_NETEM_LOSS)
            return NET_XMIT_SUCCESS | NET_XMIT_BYPASS  # the sender is not told
        skb2 = None
        if count > 1:  # cloned before the original may be corrupted
            skb2 = sch.skb_clone(skb)
            self.duplicated += 1
        if self.corrupt and self.corrupt_cor.next(rng) < self.corrupt:
            self.corrupted += 1
            payload = skb.payload
            if payload:
                data = bytearray(payload)
                data[rng.randrange(len(data))] ^= 1 << rng.randrange(8)
                skb.payload = bytes(data)
        # sch->q.qlen, as netem_enqueue tests: it counts a peeked packet parked outside the
        # tfifo, and the clone (counted at skb_clone) but not yet skb (counted on return).
        if sch.q.qlen - (skb2 is not None) >= sch.limit:
            if skb2 is not None:
                sch.drop(skb2, to_free, DROP_NETEM_LIMIT)
            return sch.drop(skb, to_free, DROP_NETEM_LIMIT)
        self._queue(skb, sch, True)
        if skb2 is not None:
            if sch.q.qlen >= sch.limit:  # skb2 counted, skb not yet: limit reached with skb
                sch.drop(skb2, to_free, DROP_NETEM_LIMIT)
            else:
                self._queue(skb2, sch, False)
        return NET_XMIT_SUCCESS

    def _queue(self, skb: SkBuff, sch: QdiscContext, may_reorder: bool) -> None:
        now = sch.now
        if (
            not may_reorder
            or self.gap == 0
            or self.counter < self.gap - 1
            or self.reorder < self.reorder_cor.next(self.rng)
        ):
            delay = self._delay()
            if self.rate:
                if self.tfifo:
                    # The last queued packet is the reference point: only the time after it
                    # counts, then this packet's own serialisation time.
                    last = self.t_last
                    delay = max(0, delay - (last - now))
                    now = last
                delay += packet_time_ns(
                    skb.len, self.rate, self.packet_overhead, self.cell_size, self.cell_overhead
                )
            tts = now + delay
            skb.cb = tts
            if tts > self.t_last or not self.tfifo:
                self.t_last = tts
            self.counter += 1
            self.tfifo.add(tts, skb)
        else:
            # Reorder: this one goes out ahead of everything waiting.
            skb.cb = now
            self.counter = 0
            sch.requeues += 1
            self.head.push_back(skb)

    def dequeue(self, sch: QdiscContext) -> SkBuff | None:
        skb = self.head.pop_front()
        if skb is not None:
            return skb
        tts = self.tfifo.first_key()
        if tts is None:
            return None
        slots = self.slots
        if slots is None:
            if tts <= sch.now:
                return self.tfifo.pop_first()
            sch.watchdog_schedule(tts)
            return None
        now = sch.now
        if slots.slot_next < tts:
            slots.next_slot(now, self.rng)
        if tts <= now and slots.slot_next <= now:
            skb = self.tfifo.pop_first()
            if skb is not None:  # the tfifo's first key was tts
                slots.sent(skb.len, now, self.rng)
            return skb
        sch.watchdog_schedule(max(tts, slots.slot_next))
        return None

    def reset(self, sch: QdiscContext) -> None:
        while (skb := self.head.pop_front()) is not None:
            sch.kfree_skb(skb)
        while (skb := self.tfifo.pop_first()) is not None:
            sch.kfree_skb(skb)

    def destroy(self, sch: QdiscContext) -> None:
        pass


register_qdisc(Netem)
