"""missing_init: no ``init`` member, so registration fails with EINVAL.

Mirrors ``bpf_qdisc_fail__incompl_ops.c`` (bpf-qdisc spec §3.1): the
struct_ops map has enqueue/dequeue/reset/destroy but no ``.init``;
``bpf_qdisc_validate`` returns -EINVAL at attach, because without init the
prologue that sets up the watchdog never runs. ``qdisclab check`` reports a
registration finding: "EINVAL: Qdisc_ops MissingInit: mandatory member 'init'
is missing".
"""

from qdisclab.ops import SkbList
from qdisclab.sched import NET_XMIT_SUCCESS, QdiscOps


class MissingInit(QdiscOps):
    id = "ex_noinit"

    q = None

    def enqueue(self, skb, sch, to_free):
        if self.q is None:
            self.q = SkbList()
        self.q.push_back(skb)
        return NET_XMIT_SUCCESS

    def dequeue(self, sch):
        return self.q.pop_front() if self.q is not None else None

    def reset(self, sch):
        while self.q is not None and (skb := self.q.pop_front()) is not None:
            sch.kfree_skb(skb)

    def destroy(self, sch):
        pass
