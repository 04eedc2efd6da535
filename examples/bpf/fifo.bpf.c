// SPDX-License-Identifier: MIT
/* A FIFO qdisc written in BPF for qdisclab.
 *
 * Each queued packet rides in a node the program allocates (bpf_obj_new):
 * the skb is moved into the node's __kptr field with bpf_kptr_xchg, the node
 * is linked on a list guarded by a spin lock, and dequeue takes the oldest
 * node back out. The same object loads on a kernel with CONFIG_NET_SCH_BPF.
 *
 *   qdisclab bpf build examples/bpf/fifo.bpf.c
 *   qdisclab bpf inspect examples/bpf/fifo.bpf.o
 */
#include "vmlinux.h"
#include "qdisclab_bpf.h"

char _license[] SEC("license") = "Dual MIT/GPL";

struct fifo_node {
	struct bpf_list_node link;
	struct sk_buff __kptr *skb;
};

private(fifo) struct bpf_spin_lock fifo_lock;
private(fifo) struct bpf_list_head fifo_queue __contains(fifo_node, link);

/* Remove the oldest node and return its skb (owned by the caller), or NULL. */
static __always_inline struct sk_buff *fifo_pop(void)
{
	struct bpf_list_node *link;
	struct fifo_node *node;
	struct sk_buff *skb;

	bpf_spin_lock(&fifo_lock);
	link = bpf_list_pop_front(&fifo_queue);
	bpf_spin_unlock(&fifo_lock);
	if (!link)
		return NULL;
	node = container_of(link, struct fifo_node, link);
	skb = bpf_kptr_xchg(&node->skb, NULL);
	bpf_obj_drop(node);
	return skb;
}

SEC("struct_ops/fifo_enqueue")
int BPF_PROG(fifo_enqueue, struct sk_buff *skb, struct Qdisc *sch, struct bpf_sk_buff_ptr *to_free)
{
	struct fifo_node *node;
	__u32 len = skb->len;

	if (sch->q.qlen >= sch->limit)
		goto drop;
	node = bpf_obj_new(typeof(*node));
	if (!node)
		goto drop;
	skb = bpf_kptr_xchg(&node->skb, skb);
	if (skb) /* a fresh node holds no skb; the verifier wants the case handled */
		bpf_qdisc_skb_drop(skb, to_free);
	bpf_spin_lock(&fifo_lock);
	bpf_list_push_back(&fifo_queue, &node->link);
	bpf_spin_unlock(&fifo_lock);
	sch->qstats.backlog += len;
	sch->q.qlen++;
	return NET_XMIT_SUCCESS;
drop:
	bpf_qdisc_skb_drop(skb, to_free);
	return NET_XMIT_DROP;
}

SEC("struct_ops/fifo_dequeue")
struct sk_buff *BPF_PROG(fifo_dequeue, struct Qdisc *sch)
{
	struct sk_buff *skb = fifo_pop();

	if (!skb)
		return NULL;
	sch->qstats.backlog -= skb->len;
	sch->q.qlen--;
	return skb;
}

SEC("struct_ops/fifo_init")
int BPF_PROG(fifo_init, struct Qdisc *sch, struct nlattr *opt, struct netlink_ext_ack *extack)
{
	if (!sch->limit) /* no "limit N" option: the device's queue length, as pfifo */
		sch->limit = sch->dev_queue->dev->tx_queue_len;
	return 0;
}

SEC("struct_ops/fifo_reset")
void BPF_PROG(fifo_reset, struct Qdisc *sch)
{
	struct sk_buff *skb;
	int i;

	bpf_for(i, 0, sch->q.qlen) {
		skb = fifo_pop();
		if (!skb)
			break;
		bpf_kfree_skb(skb);
	}
	sch->q.qlen = 0;
	sch->qstats.backlog = 0;
}

SEC("struct_ops/fifo_destroy")
void BPF_PROG(fifo_destroy, struct Qdisc *sch)
{
}

SEC(".struct_ops.link")
struct Qdisc_ops fifo = {
	.enqueue = (void *)fifo_enqueue,
	.dequeue = (void *)fifo_dequeue,
	.init = (void *)fifo_init,
	.reset = (void *)fifo_reset,
	.destroy = (void *)fifo_destroy,
	.id = "bpf_fifo",
};
