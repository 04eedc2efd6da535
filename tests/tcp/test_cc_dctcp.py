"""DCTCP against RFC 8257 / tcp_dctcp.c: alpha fixed point, cwnd cut, CE echo, registration."""

from __future__ import annotations

import errno

import pytest

import qdisclab.tcp.cc.dctcp as dctcp_mod
from qdisclab.errors import KernelError
from qdisclab.tcp import congestion as cc

from .fake_sock import FakeSock

Dctcp = dctcp_mod.Dctcp


def make(**kw):
    sk = FakeSock(**kw)
    ca = Dctcp()
    ca.init(sk)
    return sk, ca


def end_window(sk, ca, delivered, ce, window=10):
    """Deliver ``delivered`` packets, ``ce`` of them marked, and close the window."""
    sk.delivered += delivered
    sk.delivered_ce += ce
    sk.snd_nxt += window
    sk.snd_una = ca.next_seq
    ca.in_ack_event(sk, 0)


def test_registration_and_flags():
    assert Dctcp.name == "dctcp"
    assert Dctcp.flags & cc.TCP_CONG_NEEDS_ECN
    # registering the same name again is refused, like tcp_register_congestion_control
    with pytest.raises(KernelError) as exc:
        cc.register_cc(type("Dctcp2", (Dctcp,), {"name": "dctcp"}))
    assert exc.value.errno == errno.EEXIST


def test_init_state():
    _sk, ca = make(snd_nxt=5000, delivered=7, delivered_ce=3)
    assert ca.alpha == 1024 and ca.ce_state == 0 and ca.loss_cwnd == 0
    assert (ca.next_seq, ca.old_delivered, ca.old_delivered_ce) == (5000, 7, 3)


def test_alpha_worked_examples_from_spec():
    sk, ca = make()
    end_window(sk, ca, 10, 0)
    assert ca.alpha == 960  # 1024 - 64
    end_window(sk, ca, 10, 5)
    assert ca.alpha == 932  # 960 - 60 + (5 << 6) / 10
    ca.alpha = 1024
    end_window(sk, ca, 10, 10)
    assert ca.alpha == 1024  # all marked stays at max
    ca.alpha = 10
    end_window(sk, ca, 10, 0)
    assert ca.alpha == 0  # min_not_zero: alpha >> 4 == 0 takes all of alpha


def test_alpha_only_updates_once_per_window():
    sk, ca = make(snd_nxt=1000)
    sk.delivered, sk.delivered_ce = 4, 4
    sk.snd_una = 999  # before next_seq: still in the window
    ca.in_ack_event(sk, 0)
    assert ca.alpha == 1024 and ca.old_delivered == 0
    sk.snd_una = 1000
    ca.in_ack_event(sk, 0)
    assert ca.alpha == 1024 - 64 + (4 << 6) // 4
    assert ca.next_seq == 1000 and ca.old_delivered == 4


def test_alpha_window_uses_u32_sequence_wrap():
    sk, ca = make(snd_nxt=5)  # next_seq just after a wrap
    sk.snd_una = 0xFFFFFFF0  # "before" 5 in sequence space
    sk.delivered = 10
    ca.in_ack_event(sk, 0)
    assert ca.alpha == 1024


