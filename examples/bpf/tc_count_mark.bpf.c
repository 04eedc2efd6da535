// SPDX-License-Identifier: MIT
/* A tc program pair for qdisclab: ingress counts, egress marks.
 *
 * count_ingress counts packets and bytes, and TCP segments among them (read
 * from the IPv4 header, bounds-checked against data_end); mark_egress sets
 * skb->mark on large packets and raises the priority of small ones. Both
 * return TCX_NEXT so the programs after them in the chain run too.
 *
 *   qdisclab bpf build examples/bpf/tc_count_mark.bpf.c
 */
#include "vmlinux.h"
#include "qdisclab_bpf.h"

char _license[] SEC("license") = "Dual MIT/GPL";

#define IPPROTO_TCP 6
#define MARK_LARGE 0x2a
#define LARGE_PACKET 1000
#define TC_PRIO_INTERACTIVE 6

enum { STAT_PACKETS, STAT_BYTES, STAT_TCP, STAT_MARKED, STAT_MAX };

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, __u64);
	__uint(max_entries, STAT_MAX);
} tc_stats SEC(".maps");

static __always_inline void count(__u32 what, __u64 n)
{
	__u64 *slot = bpf_map_lookup_elem(&tc_stats, &what);

	if (slot)
		__sync_fetch_and_add(slot, n);
}

SEC("tcx/ingress")
int count_ingress(struct __sk_buff *skb)
{
	void *data = (void *)(long)skb->data;
	void *data_end = (void *)(long)skb->data_end;
	__u8 *ip = data;

	count(STAT_PACKETS, 1);
	count(STAT_BYTES, skb->len);
	/* The IPv4 header, if the packet carries one: protocol is byte 9. */
	if (data + 20 <= data_end && (ip[0] >> 4) == 4 && ip[9] == IPPROTO_TCP)
		count(STAT_TCP, 1);
	return TCX_NEXT;
}

SEC("tcx/egress")
int mark_egress(struct __sk_buff *skb)
{
	if (skb->len > LARGE_PACKET) {
		skb->mark = MARK_LARGE;
		count(STAT_MARKED, 1);
	} else {
		skb->priority = TC_PRIO_INTERACTIVE;
	}
	return TCX_NEXT;
}
