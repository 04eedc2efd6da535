"""shaper: a token-bucket shaper that sleeps with the watchdog, as a BPF qdisc would.

Packets queue in a FIFO; tokens (bytes) refill at ``rate`` up to ``burst``.
When the head packet needs more tokens than the bucket holds, dequeue arms
the watchdog (``sch.watchdog_schedule``) for the moment enough tokens will
have accumulated and returns None, so the device is woken exactly then.

    qdisclab check examples/qdiscs/shaper.py --options "rate 2mbit burst 3000"

>>> from qdisclab.sched import QDISC_OPS
>>> QDISC_OPS.validate(Shaper)
"""

from qdisclab.ops import SkbList
from qdisclab.sched import NET_XMIT_SUCCESS, Opt, QdiscOps


class Shaper(QdiscOps):
    id = "shaper"
    options = {
        "rate": Opt("rate", 1_000_000, "token rate in bit/s"),
        "burst": Opt("size", 3000, "bucket size in bytes (at least one MTU)"),
        "limit": Opt("int", 100, "packets queued at most"),
    }

    def init(self, sch, opt):
        self.q = SkbList()
        self.rate = opt.get("rate") or 1_000_000  # bit/s
        self.burst = max(opt.get("burst") or 3000, sch.mtu)
        self.tokens = self.burst  # bytes
        self.t_last = sch.now
        sch.limit = opt.get("limit") or 100

    def enqueue(self, skb, sch, to_free):
        if sch.q.qlen >= sch.limit or skb.len > self.burst:
            return sch.drop(skb, to_free)
        self.q.push_back(skb)
        return NET_XMIT_SUCCESS

    def refill(self, now):
        gained = (now - self.t_last) * self.rate // 8_000_000_000
        if gained:
            self.tokens = min(self.burst, self.tokens + gained)
            # Advance by the time the whole bytes took, keeping the remainder.
            self.t_last = (
                now
                if self.tokens == self.burst
                else (self.t_last + gained * 8_000_000_000 // self.rate)
            )

    def dequeue(self, sch):
        head = self.q.peek_front()
        if head is None:
            return None
        now = sch.now
        self.refill(now)
        if head.len > self.tokens:
            missing = head.len - self.tokens
            wait = -(-missing * 8_000_000_000 // self.rate)  # ceil: tokens are whole bytes
            sch.watchdog_schedule(now + wait)
            return None
        self.tokens -= head.len
        return self.q.pop_front()

    def reset(self, sch):
        while (skb := self.q.pop_front()) is not None:
            sch.kfree_skb(skb)
        self.tokens = self.burst
        self.t_last = sch.now

    def destroy(self, sch):
        pass