@pytest.mark.parametrize("frac_num,frac_den", [(1, 4), (1, 2), (1, 10), (0, 1)])
def test_alpha_converges_to_marked_fraction(frac_num, frac_den):
    """alpha <- (1-g) alpha + g F converges to F (within fixed-point truncation)."""
    sk, ca = make()
    delivered = 100 * frac_den
    for _ in range(300):
        end_window(sk, ca, delivered, delivered * frac_num // frac_den)
    target = 1024 * frac_num / frac_den
    # fixed point: the map stops moving once alpha >> 4 equals the increment
    # (ce << 6) // delivered; coming down from 1024 it rests at the top of that bucket
    inc = (delivered * frac_num // frac_den << 6) // delivered
    assert ca.alpha == (16 * inc + 15 if inc else 0)
    assert abs(ca.alpha - target) < 16, (ca.alpha, target)


def test_alpha_float_model_matches_early_steps():
    sk, ca = make()
    a = 1.0
    for _ in range(20):
        end_window(sk, ca, 100, 30)
        a = (1 - 1 / 16) * a + (1 / 16) * 0.3
    assert abs(ca.alpha / 1024 - a) < 0.02


@pytest.mark.parametrize("alpha", [1024, 512, 256, 64, 0])
def test_ssthresh_is_cwnd_times_one_minus_half_alpha(alpha):
    sk, ca = make(snd_cwnd=100)
    ca.alpha = alpha
    got = ca.ssthresh(sk)
    assert got == max(100 - ((100 * alpha) >> 11), 2)
    assert abs(got - 100 * (1 - alpha / 2048)) < 1
    assert ca.loss_cwnd == 100


def test_marked_window_cuts_cwnd_by_alpha_half():
    sk, ca = make(snd_cwnd=200)
    for _ in range(200):
        end_window(sk, ca, 100, 50)  # F = 0.5
    assert abs(ca.alpha - 512) < 16
    assert ca.ssthresh(sk) == 200 - ((200 * ca.alpha) >> 11)
    assert 148 <= ca.ssthresh(sk) <= 152  # ~ cwnd * (1 - 0.25)


def test_ssthresh_floor_is_two():
    sk, ca = make(snd_cwnd=2)
    assert ca.ssthresh(sk) == 2


def test_loss_reaction_and_undo():
    sk, ca = make(snd_cwnd=40)
    ca.cwnd_event(sk, cc.CA_EVENT_LOSS)
    assert sk.snd_ssthresh == 20 and ca.loss_cwnd == 40
    sk.snd_cwnd = 1
    assert ca.undo_cwnd(sk) == 40
    sk.snd_cwnd = 50
    assert ca.undo_cwnd(sk) == 50


def test_set_state_recovery_reacts_once():
    sk, ca = make(snd_cwnd=30)
    ca.set_state(sk, cc.TCP_CA_Recovery)
    assert sk.snd_ssthresh == 15
    sk.icsk_ca_state = cc.TCP_CA_Recovery
    sk.snd_cwnd = 10
    ca.set_state(sk, cc.TCP_CA_Recovery)  # already in recovery: no second cut
    assert sk.snd_ssthresh == 15
    ca.set_state(sk, cc.TCP_CA_Loss)  # loss goes through cwnd_event instead
    assert sk.snd_ssthresh == 15


def test_ce_state_machine_with_delayed_ack_pending():
    sk, ca = make(rcv_nxt=100)
    acks = []
    sk.tcp_send_ack = acks.append
    sk.icsk_ack_pending = dctcp_mod.ICSK_ACK_TIMER
    sk.rcv_nxt = 300
    ca.cwnd_event(sk, cc.CA_EVENT_ECN_IS_CE)
    # pending delayed ACK for data up to prior_rcv_nxt goes out with the old (no-CE) echo
    assert acks == [100]
    assert sk.icsk_ack_pending & dctcp_mod.ICSK_ACK_NOW
    assert ca.ce_state == 1 and ca.prior_rcv_nxt == 300
    assert sk.ecn_flags & dctcp_mod.TCP_ECN_DEMAND_CWR
    # same state again: no extra ACK
    sk.rcv_nxt = 400
    ca.cwnd_event(sk, cc.CA_EVENT_ECN_IS_CE)
    assert acks == [100] and ca.prior_rcv_nxt == 400
    # back to no CE with a delayed ACK pending
    ca.cwnd_event(sk, cc.CA_EVENT_ECN_NO_CE)
    assert acks == [100, 400]
    assert not sk.ecn_flags & dctcp_mod.TCP_ECN_DEMAND_CWR and ca.ce_state == 0


def test_ce_state_change_without_pending_ack_sends_nothing():
    sk, ca = make()
    acks = []
    sk.tcp_send_ack = acks.append
    ca.cwnd_event(sk, cc.CA_EVENT_ECN_IS_CE)
    assert acks == [] and sk.icsk_ack_pending & dctcp_mod.ICSK_ACK_NOW


def test_no_ecn_falls_back_to_reno():
    sk, ca = make(ecn_flags=0, snd_cwnd=100)
    assert ca.reno_fallback
    assert ca.ssthresh(sk) == 50  # reno, not alpha-based
    sk.delivered, sk.delivered_ce, sk.snd_una = 10, 10, 10
    ca.in_ack_event(sk, 0)
    assert ca.alpha == 0  # never initialised, never updated


def test_cong_avoid_is_reno():
    sk, ca = make(snd_cwnd=10, snd_ssthresh=100)
    ca.cong_avoid(sk, 0, 5)
    assert sk.snd_cwnd == 15
