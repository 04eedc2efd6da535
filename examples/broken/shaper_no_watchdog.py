"""shaper_no_watchdog: a token-bucket shaper that returns None when out of tokens and never arms the watchdog.

The bucket refills with time, so the next dequeue after enough time would
send; but nothing calls dequeue again: the device asked, got None, and went
idle, because the shaper did not ask to be woken with
``sch.watchdog_schedule`` (bpf-qdisc spec §2: a non-work-conserving qdisc
that returns NULL while holding packets must arm the watchdog). Packets sit
until the next enqueue happens to kick the device. ``qdisclab check``
reports "stuck": "qdisc holds N packets ... but dequeue returns None and no
watchdog is armed".
"""

from qdisclab.ops import SkbList
from qdisclab.sched import NET_XMIT_SUCCESS, Opt, QdiscOps


class ShaperNoWatchdog(QdiscOps):
    id = "ex_nowatchdog"
    options = {
        "rate": Opt("rate", 1_000_000, "token rate in bit/s"),
        "burst": Opt("size", 3000, "bucket size in bytes"),
        "limit": Opt("count", 100, "packets queued at most"),
    }

    def init(self, sch, opt):
        self.q = SkbList()
        self.rate = opt.get("rate") or 1_000_000
        self.burst = max(opt.get("burst") or 3000, sch.mtu + 14)
        self.tokens = self.burst
        self.t_last = sch.now
        sch.limit = opt.get("limit") or 100

    def enqueue(self, skb, sch, to_free):
        if sch.qlen >= sch.limit:
            return sch.drop(skb, to_free)
        self.q.push_back(skb)
        return NET_XMIT_SUCCESS

    def dequeue(self, sch):
        head = self.q.peek_front()
        if head is None:
            return None
        now = sch.now
        self.tokens = min(self.burst, self.tokens + (now - self.t_last) * self.rate // 8_000_000_000)
        self.t_last = now
        if head.len > self.tokens:
            return None  # bug: no sch.watchdog_schedule(now + time until enough tokens)
        self.tokens -= head.len
        return self.q.pop_front()

    def reset(self, sch):
        while (skb := self.q.pop_front()) is not None:
            sch.kfree_skb(skb)
        self.tokens = self.burst

    def destroy(self, sch):
        pass
