// SPDX-License-Identifier: MIT
/* A three-band priority qdisc in BPF, with child qdiscs (qdisclab's classful kfuncs).
 *
 * init creates a pfifo child per band at classes 1..3 of this qdisc's handle;
 * enqueue picks the band from skb->priority through the priomap of Linux's
 * prio qdisc and hands the skb to that child; dequeue serves the lowest band
 * that has a packet.
 *
 *   qdisclab bpf build examples/bpf/prio.bpf.c
 */
#include "vmlinux.h"
#include "qdisclab_bpf.h"

char _license[] SEC("license") = "Dual MIT/GPL";

#define PRIO_BANDS 3

/* skb->priority (TC_PRIO_*) -> band, as prio's default priomap. */
static const __u8 prio2band[16] = { 1, 2, 2, 2, 1, 2, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1 };

static __always_inline __u32 band_class(struct Qdisc *sch, __u32 band)
{
	return TC_H_MAKE(sch->handle, band + 1);
}

SEC("struct_ops/prio_enqueue")
int BPF_PROG(prio_enqueue, struct sk_buff *skb, struct Qdisc *sch, struct bpf_sk_buff_ptr *to_free)
{
	__u32 len = skb->len;
	__u32 band = prio2band[skb->priority & 15];
	int ret;

	ret = bpf_qdisc_enqueue(skb, sch, band_class(sch, band), to_free);
	if (ret == NET_XMIT_SUCCESS) {
		sch->q.qlen++;
		sch->qstats.backlog += len;
	}
	return ret;
}

SEC("struct_ops/prio_dequeue")
struct sk_buff *BPF_PROG(prio_dequeue, struct Qdisc *sch)
{
	struct sk_buff *skb;
	__u32 band;

	for (band = 0; band < PRIO_BANDS; band++) {
		skb = bpf_qdisc_dequeue(sch, band_class(sch, band));
		if (skb) {
			sch->q.qlen--;
			sch->qstats.backlog -= skb->len;
			return skb;
		}
	}
	return NULL;
}

SEC("struct_ops/prio_init")
int BPF_PROG(prio_init, struct Qdisc *sch, struct nlattr *opt, struct netlink_ext_ack *extack)
{
	__u32 band;
	int err;

	for (band = 0; band < PRIO_BANDS; band++) {
		err = bpf_qdisc_create_child(sch, band + 1, "pfifo");
		if (err)
			return err;
	}
	return 0;
}

SEC("struct_ops/prio_reset")
void BPF_PROG(prio_reset, struct Qdisc *sch)
{
	/* The children are reset with this qdisc; only its own counters remain. */
	sch->q.qlen = 0;
	sch->qstats.backlog = 0;
}

SEC("struct_ops/prio_destroy")
void BPF_PROG(prio_destroy, struct Qdisc *sch)
{
}

SEC(".struct_ops.link")
struct Qdisc_ops prio = {
	.enqueue = (void *)prio_enqueue,
	.dequeue = (void *)prio_dequeue,
	.init = (void *)prio_init,
	.reset = (void *)prio_reset,
	.destroy = (void *)prio_destroy,
	.id = "bpf_prio",
};
