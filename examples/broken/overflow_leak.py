"""overflow_leak: an SFQ-like qdisc that, when full, takes a packet off its longest flow and forgets it.

The overflow path runs only once the queue holds ``limit`` packets (127 by
default, as sfq's), so a check that never fills the queue never sees it.
Making room, it pops the tail of the longest flow's list (as sfq's
``sfq_drop``) but neither drops nor frees that packet: the reference is lost,
as ``struct_ops_refcounted_fail__ref_leak`` is refused by the verifier
("Unreleased reference"). ``qdisclab check`` fills the queue past its default
limit and reports an ownership violation: "enqueue returned while still
owning an skb it did not queue or drop (leak ...)".
"""

from collections import deque

from qdisclab.ops import SkbList
from qdisclab.sched import NET_XMIT_SUCCESS, Opt, QdiscOps


class OverflowLeak(QdiscOps):
    id = "ex_ovleak"
    options = {
        "limit": Opt("count", 127, "packets queued at most"),
        "flows": Opt("int", 128, "hash buckets"),
    }

    def init(self, sch, opt):
        sch.limit = opt.get("limit") or 127
        self.nbuckets = opt.get("flows") or 128
        self.buckets = {}  # bucket -> SkbList
        self.active = deque()  # buckets with packets, served round-robin

    def enqueue(self, skb, sch, to_free):
        if sch.qlen >= sch.limit:
            longest = max(self.active, key=lambda b: len(self.buckets[b]))
            victim = self.buckets[longest].pop_back()  # bug: popped, never dropped nor freed
            if not self.buckets[longest]:
                self.active.remove(longest)
            del victim
        b = sch.skb_get_hash(skb) % self.nbuckets
        q = self.buckets.setdefault(b, SkbList())
        if not q:
            self.active.append(b)
        q.push_back(skb)
        return NET_XMIT_SUCCESS

    def dequeue(self, sch):
        if not self.active:
            return None
        b = self.active.popleft()
        q = self.buckets[b]
        skb = q.pop_front()
        if q:
            self.active.append(b)
        return skb

    def reset(self, sch):
        for q in self.buckets.values():
            while (skb := q.pop_front()) is not None:
                sch.kfree_skb(skb)
        self.active.clear()

    def destroy(self, sch):
        pass
