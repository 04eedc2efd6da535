// SPDX-License-Identifier: MIT
/* A FIFO whose nodes are shared: each is in a list (arrival order) and an
 * rbtree (by length) at once, through a second reference from
 * bpf_refcount_acquire. Dequeue pops the oldest from the list, removes it
 * from the tree and drops both references; the second drop frees it.
 *
 * Run by tests/bpf/test_refcount.py; rebuilt and compared by test_build.py.
 */
#include "vmlinux.h"
#include "qdisclab_bpf.h"

char _license[] SEC("license") = "Dual MIT/GPL";

struct shared_node {
	struct bpf_refcount ref;
	struct bpf_list_node link;
	struct bpf_rb_node rb;
	__u32 len;
	struct sk_buff __kptr *skb;
};

private(q) struct bpf_spin_lock lock;
private(q) struct bpf_list_head queue __contains(shared_node, link);
private(q) struct bpf_rb_root by_len __contains(shared_node, rb);

static bool shorter(struct bpf_rb_node *a, const struct bpf_rb_node *b)
{
	return container_of(a, struct shared_node, rb)->len <
	       container_of(b, struct shared_node, rb)->len;
}

SEC("struct_ops/shared_enqueue")
int BPF_PROG(shared_enqueue, struct sk_buff *skb, struct Qdisc *sch,
	     struct bpf_sk_buff_ptr *to_free)
{
	struct shared_node *node, *other;
	__u32 len = skb->len;

	if (sch->q.qlen >= sch->limit)
		goto drop;
	node = bpf_obj_new(typeof(*node));
	if (!node)
		goto drop;
	node->len = len;
	skb = bpf_kptr_xchg(&node->skb, skb);
	if (skb)
		bpf_qdisc_skb_drop(skb, to_free);
	other = bpf_refcount_acquire(node);
	if (!other) {
		bpf_obj_drop(node);
		return NET_XMIT_DROP;
	}
	bpf_spin_lock(&lock);
	bpf_list_push_back(&queue, &node->link);
	bpf_rbtree_add(&by_len, &other->rb, shorter);
	bpf_spin_unlock(&lock);
	sch->qstats.backlog += len;
	sch->q.qlen++;
	return NET_XMIT_SUCCESS;
drop:
	bpf_qdisc_skb_drop(skb, to_free);
	return NET_XMIT_DROP;
}

SEC("struct_ops/shared_dequeue")
struct sk_buff *BPF_PROG(shared_dequeue, struct Qdisc *sch)
{
	struct bpf_list_node *link;
	struct bpf_rb_node *rb;
	struct shared_node *node;
	struct sk_buff *skb;

	bpf_spin_lock(&lock);
	link = bpf_list_pop_front(&queue);
	if (!link) {
		bpf_spin_unlock(&lock);
		return NULL;
	}
	node = container_of(link, struct shared_node, link);
	rb = bpf_rbtree_remove(&by_len, &node->rb);
	bpf_spin_unlock(&lock);
	skb = bpf_kptr_xchg(&node->skb, NULL);
	bpf_obj_drop(node);
	if (rb)
		bpf_obj_drop(container_of(rb, struct shared_node, rb));
	if (!skb)
		return NULL;
	sch->qstats.backlog -= skb->len;
	sch->q.qlen--;
	return skb;
}

SEC("struct_ops/shared_init")
int BPF_PROG(shared_init, struct Qdisc *sch, struct nlattr *opt, struct netlink_ext_ack *extack)
{
	if (!sch->limit)
		sch->limit = sch->dev_queue->dev->tx_queue_len;
	return 0;
}

SEC("struct_ops/shared_reset")
void BPF_PROG(shared_reset, struct Qdisc *sch)
{
}

SEC(".struct_ops.link")
struct Qdisc_ops shared = {
	.enqueue = (void *)shared_enqueue,
	.dequeue = (void *)shared_dequeue,
	.init = (void *)shared_init,
	.reset = (void *)shared_reset,
	.id = "bpf_shared",
};
