"""DCTCP (net/ipv4/tcp_dctcp.c, RFC 8257) written against ``tcp_congestion_ops``.

The sender keeps ``alpha``, a moving average (gain g = 1/16) of the fraction
of delivered packets that were CE-marked, in 1/1024 fixed point, updated once
per observation window (one window of data, ``snd_una`` passing ``next_seq``).
On congestion it cuts ``cwnd`` by ``alpha/2`` instead of half. The receiver
side echoes CE accurately across delayed ACKs with a two-state machine.

Kernel fixed point is reproduced bit for bit (``alpha`` is an int in
``[0, 1024]``; ``alpha >> shift_g`` etc.), and the counters are the kernel's
current ones: packets (``delivered`` / ``delivered_ce``), not bytes.

>>> DCTCP_MAX_ALPHA, Dctcp.shift_g, Dctcp.alpha_on_init
(1024, 4, 1024)
>>> dctcp_alpha_update(1024, ce=0, delivered=10), dctcp_alpha_update(960, ce=5, delivered=10)
(960, 932)

Socket fields used beyond the contract: ``rcv_nxt``, ``sk_state`` (LISTEN/CLOSE
test in init), ``icsk_ack_pending`` (ICSK_ACK_* bits), ``accurate_ecn_echo``, and,
on a bare socket model only, ``tcp_send_ack(rcv_nxt)`` (the immediate ACK of the
CE state machine).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from mypy_extensions import mypyc_attr

from qdisclab.tcp.congestion import (
    CA_EVENT_ECN_IS_CE,
    CA_EVENT_ECN_NO_CE,
    CA_EVENT_LOSS,
    TCP_CONG_NEEDS_ECN,
    TCP_ECN_DEMAND_CWR,
    TCP_ECN_OK,
    CongestionOps,
    TCP_CA_Recovery,
    register_cc,
    tcp_reno_cong_avoid,
    tcp_reno_ssthresh,
    tcp_reno_undo_cwnd,
)

if TYPE_CHECKING:
    from qdisclab.tcp.sock_base import TcpSockBase

DCTCP_MAX_ALPHA = 1024
# inet_connection_sock.h enum inet_csk_ack_state_t
ICSK_ACK_SCHED = 1
ICSK_ACK_TIMER = 2
ICSK_ACK_PUSHED = 4
ICSK_ACK_PUSHED2 = 8
ICSK_ACK_NOW = 16
# include/net/tcp_states.h
TCP_CLOSE = 7
TCP_LISTEN = 10


def _before(a: int, b: int) -> bool:
    """Kernel ``before()``: signed 32-bit sequence comparison."""
    return ((a - b) & 0xFFFFFFFF) >= 0x80000000


def dctcp_alpha_update(alpha: int, ce: int, delivered: int, shift_g: int = 4) -> int:
    """One end-of-window update of ``alpha`` (1/1024 units), as ``dctcp_update_alpha``.

    ``alpha -= min_not_zero(alpha, alpha >> g)``: when ``alpha >> g`` is 0 the
    whole of alpha is subtracted (so small alphas fall straight to 0).

    >>> dctcp_alpha_update(10, ce=0, delivered=100)
    0
    >>> dctcp_alpha_update(1024, ce=100, delivered=100)
    1024
    """
    dec = alpha >> shift_g
    alpha -= dec if dec else alpha  # min_not_zero(alpha, alpha >> g)
    if ce:
        alpha += (ce << (10 - shift_g)) // max(1, delivered)
        alpha = min(alpha, DCTCP_MAX_ALPHA)
    return alpha


# Users tune a built-in by subclassing it, compiled or not.
@mypyc_attr(allow_interpreted_subclasses=True)
class Dctcp(CongestionOps):
    """DCTCP: ECN-fraction-proportional window reduction (needs ECN).

    >>> Dctcp.name, Dctcp.flags & TCP_CONG_NEEDS_ECN
    ('dctcp', 2)
    """

    name = "dctcp"
    flags = TCP_CONG_NEEDS_ECN
    shift_g: ClassVar[int] = 4  # module parameter dctcp_shift_g (0..10)
    alpha_on_init: ClassVar[int] = DCTCP_MAX_ALPHA  # module parameter dctcp_alpha_on_init

    def __init__(self) -> None:
        self.old_delivered = 0
        self.old_delivered_ce = 0
        self.prior_rcv_nxt = 0
        self.alpha = 0
        self.next_seq = 0
        self.ce_state = 0
        self.loss_cwnd = 0
        self.reno_fallback = False  # the kernel's switch to "dctcp-reno"

    def _reset(self, sk: TcpSockBase) -> None:
        self.next_seq = sk.snd_nxt
        self.old_delivered = sk.delivered
        self.old_delivered_ce = sk.delivered_ce

    def init(self, sk: TcpSockBase) -> None:
        state = sk.sk_state
        if sk.ecn_flags & TCP_ECN_OK or state in (TCP_LISTEN, TCP_CLOSE):
            self.prior_rcv_nxt = sk.rcv_nxt
            self.alpha = min(self.alpha_on_init, DCTCP_MAX_ALPHA)
            self.loss_cwnd = 0
            self.ce_state = 0
            self._reset(sk)
            return
        # No ECN negotiated: the kernel swaps in dctcp_reno (reno ssthresh/avoid/undo,
        # no alpha tracking) and stops marking ECT on this socket.
        self.reno_fallback = True

    def ssthresh(self, sk: TcpSockBase) -> int:
        if self.reno_fallback:
            return tcp_reno_ssthresh(sk)
        cwnd = sk.snd_cwnd
        self.loss_cwnd = cwnd
        return max(cwnd - ((cwnd * self.alpha) >> 11), 2)

    def cong_avoid(self, sk: TcpSockBase, ack: int, acked: int) -> None:
        tcp_reno_cong_avoid(sk, ack, acked)

    def in_ack_event(self, sk: TcpSockBase, flags: int) -> None:
        """dctcp_update_alpha: once per window, fold the marked fraction into alpha."""
        if self.reno_fallback or _before(sk.snd_una, self.next_seq):
            return
        ce = sk.delivered_ce - self.old_delivered_ce
        self.alpha = dctcp_alpha_update(
            self.alpha, ce, sk.delivered - self.old_delivered, self.shift_g
        )
        self._reset(sk)

    def _react_to_loss(self, sk: TcpSockBase) -> None:
        self.loss_cwnd = sk.snd_cwnd
        sk.snd_ssthresh = max(sk.snd_cwnd >> 1, 2)

    def set_state(self, sk: TcpSockBase, new_state: int) -> None:
        # called before icsk_ca_state changes: react once on entering Recovery
        if self.reno_fallback:
            return
        if new_state == TCP_CA_Recovery and new_state != sk.icsk_ca_state:
            self._react_to_loss(sk)
        # TCP_CA_Loss is handled by cwnd_event(CA_EVENT_LOSS): one reaction per RTT

    def cwnd_event(self, sk: TcpSockBase, ev: int) -> None:
        if self.reno_fallback:
            return
        if ev in (CA_EVENT_ECN_IS_CE, CA_EVENT_ECN_NO_CE):
            self._ece_ack_update(sk, 1 if ev == CA_EVENT_ECN_IS_CE else 0)
        elif ev == CA_EVENT_LOSS:
            self._react_to_loss(sk)

    def _ece_ack_update(self, sk: TcpSockBase, new_ce_state: int) -> None:
        """dctcp_ece_ack_update: the receiver's accurate CE echo across delayed ACKs."""
        # A qdisclab TcpSockBase performs this echo itself (TcpInput._data, before this event,
        # as ``accurate_ecn_echo``); only a bare socket model needs the ACK flush done here.
        if self.ce_state != new_ce_state and not sk.accurate_ecn_echo:
            pending = sk.icsk_ack_pending
            if pending & ICSK_ACK_TIMER:
                # ACK everything received under the old CE state first, with its ECE value
                if self.ce_state:
                    sk.ecn_flags |= TCP_ECN_DEMAND_CWR
                else:
                    sk.ecn_flags &= ~TCP_ECN_DEMAND_CWR
                send_ack = getattr(sk, "tcp_send_ack", None)
                if send_ack is not None:
                    send_ack(self.prior_rcv_nxt)
            sk.icsk_ack_pending = pending | ICSK_ACK_NOW
        self.prior_rcv_nxt = sk.rcv_nxt
        self.ce_state = new_ce_state
        if new_ce_state:
            sk.ecn_flags |= TCP_ECN_DEMAND_CWR
        else:
            sk.ecn_flags &= ~TCP_ECN_DEMAND_CWR

    def undo_cwnd(self, sk: TcpSockBase) -> int:
        if self.reno_fallback:
            return tcp_reno_undo_cwnd(sk)
        return max(sk.snd_cwnd, self.loss_cwnd)


# Registered after the definition, not as a decorator: a decorated class cannot be compiled.
register_cc(Dctcp)
