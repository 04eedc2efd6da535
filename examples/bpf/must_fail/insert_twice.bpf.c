// SPDX-License-Identifier: MIT
/* MUST FAIL: enqueue inserts the same skb into the queue twice.
 *
 * The first queue_skb moves the skb into a node; the program then queues its
 * saved copy of the pointer again. The kernel's verifier rejects the second
 * use of a released reference; qdisclab reports that the skb is already
 * owned by the queue.
 */
#include "vmlinux.h"
#include "qdisclab_bpf.h"
#include "list_queue.h"

char _license[] SEC("license") = "Dual MIT/GPL";

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
	return dequeue_oldest();
}

LIST_QUEUE_OPS(twice, "bpf_twice");
