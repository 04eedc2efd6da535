"""ECN end to end: classic RFC 3168 echo/CWR over an AQM that marks, and DCTCP's
accurate echo over a step-marking queue (validation.md DCTCP)."""

from __future__ import annotations

import itertools
import statistics

from tests.tcp.helpers import two_hosts

from qdisclab.skb import INET_ECN_CE, INET_ECN_ECT_0
from qdisclab.tcp.apps import BulkSender
from qdisclab.tcp.header import TCPHDR_CWR, TCPHDR_ECE, TCPHDR_SYN

SEC = 1_000_000_000


class EchoWatch:
    """Models the receiver's RFC 3168 duty at B's device: after a CE, every ACK carries
    ECE until a data segment with CWR arrives; counts violations of that rule."""

    def __init__(self, dev):
        self.demand = False
        self.ce = self.ece_acks = self.cwr_segs = self.acks = self.bad = 0
        dev.ingress_hook = self.rx
        dev.egress_hook = self.tx

    def rx(self, skb):
        th = skb.th
        if th.datalen:
            if th.flags & TCPHDR_CWR:
                self.cwr_segs += 1
                self.demand = False
            if skb.ecn == INET_ECN_CE:
                self.ce += 1
                self.demand = True
        return 0

    def tx(self, skb):
        if skb.th.datalen == 0 and not skb.th.flags & TCPHDR_SYN:  # the SYN-ACK negotiates
            self.acks += 1
            ece = bool(skb.th.flags & TCPHDR_ECE)
            self.ece_acks += ece
            self.bad += ece != self.demand
        return 0


def test_classic_ecn_echo_until_cwr_and_one_reduction_per_window():
    w, a, b = two_hosts(
        rate="100mbit",
        delay="5ms",
        qdisc="red limit 400000 min 15000 max 45000 avpkt 1500 bandwidth 100mbit "
        "probability 0.1 ecn",
    )
    watch = EchoWatch(b.devices["eth0"])
    f = BulkSender(a, b, 5001, "f1", "reno", ecn=True)
    cwr_times = []
    last = [0]

    def poll(_):
        if f.sk is not None and f.sk.stats.cwr != last[0]:
            last[0] = f.sk.stats.cwr
            cwr_times.append((w.sched.now, f.sk.snd_una, f.sk.high_seq))
        w.sched.call_later(100_000, poll, None)

    w.sched.call_at(0, poll, None)
    w.run(3 * SEC)
    sk = f.sk
    assert sk.ecn_flags & 1  # negotiated
    assert watch.ce > 10 and watch.bad == 0
    # The echo repeats: many more ECE ACKs than CE marks (ECE until CWR, ~one RTT later).
    assert watch.ece_acks > 3 * watch.ce
    # The sender reacts by reducing (no loss at all), at most once per window (RTT ~10 ms).
    st = sk.stats
    assert st.retrans == 0 and st.cwr >= 5
    assert st.cwr <= watch.ce and st.cwr == watch.cwr_segs
    # A reduction starts only after the window of the previous one is acked.
    for (_, _, high_seq), (_, una, _) in itertools.pairwise(cwr_times):
        assert una >= high_seq
    assert len(cwr_times) <= 3 * SEC / 10_000_000
    # Reno halves: cwnd after CWR ends at about half the window that got marked.
    assert 60e6 < f.goodput_bps(SEC, 3 * SEC) < 100e6


def test_data_is_ect_only_after_negotiation():
    seen = []
    w, a, b = two_hosts(rate="100mbit", delay="1ms")
    a.devices["eth0"].egress_hook = lambda skb: seen.append(skb.ecn) or 0
    BulkSender(a, b, 5001, "plain", "reno", ecn=False)
    w.run(SEC // 10)
    assert seen and set(seen) == {0}
    seen.clear()
    w, a, b = two_hosts(rate="100mbit", delay="1ms")
    a.devices["eth0"].egress_hook = lambda skb: seen.append((skb.ecn, skb.th.datalen)) or 0
    BulkSender(a, b, 5001, "ect", "reno", ecn=True)
    w.run(SEC // 10)
    assert {e for e, n in seen if n} == {INET_ECN_ECT_0}
    assert {e for e, n in seen if not n} == {0}  # SYN and pure ACKs are not ECT


def test_dctcp_step_marking_keeps_line_rate_and_queue_near_k():
    # ce_threshold 2 ms at 100 mbit = K of ~16.7 full-size packets; CoDel itself is
    # pushed out of the way (target 100 ms) so the queue is a pure step marker.
    w, a, b = two_hosts(
        rate="100mbit", delay="5ms", qdisc="fq_codel ce_threshold 2ms target 100ms interval 1s"
    )
    f = BulkSender(a, b, 5001, "d", "dctcp")
    dev = a.devices["eth0"]
    qlens = []

    def sample(_):
        qlens.append(dev.qdisc.qlen)
        w.sched.call_later(1_000_000, sample, None)

    w.sched.call_at(SEC, sample, None)
    w.run(3 * SEC)
    sk, ca = f.sk, f.sk.icsk_ca_ops
    assert sk.accurate_ecn_echo and sk.ecn_flags & 1
    rx = f.receiver
    assert rx.accurate_ecn_echo
    k = 2e-3 * 100e6 / 8 / 1500
    mean_q = statistics.mean(qlens)
    assert 0.5 * k < mean_q < 1.5 * k, (mean_q, k)
    assert max(qlens) < 2 * k and min(qlens) > 0  # oscillates around K, never drains
    # Line rate: 1448/1500 of 100 mbit is the goodput ceiling.
    assert f.goodput_bps(SEC, 3 * SEC) > 0.95 * 100e6 * 1448 / 1500
    assert sk.stats.retrans == 0
    # Only a fraction of packets are marked, so alpha is well below 1 (and above 0).
    frac = sk.delivered_ce / sk.delivered
    assert 0.01 < frac < 0.5
    assert 0 < ca.alpha < 1024 * 0.5
