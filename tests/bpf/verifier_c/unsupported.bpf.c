// SPDX-License-Identifier: MIT
/* A qdisc that drops every packet, and variants using what the verifier does not model.
 *
 * Built by tests/bpf/test_verifier_unsupported.py with one USE_* defined.
 */
#include "vmlinux.h"
#include "qdisclab_bpf.h"

char _license[] SEC("license") = "Dual MIT/GPL";

static long (*bpf_for_each_map_elem)(void *map, void *callback_fn, void *callback_ctx,
				     __u64 flags) = (void *)164;

struct node {
	struct bpf_refcount ref;
	__u64 value;
};

#ifdef USE_GLOBAL_FUNC
__noinline int global_len(__u32 len)
{
	return len > 1000;
}
#endif

SEC("struct_ops/nope_enqueue")
int BPF_PROG(nope_enqueue, struct sk_buff *skb, struct Qdisc *sch, struct bpf_sk_buff_ptr *to_free)
{
#ifdef USE_DYNPTR
	struct bpf_dynptr d;

	bpf_dynptr_from_skb((void *)skb, 0, &d);
#endif
#ifdef USE_REFCOUNT
	struct node *n = bpf_obj_new(typeof(*n));
	struct node *m;

	if (n) {
		m = bpf_refcount_acquire(n);
		if (m)
			bpf_obj_drop(m);
		bpf_obj_drop(n);
	}
#endif
#ifdef USE_FOR_EACH
	bpf_for_each_map_elem(NULL, NULL, NULL, 0);
#endif
#ifdef USE_GLOBAL_FUNC
	if (global_len(skb->len))
		sch->qstats.overlimits++;
#endif
	bpf_qdisc_skb_drop(skb, to_free);
	return NET_XMIT_DROP;
}

SEC("struct_ops/nope_dequeue")
struct sk_buff *BPF_PROG(nope_dequeue, struct Qdisc *sch)
{
	return NULL;
}

SEC("struct_ops/nope_init")
int BPF_PROG(nope_init, struct Qdisc *sch, struct nlattr *opt, struct netlink_ext_ack *extack)
{
	return 0;
}

SEC("struct_ops/nope_reset")
void BPF_PROG(nope_reset, struct Qdisc *sch)
{
}

SEC(".struct_ops.link")
struct Qdisc_ops nope = {
	.enqueue = (void *)nope_enqueue,
	.dequeue = (void *)nope_dequeue,
	.init = (void *)nope_init,
	.reset = (void *)nope_reset,
	.id = "bpf_nope",
};
