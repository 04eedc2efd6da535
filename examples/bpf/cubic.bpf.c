// SPDX-License-Identifier: MIT
/* CUBIC (RFC 9438) with HyStart as a BPF tcp_congestion_ops for qdisclab.
 *
 * W(t) = C (t - K)^3 + W_max with C = 0.4 and beta = 717/1024, in the same
 * fixed point as Linux's tcp_cubic (time in 1/1024 s, jiffies from
 * CONFIG_HZ), so its window follows qdisclab's built-in cubic.
 *
 *   qdisclab bpf build examples/bpf/cubic.bpf.c
 */
#include "vmlinux.h"
#include "qdisclab_bpf.h"

char _license[] SEC("license") = "Dual MIT/GPL";

extern unsigned long CONFIG_HZ __kconfig;

#define BICTCP_BETA_SCALE 1024U
#define BICTCP_HZ 10U
#define BETA 717U
#define BIC_SCALE 41U
#define BETA_SCALE (8U * (BICTCP_BETA_SCALE + BETA) / 3U / (BICTCP_BETA_SCALE - BETA))
#define CUBE_RTT_SCALE (BIC_SCALE * 10U)
#define CUBE_FACTOR ((1ULL << (10 + 3 * BICTCP_HZ)) / CUBE_RTT_SCALE)
#define HYSTART_LOW_WINDOW 16U
#define HYSTART_ACK_DELTA_US 2000U
#define HYSTART_MIN_SAMPLES 8U
#define HYSTART_DELAY_MIN 4000U
#define HYSTART_DELAY_MAX 16000U
#define GSO_MAX_SIZE 65536ULL

struct bictcp {
	__u32 cnt;              /* increase cwnd by 1 after this many ACKs */
	__u32 last_max_cwnd;    /* W_max before the last reduction */
	__u32 last_cwnd;
	__u32 last_time;        /* jiffies of the last update */
	__u32 bic_origin_point; /* the plateau of the cubic curve */
	__u32 bic_K;            /* time to reach it, 1/1024 s */
	__u32 delay_min;        /* min RTT, us */
	__u32 epoch_start;      /* jiffies this epoch began (0: none) */
	__u32 ack_cnt;
	__u32 tcp_cwnd;         /* what Reno would have */
	__u32 found;            /* HyStart exited slow start */
	__u32 round_start;
	__u32 end_seq;
	__u32 last_ack;
	__u32 curr_rtt;
	__u32 sample_cnt;
};

/* Initial guesses of cbrt(x) * 64 for x < 64, as tcp_cubic's table. */
static const __u8 cube_guess[64] = {
	0,   54,  54,  54,  118, 118, 118, 118, 123, 129, 134, 138, 143, 147, 151, 156,
	157, 161, 164, 168, 170, 173, 176, 179, 181, 185, 187, 190, 192, 194, 197, 199,
	200, 202, 204, 206, 209, 211, 213, 215, 217, 219, 221, 222, 224, 225, 227, 229,
	231, 232, 234, 236, 237, 239, 240, 242, 244, 245, 246, 248, 250, 251, 252, 254,
};

static __always_inline struct tcp_sock *tcp_sk(struct sock *sk)
{
	return (struct tcp_sock *)sk;
}

static __always_inline struct bictcp *cubic_of(struct sock *sk)
{
	return (void *)((struct inet_connection_sock *)sk)->icsk_ca_priv;
}

static __always_inline __u32 jiffies_of(struct tcp_sock *tp)
{
	return tp->tcp_mstamp * CONFIG_HZ / 1000000;
}

static __always_inline __u32 fls64(__u64 x)
{
	__u32 bits = 0;

	if (x >> 32) { bits += 32; x >>= 32; }
	if (x >> 16) { bits += 16; x >>= 16; }
	if (x >> 8) { bits += 8; x >>= 8; }
	if (x >> 4) { bits += 4; x >>= 4; }
	if (x >> 2) { bits += 2; x >>= 2; }
	if (x >> 1) { bits += 1; x >>= 1; }
	return bits + (__u32)x;
}

/* Integer cube root: a table guess refined by one Newton step (~0.2 % error). */
static __always_inline __u32 cubic_root(__u64 a)
{
	__u32 x, b, shift;

	b = fls64(a);
	if (b < 7)
		return ((__u32)cube_guess[(__u32)a & 63] + 35) >> 6;
	b = ((b * 84) >> 8) - 1;
	shift = (a >> (b * 3)) & 63;
	x = ((__u32)(((__u32)cube_guess[shift] + 10) << b)) >> 6;
	x = 2 * x + (__u32)(a / ((__u64)x * (__u64)(x - 1)));
	return (x * 341) >> 10;
}

