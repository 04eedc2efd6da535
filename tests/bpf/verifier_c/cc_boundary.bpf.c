// SPDX-License-Identifier: MIT
/* A small Reno-like congestion control whose variants sit on the verifier's rules.
 *
 * Built by tests/bpf/test_verifier_host_objects.py with one BUG_* defined
 * (or none) and verified by qdisclab and, as root, by the host kernel.
 */
#include "vmlinux.h"
#include "qdisclab_bpf.h"

char _license[] SEC("license") = "Dual MIT/GPL";

static __always_inline struct tcp_sock *tcp_sk(struct sock *sk)
{
	return (struct tcp_sock *)sk;
}

static __always_inline __u64 *ca_priv(struct sock *sk)
{
	return (__u64 *)((struct inet_connection_sock *)sk)->icsk_ca_priv;
}

SEC("struct_ops/bnd_init")
void BPF_PROG(bnd_init, struct sock *sk)
{
	__u64 *priv = ca_priv(sk);

	priv[0] = tcp_sk(sk)->snd_cwnd;
#ifdef BUG_PRIV_LAST
	priv[12] = 1; /* the last word of icsk_ca_priv */
#endif
#ifdef BUG_PRIV_PAST
	priv[13] = 1; /* one word past icsk_ca_priv */
#endif
}

SEC("struct_ops/bnd_ssthresh")
__u32 BPF_PROG(bnd_ssthresh, struct sock *sk)
{
	__u32 cwnd = tcp_sk(sk)->snd_cwnd;

#ifdef BUG_LOOP_FOREVER
	while (*(volatile __u32 *)&tcp_sk(sk)->snd_cwnd != 7)
		;
#endif
#ifdef BUG_LOOP_BOUNDED
	int i;

	bpf_for(i, 0, 8)
		cwnd += i & 1;
#endif
	return cwnd / 2 > 2 ? cwnd / 2 : 2;
}

SEC("struct_ops/bnd_cong_avoid")
void BPF_PROG(bnd_cong_avoid, struct sock *sk, __u32 ack, __u32 acked)
{
#ifdef BUG_WRITE_READ_ONLY
	tcp_sk(sk)->snd_una = ack; /* not a field a congestion control may write */
#endif
#ifdef BUG_SCALAR_AS_SOCK
	tcp_reno_cong_avoid((struct sock *)(unsigned long)ack, ack, acked);
#else
	tcp_reno_cong_avoid(sk, ack, acked);
#endif
}

SEC("struct_ops/bnd_undo_cwnd")
__u32 BPF_PROG(bnd_undo_cwnd, struct sock *sk)
{
	return tcp_reno_undo_cwnd(sk);
}

SEC(".struct_ops")
struct tcp_congestion_ops bnd = {
	.init = (void *)bnd_init,
	.ssthresh = (void *)bnd_ssthresh,
	.cong_avoid = (void *)bnd_cong_avoid,
	.undo_cwnd = (void *)bnd_undo_cwnd,
	.name = "bpf_bnd",
};
