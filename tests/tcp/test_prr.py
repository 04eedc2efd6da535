"""Proportional Rate Reduction once in flight has fallen to ssthresh (``tcp_cwnd_reduction``).

Linux caps what a reduction may send at the gap to ssthresh on every ACK,
and lets an ACK that advances snd_una without a new loss send one more. A
SACK-only ACK late in recovery, when ``prr_delivered - prr_out`` is large,
must therefore not release a burst (it once set cwnd 90 above in flight in
the default dumbbell, and the burst caused the next loss within 6 ms).
"""

from __future__ import annotations

import pytest
from tests.tcp.helpers import bulk, step_events, two_hosts

from qdisclab.tcp import TcpStack
from qdisclab.tcp.congestion import TCP_CA_Recovery
from qdisclab.tcp.sock import TcpSock


def reducing(in_flight: int, ssthresh: int, prr_delivered: int, prr_out: int,
             prior_cwnd: int = 306) -> TcpSock:  # fmt: skip
    """A socket mid-reduction with ``in_flight`` segments out (no losses pending)."""
    _w, a, b = two_hosts()
    sk = TcpStack.of(a).connect(b.addr, 80, "f")
    sk.packets_out, sk.sacked_out, sk.lost_out, sk.retrans_out = in_flight + 300, 300, 0, 0
    sk.snd_ssthresh, sk.prior_cwnd, sk.snd_cwnd = ssthresh, prior_cwnd, 0
    sk.prr_delivered, sk.prr_out = prr_delivered, prr_out
    return sk


def test_sack_only_ack_at_ssthresh_sends_nothing_more():
    sk = reducing(in_flight=214, ssthresh=214, prr_delivered=299, prr_out=210)
    sk._cwnd_reduction(1, 0, False)
    assert sk.snd_cwnd == 214  # delta 0: no room, whatever prr_delivered - prr_out says


def test_below_ssthresh_sends_the_prr_amount_up_to_the_gap():
    sk = reducing(in_flight=200, ssthresh=214, prr_delivered=299, prr_out=210)
    sk._cwnd_reduction(1, 0, False)
    assert sk.snd_cwnd == 214  # min(delta 14, prr_delivered - prr_out 90)
    sk = reducing(in_flight=200, ssthresh=214, prr_delivered=211, prr_out=209)
    sk._cwnd_reduction(1, 0, False)
    assert sk.snd_cwnd == 203  # prr_delivered - prr_out = 3 after this ACK, under the gap


@pytest.mark.parametrize(("una_advanced", "newly_lost", "extra"), [
    (True, 0, 1), (True, 1, 0), (False, 0, 0)])  # fmt: skip
def test_an_advancing_ack_without_new_loss_may_send_one_more(una_advanced, newly_lost, extra):
    sk = reducing(in_flight=200, ssthresh=214, prr_delivered=209, prr_out=209)
    sk._cwnd_reduction(2, newly_lost, una_advanced)
    assert sk.snd_cwnd == 200 + 2 + extra  # max(prr gap 2, newly 2) (+1)


def test_above_ssthresh_reduction_stays_proportional():
    sk = reducing(in_flight=250, ssthresh=214, prr_delivered=99, prr_out=60)
    sk._cwnd_reduction(1, 0, True)
    assert sk.snd_cwnd == 250 + (214 * 100 + 305) // 306 - 60  # ceil(ssthresh·delivered/prior)


def test_recovery_never_sends_in_flight_past_ssthresh():
    """A bulk flow into a FIFO: every reduction step taken at or below ssthresh
    leaves cwnd at most one above it. A step ran in an event when Recovery's
    prr_delivered grew; an ACK only lowers in flight before the step, so in
    flight before the event at or below ssthresh means the step was taken there."""
    w, a, b = two_hosts(rate="100mbit", delay="10ms", qdisc="pfifo limit 50")
    f = bulk(w, a, b, "cubic")
    above = []
    before = None  # (in flight, prr_delivered) before this event, in Recovery
    for _ in step_events(w, 3_000_000_000):
        sk = f.sk
        if before is not None and sk.icsk_ca_state == TCP_CA_Recovery:
            in_flight, prr_delivered = before
            if sk.prr_delivered > prr_delivered and in_flight <= sk.snd_ssthresh:
                above.append(sk.snd_cwnd - sk.snd_ssthresh)
        before = None
        if sk is not None and sk.icsk_ca_state == TCP_CA_Recovery:
            in_flight = sk.packets_out - sk.sacked_out - sk.lost_out + sk.retrans_out
            before = (in_flight, sk.prr_delivered)
    assert f.sk.stats.fast_retrans >= 2 and above  # recoveries happened and reached ssthresh
    assert max(above) <= 1
