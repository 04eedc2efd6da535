"""stuck: a rate limiter that holds packets, returns None and never arms the watchdog.

No kernel selftest can catch this one (the verifier checks references, not
liveness); it mirrors the contract the spec states for non-work-conserving
qdiscs (bpf-qdisc spec §2, ``bpf_qdisc_watchdog_schedule``: a dequeue that
returns NULL while holding packets must arm the watchdog, or the device is
never scheduled again). Here the "budget" is only refilled by enqueue, so once
it runs out with packets queued nothing ever releases them. ``qdisclab check``
reports "stuck": "qdisc holds N packets ... but dequeue returns None and no
watchdog is armed, even after advance(1s)".
"""

from qdisclab.ops import SkbList
from qdisclab.sched import NET_XMIT_SUCCESS, QdiscOps


class Stuck(QdiscOps):
    id = "ex_stuck"

    def init(self, sch, opt):
        self.q = SkbList()
        self.budget = 0  # bytes we may still send

    def enqueue(self, skb, sch, to_free):
        self.budget += 500  # bug: tokens only arrive with packets, never with time
        self.q.push_back(skb)
        return NET_XMIT_SUCCESS

    def dequeue(self, sch):
        head = self.q.peek_front()
        if head is None or head.len > self.budget:
            return None  # bug: no sch.watchdog_schedule(...)
        self.budget -= head.len
        return self.q.pop_front()

    def reset(self, sch):
        while (skb := self.q.pop_front()) is not None:
            sch.kfree_skb(skb)
        self.budget = 0

    def destroy(self, sch):
        pass
