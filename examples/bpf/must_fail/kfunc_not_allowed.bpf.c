// SPDX-License-Identifier: MIT
/* MUST FAIL: a kfunc called from a callback whose allow-list lacks it.
 *
 * bpf_qdisc_watchdog_schedule may be called from enqueue and dequeue only;
 * this qdisc calls it from reset. The kernel refuses to load the program
 * ("calling kernel function ... is not allowed"); qdisclab names the kfunc
 * and the callback.
 */
#include "vmlinux.h"
#include "qdisclab_bpf.h"

char _license[] SEC("license") = "Dual MIT/GPL";

SEC("struct_ops/wd_enqueue")
int BPF_PROG(wd_enqueue, struct sk_buff *skb, struct Qdisc *sch, struct bpf_sk_buff_ptr *to_free)
{
	bpf_qdisc_skb_drop(skb, to_free);
	return NET_XMIT_DROP;
}

SEC("struct_ops/wd_dequeue")
struct sk_buff *BPF_PROG(wd_dequeue, struct Qdisc *sch)
{
	return NULL;
}

SEC("struct_ops/wd_init")
int BPF_PROG(wd_init, struct Qdisc *sch, struct nlattr *opt, struct netlink_ext_ack *extack)
{
	return 0;
}

SEC("struct_ops/wd_reset")
void BPF_PROG(wd_reset, struct Qdisc *sch)
{
	/* BUG: the watchdog is not a reset-time kfunc */
	bpf_qdisc_watchdog_schedule(sch, bpf_ktime_get_ns() + 1000000, 0);
}

SEC("struct_ops/wd_destroy")
void BPF_PROG(wd_destroy, struct Qdisc *sch)
{
}

SEC(".struct_ops.link")
struct Qdisc_ops wd = {
	.enqueue = (void *)wd_enqueue,
	.dequeue = (void *)wd_dequeue,
	.init = (void *)wd_init,
	.reset = (void *)wd_reset,
	.destroy = (void *)wd_destroy,
	.id = "bpf_wd_reset",
};
