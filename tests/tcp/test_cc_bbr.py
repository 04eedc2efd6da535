"""BBR v1 driven by synthetic rate samples on a fake socket (tcp_bbr.c semantics)."""

from __future__ import annotations

import itertools
import random

import qdisclab.tcp.cc.bbr as bbr
from qdisclab.tcp import congestion as cc

from .fake_sock import FakeSock

RTT_US = 20_000
BW_PPS = 10_000  # bottleneck, packets per second -> BDP = 200 packets
BDP = BW_PPS * RTT_US // 1_000_000
MTU = 1448 + 40


class Path:
    """One ACK per round trip: delivery limited by cwnd and the bottleneck."""

    def __init__(self, seed=1):
        self.sk = FakeSock(snd_cwnd=10, srtt_us=RTT_US << 3, min_rtt_us=RTT_US)
        self.ca = bbr.Bbr(random.Random(seed))
        self.ca.init(self.sk)
        self.modes = [self.ca.mode]

    def round(self, rtt_extra_us=0):
        sk, ca = self.sk, self.ca
        cwnd = sk.snd_cwnd
        pace_pkts = sk.sk_pacing_rate * RTT_US // 1_000_000 // MTU
        inflight = max(1, min(cwnd, pace_pkts))
        queue = max(0, inflight - BDP)
        rtt = RTT_US + queue * 1_000_000 // BW_PPS + rtt_extra_us
        delivered = min(inflight, BDP)
        interval = max(RTT_US, delivered * 1_000_000 // BW_PPS)
        rs = cc.RateSample()
        rs.prior_delivered = sk.delivered
        rs.delivered = delivered
        rs.interval_us = interval
        rs.rtt_us = rtt
        rs.acked_sacked = delivered
        rs.prior_in_flight = inflight
        # tcp_rate: a sample is app-limited while delivery has not passed app_limited
        rs.is_app_limited = bool(sk.app_limited)
        sk.delivered += delivered
        if sk.app_limited and sk.delivered > sk.app_limited:
            sk.app_limited = 0
        sk.tcp_mstamp += rtt
        sk.delivered_mstamp = sk.tcp_mstamp
        sk.packets_out = inflight
        ca.cong_control(sk, 0, 0, rs)
        if ca.mode != self.modes[-1]:
            self.modes.append(ca.mode)


def test_registration_uses_cong_control():
    assert bbr.Bbr.name == "bbr"
    assert cc.TCP_CONGESTION_OPS.implements(bbr.Bbr, "cong_control")
    assert not cc.TCP_CONGESTION_OPS.implements(bbr.Bbr, "cong_avoid")


def test_gain_constants_match_kernel():
    assert bbr.BBR_HIGH_GAIN == 739 and abs(739 / 256 - 2.885) < 0.005
    assert bbr.BBR_DRAIN_GAIN == 88
    assert [g / 256 for g in bbr.BBR_PACING_GAIN] == [1.25, 0.75] + [1.0] * 6


def test_startup_drain_probe_bw_after_full_pipe():
    p = Path()
    for _ in range(40):
        p.round()
        if p.ca.mode == bbr.BBR_PROBE_BW:
            break
    assert p.modes == [bbr.BBR_STARTUP, bbr.BBR_DRAIN, bbr.BBR_PROBE_BW]
    assert p.ca.full_bw_reached and p.ca.full_bw_cnt == 3
    # bw estimate is the bottleneck rate (pkts/us << 24)
    est_pps = p.ca.max_bw() * 1_000_000 / bbr.BW_UNIT
    assert abs(est_pps - BW_PPS) / BW_PPS < 0.01
    # entering DRAIN set ssthresh to the 1x BDP inflight target
    assert p.sk.snd_ssthresh >= BDP


def test_startup_ramps_exponentially_before_full_pipe():
    p = Path()
    cwnds = []
    for _ in range(4):
        p.round()
        cwnds.append(p.sk.snd_cwnd)
    assert p.ca.mode == bbr.BBR_STARTUP
    assert all(b >= 1.8 * a for a, b in itertools.pairwise(cwnds))


def test_pacing_rate_is_gain_times_bw():
    p = Path()
    for _ in range(60):
        p.round()
    ca, sk = p.ca, p.sk
    assert ca.mode == bbr.BBR_PROBE_BW
    bw_bytes = ca.max_bw() * MTU * 1_000_000 / bbr.BW_UNIT
    expect = bw_bytes * ca.pacing_gain / 256 * 0.99
    assert abs(sk.sk_pacing_rate - expect) / expect < 0.005
    # and the exact kernel formula
    assert sk.sk_pacing_rate == ca.rate_bytes_per_sec(sk, ca.max_bw(), ca.pacing_gain)


def test_cwnd_is_gain_times_bdp_plus_budget():
    p = Path()
    for _ in range(60):
        p.round()
    ca, sk = p.ca, p.sk
    bdp = ca.bdp(ca.max_bw(), bbr.BBR_UNIT)
    assert bdp == BDP
    target = ca._quantization_budget(sk, ca.bdp(ca.max_bw(), ca.cwnd_gain))
    target += ca._ack_aggregation_cwnd()
    assert ca.cwnd_gain == 512
    assert 2 * BDP <= sk.snd_cwnd <= target + 2
    assert ca.bdp(ca.max_bw(), ca.cwnd_gain) == 2 * BDP  # 2 x BDP
    # one ACK per RTT is maximal ACK aggregation: the allowance adds up to ~1 window
    assert abs(sk.snd_cwnd - target) <= 2


def test_probe_bw_cycle_visits_gains_in_order_over_real_tcp():
    """BBR end to end: S1 -1 gbit- R1 -100 mbit/10 ms pfifo- R2 -1 gbit- D1; the sender
    paces itself at sk_pacing_rate (BBR asks for pacing). STARTUP -> DRAIN -> PROBE_BW,
    then the eight-phase gain cycle advances one phase per min_rtt, in order."""
    from qdisclab.bench.bench_tcp import tcp_dumbbell

    w, flows = tcp_dumbbell(n=1, cc="bbr", qdisc="pfifo limit 1000")
    f = flows[0]
    r1 = w.node("R1")
    bottleneck = next(d for d in r1.devices.values() if d.peer.node.name == "R2")
    log, qlens = [], []

    def poll(_):
        sk = f.sk
        if sk is not None and sk.state == 1:
            ca = sk.icsk_ca_ops
            idx = ca.cycle_idx if ca.mode == bbr.BBR_PROBE_BW else -1
            if not log or log[-1][1:] != (ca.mode, idx, ca.pacing_gain):
                log.append((w.sched.now, ca.mode, idx, ca.pacing_gain))
            if w.sched.now > 1_000_000_000:
                qlens.append(bottleneck.qdisc.qlen)
        w.sched.call_later(100_000, poll, None)

    w.sched.call_at(0, poll, None)
    w.run(2_000_000_000)
    modes = [m for _, m, _, _ in log]
    first = {m: modes.index(m) for m in set(modes)}
    assert first[bbr.BBR_STARTUP] < first[bbr.BBR_DRAIN] < first[bbr.BBR_PROBE_BW]
    assert log[0][3] == bbr.BBR_HIGH_GAIN and log[first[bbr.BBR_DRAIN]][3] == bbr.BBR_DRAIN_GAIN
    cycle = [e for e in log[first[bbr.BBR_PROBE_BW] :]]
    assert all(m == bbr.BBR_PROBE_BW for _, m, _, _ in cycle)  # no PROBE_RTT within 10 s
    min_rtt_ns = f.sk.icsk_ca_ops.min_rtt_us * 1000
    for (t0, _, i0, _), (t1, _, i1, g1) in itertools.pairwise(cycle):
        assert i1 == (i0 + 1) % bbr.CYCLE_LEN  # phases in order
        assert g1 == bbr.BBR_PACING_GAIN[i1]
        assert t1 - t0 >= min_rtt_ns - 200_000  # each phase lasts at least min_rtt
    gains = [g for _, _, _, g in cycle]
    assert gains.count(320) >= 3 and gains.count(192) >= 3
    # Line rate with a small standing queue, and no loss.
    assert f.goodput_bps(1_000_000_000, 2_000_000_000) > 0.93 * 100e6 * 1448 / 1500
    assert sum(qlens) / len(qlens) < 60 and f.sk.stats.retrans == 0


def test_probe_bw_start_phase_is_random_but_never_drain_phase():
    starts = set()
    for seed in range(40):
        p = Path(seed)
        for _ in range(40):
            p.round()
            if p.ca.mode == bbr.BBR_PROBE_BW:
                break
        starts.add(p.ca.cycle_idx)
    assert 1 not in starts and len(starts) >= 5
    # deterministic for one seed
    a, b = Path(7), Path(7)
    for _ in range(30):
        a.round()
        b.round()
    assert a.ca.cycle_idx == b.ca.cycle_idx and a.sk.snd_cwnd == b.sk.snd_cwnd


def test_probe_rtt_after_min_rtt_expires():
    p = Path()
    for _ in range(30):
        p.round()
    # RTT samples never go below min_rtt: after 10 s the filter expires
    t_last_min = p.ca.min_rtt_stamp
    while p.ca.mode != bbr.BBR_PROBE_RTT:
        p.round(rtt_extra_us=1000)
        assert p.sk.tcp_mstamp - t_last_min <= 10_000_000 + 2 * RTT_US
    assert p.sk.tcp_mstamp - t_last_min > 10_000_000
    assert p.sk.snd_cwnd == 4 and p.ca.pacing_gain == 256 and p.ca.cwnd_gain == 256
    prior = p.ca.prior_cwnd
    assert prior >= BDP
    enter = p.sk.tcp_mstamp
    while p.ca.mode == bbr.BBR_PROBE_RTT:
        p.round()
    stay = p.sk.tcp_mstamp - enter
    assert 200_000 <= stay <= 200_000 + 3 * RTT_US
    assert p.ca.mode == bbr.BBR_PROBE_BW  # pipe was full: back to PROBE_BW
    # cwnd restored from 4, then capped by the PROBE_BW target (2 BDP + budget)
    assert p.sk.snd_cwnd >= min(prior, 2 * BDP)
    assert p.ca.min_rtt_stamp > enter


def test_minmax_window_expires_old_max():
    m = bbr.MinMax()
    m.reset(0, 100)
    for t in range(1, 11):
        assert m.running_max(10, t, 50) == 100
    assert m.running_max(10, 11, 50) == 50  # the 100 sample is 11 rounds old


def test_loss_state_and_undo():
    p = Path()
    for _ in range(10):
        p.round()
    p.ca.set_state(p.sk, cc.TCP_CA_Loss)
    assert p.ca.prev_ca_state == cc.TCP_CA_Loss and p.ca.full_bw == 0
    cwnd = p.sk.snd_cwnd
    assert p.ca.undo_cwnd(p.sk) == cwnd
    assert p.ca.ssthresh(p.sk) == p.sk.snd_ssthresh
    assert p.ca.sndbuf_expand(p.sk) == 3


def test_recovery_packet_conservation():
    p = Path()
    for _ in range(30):
        p.round()
    sk, ca = p.sk, p.ca
    sk.icsk_ca_state = cc.TCP_CA_Recovery
    sk.packets_out = 100
    rs = cc.RateSample(
        delivered=5,
        prior_delivered=sk.delivered,
        interval_us=RTT_US,
        rtt_us=RTT_US,
        acked_sacked=5,
        losses=2,
        prior_in_flight=100,
    )
    sk.delivered += 5
    ca.cong_control(sk, 0, 0, rs)
    assert ca.packet_conservation
    assert sk.snd_cwnd == 100 + 5  # in flight + acked
