"""A stand-in ``tcp_sock`` for congestion-control and sock_ops unit tests.

A ``TcpSockBase`` (the real socket's declared fields and types, so a compiled
congestion control accepts it) carrying only the fields the
``tcp_congestion_ops`` contract names, with no stack, timers or network
behind it: a test sets the exact state a kernel trace would have and drives
an algorithm's callbacks directly.
"""

from __future__ import annotations

from qdisclab.tcp.congestion import TCP_ECN_OK, TCP_INFINITE_SSTHRESH, TCP_CA_Open
from qdisclab.tcp.sock_base import TcpSockBase
from qdisclab.tcp.states import TCP_ESTABLISHED


class FakeSock(TcpSockBase):
    """The contract's ``tcp_sock`` fields with plausible defaults (packets, us)."""

    def __init__(self, **kw: object) -> None:
        self.name = "fake"
        self.state = TCP_ESTABLISHED
        self.snd_cwnd = 10
        self.snd_ssthresh = TCP_INFINITE_SSTHRESH
        self.snd_cwnd_cnt = 0
        self.snd_cwnd_clamp = 0xFFFFFFFF
        self.snd_una = 0
        self.snd_nxt = 0
        self.rcv_nxt = 0
        self.mss_cache = 1448
        self.srtt_us = 0
        self.min_rtt_us = 0
        self.packets_out = 0
        self.max_packets_out = 0
        self.sacked_out = 0
        self.lost_out = 0
        self.retrans_out = 0
        self.prior_cwnd = 0
        self.prior_ssthresh = 0
        self.delivered = 0
        self.delivered_ce = 0
        self.delivered_mstamp = 0
        self.app_limited = 0
        self.is_cwnd_limited = True
        self.tcp_mstamp = 0
        self.tcp_wstamp_ns = 0
        self.sk_pacing_rate = 0
        self.sk_max_pacing_rate = 0xFFFFFFFFFFFFFFFF
        self.sk_pacing_shift = 10
        self.pacing_in_use = False
        self.icsk_ca_state = TCP_CA_Open
        self.icsk_ack_pending = 0
        self.icsk_backoff = 0
        self.rto = 1_000_000_000
        self.ecn_flags = TCP_ECN_OK
        self.accurate_ecn_echo = False
        self.lsndtime = 0
        self.sock_ops = None
        self.cgroup = None
        self.cc_rng = None
        self.sent_acks: list[int] = []
        for k, v in kw.items():
            setattr(self, k, v)
