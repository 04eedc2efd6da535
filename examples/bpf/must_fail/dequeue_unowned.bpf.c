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

char _license[] SEC("license") = "Dual MIT/GPL";

struct pkt {
	struct bpf_list_node link;
	struct sk_buff __kptr *skb;
};

private(q) struct bpf_spin_lock q_lock;
private(q) struct bpf_list_head q_list __contains(pkt, link);

SEC("struct_ops/peek_enqueue")
int BPF_PROG(peek_enqueue, struct sk_buff *skb, struct Qdisc *sch, struct bpf_sk_buff_ptr *to_free)
{
	struct pkt *p = bpf_obj_new(typeof(*p));

	if (!p) {
		bpf_qdisc_skb_drop(skb, to_free);
		return NET_XMIT_DROP;
	}
	skb = bpf_kptr_xchg(&p->skb, skb);
	if (skb)
		bpf_qdisc_skb_drop(skb, to_free);
	bpf_spin_lock(&q_lock);
	bpf_list_push_back(&q_list, &p->link);
	bpf_spin_unlock(&q_lock);
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

SEC("struct_ops/peek_init")
int BPF_PROG(peek_init, struct Qdisc *sch, struct nlattr *opt, struct netlink_ext_ack *extack)
{
	return 0;
}

SEC("struct_ops/peek_reset")
void BPF_PROG(peek_reset, struct Qdisc *sch)
{
}

SEC("struct_ops/peek_destroy")
void BPF_PROG(peek_destroy, struct Qdisc *sch)
{
}

SEC(".struct_ops.link")
struct Qdisc_ops peek = {
	.enqueue = (void *)peek_enqueue,
	.dequeue = (void *)peek_dequeue,
	.init = (void *)peek_init,
	.reset = (void *)peek_reset,
	.destroy = (void *)peek_destroy,
	.id = "bpf_peek",
};
