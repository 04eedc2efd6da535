// SPDX-License-Identifier: MIT
/* DCTCP (RFC 8257) as a BPF tcp_congestion_ops for qdisclab.
 *
 * alpha, in 1/1024, is a moving average (gain 1/2^g) of the fraction of
 * delivered packets that were CE-marked, updated once per window of data;
 * on congestion cwnd shrinks by alpha/2. Without negotiated ECN it behaves
 * as Reno. State lives in the socket's icsk_ca_priv area.
 *
 *   qdisclab bpf build examples/bpf/dctcp.bpf.c
 */
#include "vmlinux.h"
#include "qdisclab_bpf.h"

char _license[] SEC("license") = "Dual MIT/GPL";

#define DCTCP_MAX_ALPHA 1024U
#define TCP_CLOSE 7
#define TCP_LISTEN 10

/* Module parameters of the kernel's dctcp, fixed at load time. */
const volatile __u32 dctcp_shift_g = 4;
const volatile __u32 dctcp_alpha_on_init = DCTCP_MAX_ALPHA;

struct dctcp {
	__u32 old_delivered;
	__u32 old_delivered_ce;
	__u32 prior_rcv_nxt;
	__u32 alpha;
	__u32 next_seq;
	__u32 ce_state;
	__u32 loss_cwnd;
	__u32 reno;     /* no ECN on this connection: Reno's rules */
	__u32 ca_state; /* the state set_state last announced */
};

static __always_inline struct tcp_sock *tcp_sk(struct sock *sk)
{
	return (struct tcp_sock *)sk;
}

static __always_inline struct dctcp *dctcp_of(struct sock *sk)
{
	return (void *)((struct inet_connection_sock *)sk)->icsk_ca_priv;
}

static __always_inline bool before(__u32 seq1, __u32 seq2)
{
	return (__s32)(seq1 - seq2) < 0;
}

static __always_inline void dctcp_start_window(struct tcp_sock *tp, struct dctcp *ca)
{
	ca->next_seq = tp->snd_nxt;
	ca->old_delivered = tp->delivered;
	ca->old_delivered_ce = tp->delivered_ce;
}

SEC("struct_ops/dctcp_init")
void BPF_PROG(dctcp_init, struct sock *sk)
{
	struct tcp_sock *tp = tcp_sk(sk);
	struct dctcp *ca = dctcp_of(sk);
	__u8 state = sk->__sk_common.skc_state;

	ca->ca_state = TCP_CA_Open;
	if ((tp->ecn_flags & TCP_ECN_OK) || state == TCP_LISTEN || state == TCP_CLOSE) {
		ca->prior_rcv_nxt = tp->rcv_nxt;
		ca->alpha = dctcp_alpha_on_init < DCTCP_MAX_ALPHA ? dctcp_alpha_on_init
								 : DCTCP_MAX_ALPHA;
		ca->loss_cwnd = 0;
		ca->ce_state = 0;
		ca->reno = 0;
		dctcp_start_window(tp, ca);
		return;
	}
	ca->reno = 1;
}

SEC("struct_ops/dctcp_ssthresh")
__u32 BPF_PROG(dctcp_ssthresh, struct sock *sk)
{
	struct tcp_sock *tp = tcp_sk(sk);
	struct dctcp *ca = dctcp_of(sk);
	__u32 cwnd = tp->snd_cwnd, reduced;

	if (ca->reno)
		return tcp_reno_ssthresh(sk);
	ca->loss_cwnd = cwnd;
	reduced = cwnd - ((cwnd * ca->alpha) >> 11U);
	return reduced > 2 ? reduced : 2;
}

SEC("struct_ops/dctcp_cong_avoid")
void BPF_PROG(dctcp_cong_avoid, struct sock *sk, __u32 ack, __u32 acked)
{
	tcp_reno_cong_avoid(sk, ack, acked);
}

