import math

from tests.tcp.helpers import bulk, two_hosts

from qdisclab.tcp.cc.cubic import Cubic, cubic_root
from qdisclab.tcp.congestion import TCP_INFINITE_SSTHRESH


class FakeSock:
    def __init__(self):
        self.snd_cwnd = 100
        self.snd_ssthresh = TCP_INFINITE_SSTHRESH
        self.snd_cwnd_cnt = 0
        self.snd_cwnd_clamp = 1 << 30
        self.prior_cwnd = 0
        self.is_cwnd_limited = True
        self.max_packets_out = 100
        self.tcp_mstamp = 1_000_000
        self.lsndtime = 0
        self.snd_nxt = self.snd_una = 0
        self.sk_pacing_rate = 0
        self.pacing_in_use = False


def test_cubic_root_table():
    assert [cubic_root(x) for x in (64, 1000, 10**6, 12345)] == [4, 10, 100, 23]


def test_cubic_window_follows_curve_after_loss():
    sk = FakeSock()
    ca = Cubic()
    ca.init(sk)
    sk.snd_ssthresh = ca.ssthresh(sk)  # loss at W_max = 100
    sk.snd_cwnd = sk.snd_ssthresh
    assert sk.snd_cwnd == 70
    k = math.cbrt(100 * (1 - 717 / 1024) / 0.4)
    assert abs(k - 4.217) < 0.01
    rtt_us = 100_000
    t0 = sk.tcp_mstamp
    seen = {}
    # One ACK per packet, cwnd ACKs per RTT, spread over the RTT in 1 ms ticks.
    while sk.tcp_mstamp - t0 < 7_000_000:
        per_tick = sk.snd_cwnd / 100
        acked = int(per_tick * ((sk.tcp_mstamp - t0) // 1000 + 1)) - int(
            per_tick * ((sk.tcp_mstamp - t0) // 1000)
        )
        for _ in range(acked):
            ca.cong_avoid(sk, 0, 1)
        sk.tcp_mstamp += 1000
        seen[(sk.tcp_mstamp - t0) // 1000] = sk.snd_cwnd
    for t in (1.0, 2.0, 3.0, k, 5.5, 6.5):
        want = 0.4 * (t - k) ** 3 + 100
        got = seen[int(t * 1000)]
        assert abs(got - want) / want < 0.05, (t, got, want)
    assert rtt_us  # RTT only sets the ACK clock here


def test_hystart_exits_slow_start_without_loss():
    w, a, b = two_hosts(rate="100mbit", delay="20ms", qdisc="pfifo limit 600")
    f = bulk(w, a, b, "cubic")
    w.run(2_000_000_000)
    ca = f.sk.icsk_ca_ops
    assert ca.found == 1
    st = f.sk.stats
    first = next(i for i, s in enumerate(st.ssthresh) if s < TCP_INFINITE_SSTHRESH)
    # HyStart sets ssthresh = cwnd near the BDP (~700 packets) before the buffer overflows.
    assert 100 <= st.ssthresh[first] <= 1400