static __always_inline void bictcp_reset(struct bictcp *ca)
{
	ca->cnt = 0;
	ca->last_max_cwnd = 0;
	ca->last_cwnd = 0;
	ca->last_time = 0;
	ca->bic_origin_point = 0;
	ca->bic_K = 0;
	ca->delay_min = 0;
	ca->epoch_start = 0;
	ca->ack_cnt = 0;
	ca->tcp_cwnd = 0;
	ca->found = 0;
}

static __always_inline void hystart_reset(struct tcp_sock *tp, struct bictcp *ca)
{
	ca->round_start = ca->last_ack = tp->tcp_mstamp;
	ca->end_seq = tp->snd_nxt;
	ca->curr_rtt = ~0U;
	ca->sample_cnt = 0;
}

SEC("struct_ops/cubic_init")
void BPF_PROG(cubic_init, struct sock *sk)
{
	struct bictcp *ca = cubic_of(sk);

	bictcp_reset(ca);
	hystart_reset(tcp_sk(sk), ca);
}

SEC("struct_ops/cubic_cwnd_event")
void BPF_PROG(cubic_cwnd_event, struct sock *sk, enum tcp_ca_event event)
{
	struct tcp_sock *tp = tcp_sk(sk);
	struct bictcp *ca = cubic_of(sk);
	__u32 now;
	__s32 delta;

	if (event != CA_EVENT_TX_START)
		return;
	/* Restarting after idle: shift the epoch so the curve does not jump. */
	now = jiffies_of(tp);
	delta = now - tp->lsndtime;
	if (ca->epoch_start && delta > 0) {
		ca->epoch_start += delta;
		if ((__s32)(ca->epoch_start - now) > 0)
			ca->epoch_start = now;
	}
}

static __always_inline void bictcp_update(struct tcp_sock *tp, struct bictcp *ca, __u32 cwnd,
					  __u32 acked)
{
	__u32 delta, bic_target, max_cnt, now = jiffies_of(tp);
	__u64 offs, t;

	ca->ack_cnt += acked;
	if (ca->last_cwnd == cwnd && (__s32)(now - ca->last_time) <= (__s32)(CONFIG_HZ / 32))
		return;
	if (!(ca->epoch_start && now == ca->last_time)) {
		ca->last_cwnd = cwnd;
		ca->last_time = now;
		if (ca->epoch_start == 0) {
			ca->epoch_start = now ? now : 1;
			ca->ack_cnt = acked;
			ca->tcp_cwnd = cwnd;
			if (ca->last_max_cwnd <= cwnd) {
				ca->bic_K = 0;
				ca->bic_origin_point = cwnd;
			} else {
				ca->bic_K = cubic_root(CUBE_FACTOR * (ca->last_max_cwnd - cwnd));
				ca->bic_origin_point = ca->last_max_cwnd;
			}
		}
		t = (__s32)(now - ca->epoch_start);
		t += (__u64)ca->delay_min * CONFIG_HZ / 1000000;
		t = (t << BICTCP_HZ) / CONFIG_HZ;
		offs = t < ca->bic_K ? ca->bic_K - t : t - ca->bic_K;
		delta = (CUBE_RTT_SCALE * offs * offs * offs) >> (10 + 3 * BICTCP_HZ);
		bic_target = t < ca->bic_K ? ca->bic_origin_point - delta
					   : ca->bic_origin_point + delta;
		ca->cnt = bic_target > cwnd ? cwnd / (bic_target - cwnd) : 100 * cwnd;
		if (ca->last_max_cwnd == 0 && ca->cnt > 20)
			ca->cnt = 20; /* no loss yet: grow at least 5 % per RTT */
	}
	/* TCP friendliness: never grow slower than Reno would. */
	delta = (cwnd * BETA_SCALE) >> 3;
	if (delta) {
		__u32 n = ca->ack_cnt > delta ? ca->ack_cnt / delta : 0;

		ca->ack_cnt -= n * delta;
		ca->tcp_cwnd += n;
	}
	if (ca->tcp_cwnd > cwnd) {
		max_cnt = cwnd / (ca->tcp_cwnd - cwnd);
		if (ca->cnt > max_cnt)
			ca->cnt = max_cnt;
	}
	if (ca->cnt < 2)
		ca->cnt = 2;
}

static __always_inline bool cwnd_limited(struct tcp_sock *tp)
{
	if (tp->snd_cwnd < tp->snd_ssthresh) /* slow start: may grow to twice what was sent */
		return tp->snd_cwnd < 2 * tp->max_packets_out;
	return BPF_CORE_READ_BITFIELD(tp, is_cwnd_limited);
}

SEC("struct_ops/cubic_cong_avoid")
void BPF_PROG(cubic_cong_avoid, struct sock *sk, __u32 ack, __u32 acked)
{
	struct tcp_sock *tp = tcp_sk(sk);
	struct bictcp *ca = cubic_of(sk);

	if (!cwnd_limited(tp))
		return;
	if (tp->snd_cwnd < tp->snd_ssthresh) {
		acked = tcp_slow_start(tp, acked);
		if (!acked)
			return;
	}
	bictcp_update(tp, ca, tp->snd_cwnd, acked);
	tcp_cong_avoid_ai(tp, ca->cnt, acked);
}

