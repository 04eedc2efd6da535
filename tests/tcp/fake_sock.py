"""A fake ``tcp_sock`` for congestion-control and sock_ops unit tests.

A plain object carrying the socket fields the ``tcp_congestion_ops`` contract
names, so a test can set the exact state a kernel trace would have and drive
an algorithm's callbacks directly.
"""

from __future__ import annotations

from qdisclab.tcp.congestion import TCP_ECN_OK, TCP_INFINITE_SSTHRESH, TCP_CA_Open


class FakeSock:
    """The contract's ``tcp_sock`` fields with plausible defaults (packets, us)."""

    def __init__(self, **kw: object) -> None:
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
        self.sk_pacing_rate = 0
        self.sk_max_pacing_rate = 0xFFFFFFFFFFFFFFFF
        self.sk_pacing_shift = 10
        self.icsk_ca_state = TCP_CA_Open
        self.ecn_flags = TCP_ECN_OK
        self.lsndtime = 0
        self.sock_ops = None
        self.cgroup = None
        self.sent_acks: list[int] = []
        for k, v in kw.items():
            setattr(self, k, v)