/* Once per window: fold the CE-marked fraction of what was delivered into alpha. */
SEC("struct_ops/dctcp_in_ack_event")
void BPF_PROG(dctcp_in_ack_event, struct sock *sk, __u32 flags)
{
	struct tcp_sock *tp = tcp_sk(sk);
	struct dctcp *ca = dctcp_of(sk);
	__u32 delivered, delivered_ce, alpha, dec;

	if (ca->reno || before(tp->snd_una, ca->next_seq))
		return;
	delivered = tp->delivered - ca->old_delivered;
	delivered_ce = tp->delivered_ce - ca->old_delivered_ce;
	alpha = ca->alpha;
	dec = alpha >> dctcp_shift_g;
	alpha -= dec ? dec : alpha;
	if (delivered_ce) {
		alpha += (delivered_ce << (10U - dctcp_shift_g)) / (delivered ? delivered : 1);
		if (alpha > DCTCP_MAX_ALPHA)
			alpha = DCTCP_MAX_ALPHA;
	}
	ca->alpha = alpha;
	dctcp_start_window(tp, ca);
}

static __always_inline void dctcp_react_to_loss(struct sock *sk, struct dctcp *ca)
{
	struct tcp_sock *tp = tcp_sk(sk);
	__u32 half = tp->snd_cwnd >> 1U;

	ca->loss_cwnd = tp->snd_cwnd;
	tp->snd_ssthresh = half > 2 ? half : 2;
}

SEC("struct_ops/dctcp_set_state")
void BPF_PROG(dctcp_set_state, struct sock *sk, __u8 new_state)
{
	struct dctcp *ca = dctcp_of(sk);

	if (ca->reno)
		return;
	/* Entering Recovery reacts once; Loss is handled by CA_EVENT_LOSS. */
	if (new_state == TCP_CA_Recovery && new_state != ca->ca_state)
		dctcp_react_to_loss(sk, ca);
	ca->ca_state = new_state;
}

SEC("struct_ops/dctcp_cwnd_event")
void BPF_PROG(dctcp_cwnd_event, struct sock *sk, enum tcp_ca_event ev)
{
	struct tcp_sock *tp = tcp_sk(sk);
	struct dctcp *ca = dctcp_of(sk);

	if (ca->reno)
		return;
	if (ev == CA_EVENT_ECN_IS_CE || ev == CA_EVENT_ECN_NO_CE) {
		/* The receiver echoes CE on every ACK; remember the state it echoes. */
		ca->prior_rcv_nxt = tp->rcv_nxt;
		ca->ce_state = ev == CA_EVENT_ECN_IS_CE;
		if (ca->ce_state)
			tp->ecn_flags |= TCP_ECN_DEMAND_CWR;
		else
			tp->ecn_flags &= ~TCP_ECN_DEMAND_CWR;
	} else if (ev == CA_EVENT_LOSS) {
		dctcp_react_to_loss(sk, ca);
	}
}

SEC("struct_ops/dctcp_undo_cwnd")
__u32 BPF_PROG(dctcp_undo_cwnd, struct sock *sk)
{
	struct dctcp *ca = dctcp_of(sk);
	__u32 cwnd = tcp_sk(sk)->snd_cwnd;

	if (ca->reno)
		return tcp_reno_undo_cwnd(sk);
	return cwnd > ca->loss_cwnd ? cwnd : ca->loss_cwnd;
}

SEC(".struct_ops")
struct tcp_congestion_ops dctcp = {
	.init = (void *)dctcp_init,
	.ssthresh = (void *)dctcp_ssthresh,
	.cong_avoid = (void *)dctcp_cong_avoid,
	.in_ack_event = (void *)dctcp_in_ack_event,
	.set_state = (void *)dctcp_set_state,
	.cwnd_event = (void *)dctcp_cwnd_event,
	.undo_cwnd = (void *)dctcp_undo_cwnd,
	.flags = TCP_CONG_NEEDS_ECN,
	.name = "bpf_dctcp",
};
