// SPDX-License-Identifier: MIT
/* MUST FAIL: dequeue returns an skb it does not own.
 *
 * Instead of taking the oldest node off the list and moving its skb out with
 * bpf_kptr_xchg, dequeue peeks at the list front and returns the skb the node
 * still holds. The kernel's verifier rejects returning a pointer that is not
 * an acquired reference; qdisclab reports a dangling skb still in the queue.
 */
#include "vmlinux.h"
#include "qdisclab_bpf.h"
#include "list_queue.h"

char _license[] SEC("license") = "Dual MIT/GPL";

SEC("struct_ops/peek_enqueue")
int BPF_PROG(peek_enqueue, struct sk_buff *skb, struct Qdisc *sch, struct bpf_sk_buff_ptr *to_free)
{
	if (queue_skb(skb, to_free)) {
		bpf_qdisc_skb_drop(skb, to_free);
		return NET_XMIT_DROP;
	}
	return NET_XMIT_SUCCESS;
}

SEC("struct_ops/peek_dequeue")
struct sk_buff *BPF_PROG(peek_dequeue, struct Qdisc *sch)
{
	struct bpf_list_node *n;
	struct sk_buff *skb = NULL;
	struct pkt *p;

	bpf_spin_lock(&q_lock);
	n = bpf_list_front(&q_list);
	if (n) {
		p = container_of(n, struct pkt, link);
		skb = p->skb; /* BUG: the node (and so the queue) still owns it */
	}
	bpf_spin_unlock(&q_lock);
	return skb;
}

LIST_QUEUE_OPS(peek, "bpf_peek");
