"""unsupported_op: defines ``peek`` and ``dump``, members Qdisc_ops does not open to BPF.

Mirrors the verifier's refusal of a program for an unsupported member
(bpf-qdisc spec §1, the ops table: no CFI stub, so
``bpf_struct_ops_supported()`` returns -ENOTSUPP, "attach to unsupported
member ... of struct Qdisc_ops"). ``qdisclab check`` reports a registration
finding: "ENOTSUPP: Qdisc_ops UnsupportedOp: member 'peek' is not supported".
"""

from qdisclab.ops import SkbList
from qdisclab.sched import NET_XMIT_SUCCESS, QdiscOps


class UnsupportedOp(QdiscOps):
    id = "ex_unsupp"

    def init(self, sch, opt):
        self.q = SkbList()

    def enqueue(self, skb, sch, to_free):
        self.q.push_back(skb)
        return NET_XMIT_SUCCESS

    def dequeue(self, sch):
        return self.q.pop_front()

    def peek(self, sch):  # bug: peek is always the generic qdisc_peek_dequeued
        return self.q.peek_front()

    def dump(self, sch, skb):  # bug: dump is not open to extensions
        return 0

    def reset(self, sch):
        while (skb := self.q.pop_front()) is not None:
            sch.kfree_skb(skb)

    def destroy(self, sch):
        pass
