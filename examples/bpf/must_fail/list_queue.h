/* SPDX-License-Identifier: MIT
 * The correct parts the must-fail qdiscs share, so each program shows only
 * its one mistake: a list of skb nodes under a lock, queue_skb() to put an
 * owned skb on it, dequeue_oldest() to take one off, and LIST_QUEUE_OPS()
 * for empty init/reset/destroy programs and the struct_ops table.
 */
#ifndef MUST_FAIL_LIST_QUEUE_H
#define MUST_FAIL_LIST_QUEUE_H

struct pkt {
	struct bpf_list_node link;
	struct sk_buff __kptr *skb;
};

private(q) struct bpf_spin_lock q_lock;
private(q) struct bpf_list_head q_list __contains(pkt, link);

/* Queue an owned skb: 0 on success, -1 (skb still owned by the caller) without memory. */
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

static __always_inline struct sk_buff *dequeue_oldest(void)
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

#define LIST_QUEUE_OPS(name, kind)                                                   \
	SEC("struct_ops/" #name "_init")                                             \
	int BPF_PROG(name##_init, struct Qdisc *sch, struct nlattr *opt,             \
		     struct netlink_ext_ack *extack)                                 \
	{                                                                            \
		return 0;                                                            \
	}                                                                            \
	SEC("struct_ops/" #name "_reset")                                            \
	void BPF_PROG(name##_reset, struct Qdisc *sch)                               \
	{                                                                            \
	}                                                                            \
	SEC("struct_ops/" #name "_destroy")                                          \
	void BPF_PROG(name##_destroy, struct Qdisc *sch)                             \
	{                                                                            \
	}                                                                            \
	SEC(".struct_ops.link")                                                      \
	struct Qdisc_ops name = {                                                    \
		.enqueue = (void *)name##_enqueue,                                   \
		.dequeue = (void *)name##_dequeue,                                   \
		.init = (void *)name##_init,                                         \
		.reset = (void *)name##_reset,                                       \
		.destroy = (void *)name##_destroy,                                   \
		.id = kind,                                                          \
	}

#endif
