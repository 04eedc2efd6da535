"""Stand-in for ``qdisclab.tcp.congestion`` and a fake socket, for the CC/sock_ops unit tests.

The real module is written on the ``tcp`` branch against the same contract;
tests import it when present and fall back to this file otherwise. Only the
pieces the DCTCP/BBR/sock_ops tests touch are modelled. ``FakeSock`` is used
either way: it is a plain object carrying the ``tcp_sock`` fields of the
contract, so a test can set the exact state a kernel trace would have.
"""

from __future__ import annotations

from dataclasses import dataclass

from qdisclab.ops import Member, StructOpsInterface

TCP_CONG_NON_RESTRICTED = 0x1
TCP_CONG_NEEDS_ECN = 0x2

TCP_CA_Open, TCP_CA_Disorder, TCP_CA_CWR, TCP_CA_Recovery, TCP_CA_Loss = range(5)
(
    CA_EVENT_TX_START,
    CA_EVENT_CWND_RESTART,
    CA_EVENT_COMPLETE_CWR,
    CA_EVENT_LOSS,
    CA_EVENT_ECN_NO_CE,
    CA_EVENT_ECN_IS_CE,
) = range(6)
CA_ACK_SLOWPATH = 1
CA_ACK_WIN_UPDATE = 2
CA_ACK_ECE = 4
TCP_INFINITE_SSTHRESH = 0x7FFFFFFF
TCP_ECN_OK = 1
TCP_ECN_QUEUE_CWR = 2
TCP_ECN_DEMAND_CWR = 4
TCP_ECN_SEEN = 8


class CongestionOps:
    name = ""
    flags = 0

    def init(self, sk):
        pass

    def release(self, sk):
        pass

    def ssthresh(self, sk):
        raise NotImplementedError

    def cong_avoid(self, sk, ack, acked):
        raise NotImplementedError

    def set_state(self, sk, new_state):
        pass

    def cwnd_event(self, sk, ev):
        pass

    def in_ack_event(self, sk, flags):
        pass

    def pkts_acked(self, sk, sample):
        pass

    def min_tso_segs(self, sk):
        return 2

    def cong_control(self, sk, ack, flag, rs):
        raise NotImplementedError

    def undo_cwnd(self, sk):
        raise NotImplementedError

    def sndbuf_expand(self, sk):
        return 2


TCP_CONGESTION_OPS = StructOpsInterface(
    "tcp_congestion_ops",
    CongestionOps,
    [
        Member(m)
        for m in (
            "init",
            "release",
            "cong_avoid",
            "set_state",
            "cwnd_event",
            "in_ack_event",
            "pkts_acked",
            "min_tso_segs",
            "cong_control",
            "sndbuf_expand",
        )
    ]
    + [Member("ssthresh", mandatory=True), Member("undo_cwnd", mandatory=True)],
    id_attr="name",
    id_max_len=15,
    require_one_of=(("cong_avoid", "cong_control"),),
)


def register_cc(cls: type) -> type:
    return TCP_CONGESTION_OPS.register(cls)


@dataclass
class AckSample:
    pkts_acked: int = 0
    rtt_us: int = -1
    in_flight: int = 0


@dataclass
class RateSample:
    delivered: int = 0
    prior_delivered: int = 0
    interval_us: int = 0
    rtt_us: int = -1
    losses: int = 0
    acked_sacked: int = 0
    prior_in_flight: int = 0
    is_app_limited: bool = False
    is_retrans: bool = False
    is_ack_delayed: bool = False
    delivered_ce: int = 0
    prior_mstamp: int = 0


def tcp_snd_cwnd(sk) -> int:
    return sk.snd_cwnd


def tcp_snd_cwnd_set(sk, v: int) -> None:
    sk.snd_cwnd = v


def tcp_in_slow_start(sk) -> bool:
    return sk.snd_cwnd < sk.snd_ssthresh


def tcp_is_cwnd_limited(sk) -> bool:
    if sk.is_cwnd_limited:
        return True
    return sk.snd_cwnd < sk.snd_ssthresh and sk.snd_cwnd < 2 * sk.max_packets_out


def tcp_packets_in_flight(sk) -> int:
    return sk.packets_out - (sk.sacked_out + sk.lost_out) + sk.retrans_out


def tcp_slow_start(sk, acked: int) -> int:
    cwnd = min(sk.snd_cwnd + acked, sk.snd_ssthresh)
    acked -= cwnd - sk.snd_cwnd
    sk.snd_cwnd = min(cwnd, sk.snd_cwnd_clamp)
    return acked


def tcp_cong_avoid_ai(sk, w: int, acked: int) -> None:
    if sk.snd_cwnd_cnt >= w:
        sk.snd_cwnd_cnt = 0
        sk.snd_cwnd += 1
    sk.snd_cwnd_cnt += acked
    if sk.snd_cwnd_cnt >= w:
        d = sk.snd_cwnd_cnt // w
        sk.snd_cwnd_cnt -= d * w
        sk.snd_cwnd += d
    sk.snd_cwnd = min(sk.snd_cwnd, sk.snd_cwnd_clamp)


def tcp_reno_cong_avoid(sk, ack: int, acked: int) -> None:
    if not tcp_is_cwnd_limited(sk):
        return
    if tcp_in_slow_start(sk):
        acked = tcp_slow_start(sk, acked)
        if not acked:
            return
    tcp_cong_avoid_ai(sk, sk.snd_cwnd, acked)


def tcp_reno_ssthresh(sk) -> int:
    return max(sk.snd_cwnd >> 1, 2)


def tcp_reno_undo_cwnd(sk) -> int:
    return max(sk.snd_cwnd, sk.prior_cwnd)


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
