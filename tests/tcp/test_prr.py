"""Proportional Rate Reduction once in flight has fallen to ssthresh (``tcp_cwnd_reduction``).

Linux caps what a reduction may send at the gap to ssthresh on every ACK,
and lets an ACK that advances snd_una without a new loss send one more. A
SACK-only ACK late in recovery, when ``prr_delivered - prr_out`` is large,
must therefore not release a burst (it once set cwnd 90 above in flight in
the default dumbbell, and the burst caused the next loss within 6 ms).
"""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from tests.tcp.helpers import bulk, two_hosts

from qdisclab.tcp.congestion import TCP_CA_Recovery
from qdisclab.tcp.recovery import TcpRecovery
from qdisclab.tcp.sock import TcpSock


def reducing(in_flight: int, ssthresh: int, prr_delivered: int, prr_out: int,
             prior_cwnd: int = 306) -> SimpleNamespace:  # fmt: skip
    """A socket mid-reduction with ``in_flight`` segments out (no losses pending)."""
    return SimpleNamespace(packets_out=in_flight + 300, sacked_out=300, lost_out=0, retrans_out=0,
                           snd_ssthresh=ssthresh, prr_delivered=prr_delivered, prr_out=prr_out,
                           prior_cwnd=prior_cwnd, snd_cwnd=0)  # fmt: skip


def test_sack_only_ack_at_ssthresh_sends_nothing_more():
    sk = reducing(in_flight=214, ssthresh=214, prr_delivered=299, prr_out=210)
    TcpRecovery._cwnd_reduction(sk, 1, 0, False)
    assert sk.snd_cwnd == 214  # delta 0: no room, whatever prr_delivered - prr_out says


def test_below_ssthresh_sends_the_prr_amount_up_to_the_gap():
    sk = reducing(in_flight=200, ssthresh=214, prr_delivered=299, prr_out=210)
    TcpRecovery._cwnd_reduction(sk, 1, 0, False)
    assert sk.snd_cwnd == 214  # min(delta 14, prr_delivered - prr_out 90)
    sk = reducing(in_flight=200, ssthresh=214, prr_delivered=211, prr_out=209)
    TcpRecovery._cwnd_reduction(sk, 1, 0, False)
    assert sk.snd_cwnd == 203  # prr_delivered - prr_out = 3 after this ACK, under the gap


@pytest.mark.parametrize(("una_advanced", "newly_lost", "extra"), [
    (True, 0, 1), (True, 1, 0), (False, 0, 0)])  # fmt: skip
def test_an_advancing_ack_without_new_loss_may_send_one_more(una_advanced, newly_lost, extra):
    sk = reducing(in_flight=200, ssthresh=214, prr_delivered=209, prr_out=209)
    TcpRecovery._cwnd_reduction(sk, 2, newly_lost, una_advanced)
    assert sk.snd_cwnd == 200 + 2 + extra  # max(prr gap 2, newly 2) (+1)


def test_above_ssthresh_reduction_stays_proportional():
    sk = reducing(in_flight=250, ssthresh=214, prr_delivered=99, prr_out=60)
    TcpRecovery._cwnd_reduction(sk, 1, 0, True)
    assert sk.snd_cwnd == 250 + (214 * 100 + 305) // 306 - 60  # ceil(ssthresh·delivered/prior)


def test_recovery_never_sends_in_flight_past_ssthresh(monkeypatch):
    """A bulk flow into a FIFO: every reduction step taken at or below ssthresh
    leaves cwnd at most one above it."""
    w, a, b = two_hosts(rate="100mbit", delay="10ms", qdisc="pfifo limit 50")
    f = bulk(w, a, b, "cubic")
    above = []
    original = TcpSock._cwnd_reduction

    def watched(self, newly, lost, una_advanced):
        in_flight = self.packets_out - self.sacked_out - self.lost_out + self.retrans_out
        original(self, newly, lost, una_advanced)
        if self.icsk_ca_state == TCP_CA_Recovery and in_flight <= self.snd_ssthresh:
            above.append(self.snd_cwnd - self.snd_ssthresh)

    monkeypatch.setattr(TcpSock, "_cwnd_reduction", watched)
    w.run(3_000_000_000)
    assert f.sk.stats.fast_retrans >= 2 and above  # recoveries happened and reached ssthresh
    assert max(above) <= 1
