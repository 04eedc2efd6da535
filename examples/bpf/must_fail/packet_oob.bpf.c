// SPDX-License-Identifier: MIT
/* MUST FAIL: a tc program reads packet data without checking data_end.
 *
 * It reads the IPv4 protocol byte at offset 9 of the packet without first
 * proving that 10 bytes are there. The kernel's verifier rejects the access
 * ("invalid access to packet"); in qdisclab the read faults out of bounds of
 * the packet region, reported with the instruction and source line.
 */
#include "vmlinux.h"
#include "qdisclab_bpf.h"

char _license[] SEC("license") = "Dual MIT/GPL";

SEC("tcx/ingress")
int drop_tcp_unchecked(struct __sk_buff *skb)
{
	__u8 *ip = (void *)(long)skb->data;

	return ip[9] == 6 ? TCX_DROP : TCX_NEXT; /* BUG: no data_end check */
}