SEC("struct_ops/cubic_ssthresh")
__u32 BPF_PROG(cubic_ssthresh, struct sock *sk)
{
	struct bictcp *ca = cubic_of(sk);
	__u32 cwnd = tcp_sk(sk)->snd_cwnd, reduced;

	ca->epoch_start = 0;
	if (cwnd < ca->last_max_cwnd) /* fast convergence: yield to newer flows */
		ca->last_max_cwnd = (cwnd * (BICTCP_BETA_SCALE + BETA)) / (2 * BICTCP_BETA_SCALE);
	else
		ca->last_max_cwnd = cwnd;
	reduced = (cwnd * BETA) / BICTCP_BETA_SCALE;
	return reduced > 2 ? reduced : 2;
}

SEC("struct_ops/cubic_set_state")
void BPF_PROG(cubic_set_state, struct sock *sk, __u8 new_state)
{
	struct bictcp *ca = cubic_of(sk);

	if (new_state == TCP_CA_Loss) {
		bictcp_reset(ca);
		hystart_reset(tcp_sk(sk), ca);
	}
}

static __always_inline void hystart_update(struct sock *sk, struct bictcp *ca, __u32 delay)
{
	struct tcp_sock *tp = tcp_sk(sk);
	__u32 now, threshold, thresh;
	__u64 rate, ack_delay = 0;

	if ((__s32)(tp->snd_una - ca->end_seq) > 0)
		hystart_reset(tp, ca);
	/* ACK train: ACKs spaced closely for longer than the min RTT means a full pipe. */
	now = tp->tcp_mstamp;
	if ((__s32)(now - ca->last_ack) <= (__s32)HYSTART_ACK_DELTA_US) {
		ca->last_ack = now;
		rate = sk->sk_pacing_rate;
		if (rate) {
			ack_delay = GSO_MAX_SIZE * 4 * 1000000 / rate;
			if (ack_delay > 1000)
				ack_delay = 1000;
		}
		threshold = ca->delay_min + ack_delay;
		if (!sk->sk_pacing_status)
			threshold >>= 1;
		if ((__s32)(now - ca->round_start) > (__s32)threshold) {
			ca->found = 1;
			tp->snd_ssthresh = tp->snd_cwnd;
		}
	}
	/* Delay increase: the RTT grew by more than an eighth of the minimum. */
	if (delay < ca->curr_rtt)
		ca->curr_rtt = delay;
	if (ca->sample_cnt < HYSTART_MIN_SAMPLES) {
		ca->sample_cnt++;
	} else {
		thresh = ca->delay_min >> 3;
		if (thresh < HYSTART_DELAY_MIN)
			thresh = HYSTART_DELAY_MIN;
		if (thresh > HYSTART_DELAY_MAX)
			thresh = HYSTART_DELAY_MAX;
		if (ca->curr_rtt > ca->delay_min + thresh) {
			ca->found = 1;
			tp->snd_ssthresh = tp->snd_cwnd;
		}
	}
}

SEC("struct_ops/cubic_pkts_acked")
void BPF_PROG(cubic_pkts_acked, struct sock *sk, const struct ack_sample *sample)
{
	struct tcp_sock *tp = tcp_sk(sk);
	struct bictcp *ca = cubic_of(sk);
	__s32 rtt = sample->rtt_us;
	__u32 delay;

	if (rtt < 0)
		return;
	/* Discard samples during the first second after a reduction (delayed ACKs). */
	if (ca->epoch_start && (__s32)(jiffies_of(tp) - ca->epoch_start) < (__s32)CONFIG_HZ)
		return;
	delay = rtt > 0 ? rtt : 1;
	if (ca->delay_min == 0 || ca->delay_min > delay)
		ca->delay_min = delay;
	if (!ca->found && tp->snd_cwnd < tp->snd_ssthresh && tp->snd_cwnd >= HYSTART_LOW_WINDOW)
		hystart_update(sk, ca, delay);
}

SEC("struct_ops/cubic_undo_cwnd")
__u32 BPF_PROG(cubic_undo_cwnd, struct sock *sk)
{
	return tcp_reno_undo_cwnd(sk);
}

SEC(".struct_ops")
struct tcp_congestion_ops cubic = {
	.init = (void *)cubic_init,
	.ssthresh = (void *)cubic_ssthresh,
	.cong_avoid = (void *)cubic_cong_avoid,
	.set_state = (void *)cubic_set_state,
	.undo_cwnd = (void *)cubic_undo_cwnd,
	.cwnd_event = (void *)cubic_cwnd_event,
	.pkts_acked = (void *)cubic_pkts_acked,
	.name = "bpf_cubic",
};
