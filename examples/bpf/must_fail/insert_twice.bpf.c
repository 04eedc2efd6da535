// SPDX-License-Identifier: MIT
/* MUST FAIL: enqueue inserts the same skb into the queue twice.
 *
 * The first bpf_kptr_xchg moves the skb into a node; the program then moves
 * its saved copy of the pointer into a second node. The kernel's verifier
 * rejects the second use of a released reference; qdisclab reports that the
 * skb is already owned by the queue.
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

static __always_inline int queue_skb(struct sk_buff *skb, struct bpf_sk_buff_ptr *to_free)
{
	struct pkt *p = bpf_obj_new(typeof(*p));

	if (!p)
		return -1;
	skb = bpf_kptr_xchg(&p->skb, skb);
	if (skb)
		bpf_qdisc_skb_drop(skb, to_free);
	bpf_spin_lock(&q_lock);
	bpf_list_push_back(&q_list, &p->link);
	bpf_spin_unlock(&q_lock);
	return 0;
}

SEC("struct_ops/twice_enqueue")
int BPF_PROG(twice_enqueue, struct sk_buff *skb, struct Qdisc *sch, struct bpf_sk_buff_ptr *to_free)
{
	struct sk_buff *again = skb;

	if (queue_skb(skb, to_free)) {
		bpf_qdisc_skb_drop(skb, to_free);
		return NET_XMIT_DROP;
	}
	queue_skb(again, to_free); /* BUG: the queue already owns this skb */
	return NET_XMIT_SUCCESS;
}

SEC("struct_ops/twice_dequeue")
struct sk_buff *BPF_PROG(twice_dequeue, struct Qdisc *sch)
{
	struct bpf_list_node *n;
	struct sk_buff *skb;
	struct pkt *p;

	bpf_spin_lock(&q_lock);
	n = bpf_list_pop_front(&q_list);
	bpf_spin_unlock(&q_lock);
	if (!n)
		return NULL;
	p = container_of(n, struct pkt, link);
	skb = bpf_kptr_xchg(&p->skb, NULL);
	bpf_obj_drop(p);
	return skb;
}

SEC("struct_ops/twice_init")
int BPF_PROG(twice_init, struct Qdisc *sch, struct nlattr *opt, struct netlink_ext_ack *extack)
{
	return 0;
}

SEC("struct_ops/twice_reset")
void BPF_PROG(twice_reset, struct Qdisc *sch)
{
}

SEC("struct_ops/twice_destroy")
void BPF_PROG(twice_destroy, struct Qdisc *sch)
{
}

SEC(".struct_ops.link")
struct Qdisc_ops twice = {
	.enqueue = (void *)twice_enqueue,
	.dequeue = (void *)twice_dequeue,
	.init = (void *)twice_init,
	.reset = (void *)twice_reset,
	.destroy = (void *)twice_destroy,
	.id = "bpf_twice",
};
