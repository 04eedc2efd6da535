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
#include "list_queue.h"

char _license[] SEC("license") = "Dual MIT/GPL";

SEC("struct_ops/leak_enqueue")
int BPF_PROG(leak_enqueue, struct sk_buff *skb, struct Qdisc *sch, struct bpf_sk_buff_ptr *to_free)
{
	if (skb->len > 1000)
		return NET_XMIT_SUCCESS; /* BUG: the skb is still ours and goes nowhere */
	if (queue_skb(skb, to_free)) {
		bpf_qdisc_skb_drop(skb, to_free);
		return NET_XMIT_DROP;
	}
	return NET_XMIT_SUCCESS;
}

SEC("struct_ops/leak_dequeue")
struct sk_buff *BPF_PROG(leak_dequeue, struct Qdisc *sch)
{
	return dequeue_oldest();
}

LIST_QUEUE_OPS(leak, "bpf_leak");
