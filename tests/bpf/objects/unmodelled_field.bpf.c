// SPDX-License-Identifier: MIT
/* Fails to load: reads sk_buff->secmark, a field qdisclab does not model.
 * (A CO-RE "flavor" of sk_buff declares it, as a program built against the
 * real kernel's vmlinux.h would see it.) */
#include "vmlinux.h"
#include "qdisclab_bpf.h"

char _license[] SEC("license") = "Dual MIT/GPL";

struct sk_buff___kernel {
	__u32 len;
	__u32 secmark;
} __attribute__((preserve_access_index));

SEC("struct_ops/secmark_enqueue")
int BPF_PROG(secmark_enqueue, struct sk_buff *skb, struct Qdisc *sch,
	     struct bpf_sk_buff_ptr *to_free)
{
	struct sk_buff___kernel *k = (void *)skb;

	if (k->secmark)
		sch->limit = k->len;
	bpf_qdisc_skb_drop(skb, to_free);
	return NET_XMIT_DROP;
}
