// SPDX-License-Identifier: MIT
/* Fails to load: calls a kfunc no kernel (and not qdisclab) provides. */
#include "vmlinux.h"
#include "qdisclab_bpf.h"

char _license[] SEC("license") = "Dual MIT/GPL";

extern void bpf_qdisc_teleport(struct sk_buff *skb) __ksym;

SEC("tcx/ingress")
int teleport(struct __sk_buff *ctx)
{
	bpf_qdisc_teleport(NULL);
	return TCX_NEXT;
}
