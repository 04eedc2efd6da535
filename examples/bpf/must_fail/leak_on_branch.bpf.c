// SPDX-License-Identifier: MIT
/* MUST FAIL: enqueue leaks the skb on one branch.
 *
 * Packets longer than 1000 bytes are neither queued nor dropped: enqueue
 * returns NET_XMIT_SUCCESS still owning them. The kernel's verifier rejects
 * this ("Unreleased reference"); qdisclab reports the leak naming the
 * program, callback, instruction and source line.
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

SEC("struct_ops/leak_enqueue")
int BPF_PROG(leak_enqueue, struct sk_buff *skb, struct Qdisc *sch, struct bpf_sk_buff_ptr *to_free)
{
	struct pkt *p;

	if (skb->len > 1000)
		return NET_XMIT_SUCCESS; /* BUG: the skb is still ours and goes nowhere */
	p = bpf_obj_new(typeof(*p));
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

SEC("struct_ops/leak_dequeue")
struct sk_buff *BPF_PROG(leak_dequeue, struct Qdisc *sch)
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

SEC("struct_ops/leak_init")
int BPF_PROG(leak_init, struct Qdisc *sch, struct nlattr *opt, struct netlink_ext_ack *extack)
{
	return 0;
}

SEC("struct_ops/leak_reset")
void BPF_PROG(leak_reset, struct Qdisc *sch)
{
}

SEC("struct_ops/leak_destroy")
void BPF_PROG(leak_destroy, struct Qdisc *sch)
{
}

SEC(".struct_ops.link")
struct Qdisc_ops leak = {
	.enqueue = (void *)leak_enqueue,
	.dequeue = (void *)leak_dequeue,
	.init = (void *)leak_init,
	.reset = (void *)leak_reset,
	.destroy = (void *)leak_destroy,
	.id = "bpf_leak",
};
