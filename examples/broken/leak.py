"""leak: enqueue keeps the skb in a plain attribute, neither queued nor dropped.

Mirrors the kernel's ``struct_ops_refcounted_fail__ref_leak`` (bpf-qdisc spec
§3.2 rule 2): an enqueue that exits still holding its ``skb__ref`` reference is
refused with "Unreleased reference id=... alloc_insn=...". qdisclab's
ownership checker stops it at run time: ``qdisclab check`` reports an
ownership violation "enqueue returned while still owning its skb (leak ...)".
"""

from qdisclab.ops import SkbList
from qdisclab.sched import NET_XMIT_SUCCESS, QdiscOps


class Leak(QdiscOps):
    id = "ex_leak"

    def init(self, sch, opt):
        self.q = SkbList()
        self.last = None

    def enqueue(self, skb, sch, to_free):
        self.last = skb  # bug: stashed, never pushed into self.q nor dropped
        return NET_XMIT_SUCCESS

    def dequeue(self, sch):
        return self.q.pop_front()

    def reset(self, sch):
        while (skb := self.q.pop_front()) is not None:
            sch.kfree_skb(skb)

    def destroy(self, sch):
        pass
