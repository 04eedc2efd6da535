import math

from tests.tcp.helpers import bulk, two_hosts

from qdisclab.tcp.cc.cubic import Cubic, cubic_root
from qdisclab.tcp.congestion import TCP_INFINITE_SSTHRESH

from .fake_sock import FakeSock


def cubic_sock():
    """A socket at cwnd 100, cwnd-limited, 1 s into the connection."""
    return FakeSock(snd_cwnd=100, snd_cwnd_clamp=1 << 30, max_packets_out=100, tcp_mstamp=1_000_000)


def test_cubic_root_table():
    assert [cubic_root(x) for x in (64, 1000, 10**6, 12345)] == [4, 10, 100, 23]


def test_cubic_window_follows_curve_after_loss():
    sk = cubic_sock()
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
