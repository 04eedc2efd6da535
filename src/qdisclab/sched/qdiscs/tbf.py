"""tbf: token bucket filter (net/sched/sch_tbf.c, tc/q_tbf.c).

``tbf rate R burst B (limit L | latency T) [peakrate P mtu M]``

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
"""

from __future__ import annotations

from typing import Any

from qdisclab.errors import UserError
from qdisclab.sched.ops import QdiscOps
from qdisclab.sched.options import Opt, parse_options
from qdisclab.sched.registry import register_qdisc

NSEC_PER_SEC = 1_000_000_000
DROP_TBF_OVERSIZE = "tbf_oversize"  # larger than the bucket: could never be sent
_ALIASES = {"buffer": "burst", "maxburst": "burst", "minburst": "mtu"}


def l2t_ns(rate_bits: int, length: int) -> int:
    """``psched_l2t_ns``: ns to send ``length`` bytes at ``rate_bits`` bit/s."""
    return length * 8 * NSEC_PER_SEC // rate_bits


@register_qdisc
class TBF(QdiscOps):
    """``tbf rate R burst B (limit L | latency T) [peakrate P mtu M]``."""

    id = "tbf"
    options = {
        "rate": Opt("rate", None, "token rate (mandatory)"),
        "burst": Opt("size", None, "bucket size in bytes (mandatory; alias buffer, maxburst)"),
        "peakrate": Opt("rate", None, "maximum rate of the burst itself"),
        "mtu": Opt("size", None, "peak-rate bucket in bytes (alias minburst)"),
        "limit": Opt("size", None, "bytes that may wait for tokens"),
        "latency": Opt("time", None, "longest wait for tokens (sets limit)"),
    }

    @classmethod
    def parse_options(cls, tokens: list[str]) -> dict[str, Any]:
        tokens = [_ALIASES.get(t, t) for t in tokens]
        opt = parse_options(cls.id, tokens, cls.options)
        for name in ("rate", "burst"):
            if not opt.get(name):
                raise UserError(f'qdisc tbf: the "{name}" parameter is mandatory')
        if "limit" in opt and "latency" in opt:
            raise UserError('qdisc tbf: specifying both "limit" and "latency" is not allowed')
        if "limit" not in opt and "latency" not in opt:
            raise UserError('qdisc tbf: either "limit" or "latency" is required')
        if opt.get("peakrate") and not opt.get("mtu"):
            raise UserError('qdisc tbf: when "peakrate" is specified, "mtu" must also be specified')
        latency = opt.pop("latency", None)
        if latency is not None:
            # q_tbf.c: limit = rate * latency + burst (or the smaller peak-rate figure).
            limit = opt["rate"] // 8 * latency / NSEC_PER_SEC + opt["burst"]
            if opt.get("peakrate"):
                limit = min(limit, opt["peakrate"] // 8 * latency / NSEC_PER_SEC + opt["mtu"])
            opt["limit"] = int(limit)
        return opt

    def init(self, sch: Any, opt: dict[str, Any]) -> None:
        rate = opt.get("rate")
        burst = opt.get("burst")
        if not rate or not burst or opt.get("limit") is None:
            raise UserError("qdisc tbf: rate, burst and limit (or latency) are required")
        self.rate = rate
        self.buffer = l2t_ns(rate, burst)  # bucket depth in ns
        self.max_size = burst
        self.peak = opt.get("peakrate") or 0
        self.mtu = 0
        if self.peak:
            if self.peak <= rate:
                raise UserError(
                    f"qdisc tbf: peakrate {self.peak} is lower than or equals to rate {rate}"
                )
            self.mtu = l2t_ns(self.peak, opt["mtu"])
            self.max_size = min(self.max_size, opt["mtu"])
        sch.limit = opt["limit"]
        self.tokens = self.buffer
        self.ptokens = self.mtu
        self.t_c = sch.now
        sch.create_child(1, f"bfifo limit {sch.limit}")
        # Looked up per packet: `tc qdisc add ... parent X:1` may graft another child.
        self.classid = sch.handle | 1

    def enqueue(self, skb: Any, sch: Any, to_free: Any) -> int:
        if skb.len > self.max_size:
            return sch.drop(skb, to_free, DROP_TBF_OVERSIZE)
        return sch.enqueue_child(skb, sch.find_class(self.classid), to_free)

    def dequeue(self, sch: Any) -> Any:
        child = sch.find_class(self.classid)
        skb = sch.peek_child(child)
        if skb is None:
            return None
        length = skb.len
        now = sch.now
        toks = min(now - self.t_c, self.buffer)
        ptoks = 0
        if self.peak:
            ptoks = min(toks + self.ptokens, self.mtu) - l2t_ns(self.peak, length)
        toks = min(toks + self.tokens, self.buffer) - l2t_ns(self.rate, length)
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

    def reset(self, sch: Any) -> None:
        # The child is reset by the infrastructure; refill the buckets as tbf_reset does.
        self.t_c = sch.now
        self.tokens = self.buffer
        self.ptokens = self.mtu

    def destroy(self, sch: Any) -> None:
        pass
