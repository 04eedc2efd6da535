"""Per-connection measurements: RTT samples, retransmissions, cwnd/ssthresh/srtt/pacing traces.

Traces are recorded when a value changes, into compact arrays; past ``cap``
entries they are decimated (every other point dropped) and the minimum spacing
doubles, so long runs stay small.
"""

from __future__ import annotations

from array import array
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from qdisclab.tcp.sock_base import TcpSockBase


class TcpStats:
    __slots__ = (
        "cap",
        "cwnd",
        "cwr",
        "dsack",
        "fast_retrans",
        "last_cwnd",
        "last_ssthresh",
        "last_t",
        "lost_retrans",
        "min_gap_ns",
        "pacing",
        "rack_lost",
        "retrans",
        "rto_count",
        "rtt_n",
        "rtt_stride",
        "rtt_t",
        "rtt_us",
        "segs_out",
        "srtt_us",
        "ssthresh",
        "t",
        "tlp_probes",
    )  # fmt: skip

    def __init__(self, cap: int = 20_000) -> None:
        self.cap = cap
        self.retrans = 0
        self.fast_retrans = 0
        self.cwr = 0  # ECN-triggered window reductions (entries into TCP_CA_CWR)
        self.rto_count = 0
        self.segs_out = 0
        self.rack_lost = 0  # segments RACK marked lost (incl. lost retransmissions)
        self.lost_retrans = 0  # retransmissions RACK found lost (no RTO needed)
        self.tlp_probes = 0  # tail loss probes sent
        self.dsack = 0  # ACKs carrying a D-SACK block (a spurious retransmission)
        self.rtt_t = array("q")
        self.rtt_us = array("q")
        self.rtt_stride = 1
        self.rtt_n = 0
        self.t = array("q")
        self.cwnd = array("l")
        self.ssthresh = array("q")
        self.srtt_us = array("q")
        self.pacing = array("q")
        self.last_cwnd = -1
        self.last_ssthresh = -1
        self.last_t = -(1 << 62)
        self.min_gap_ns = 0

    def rtt_sample(self, now_us: int, rtt_us: int) -> None:
        self.rtt_n += 1
        if self.rtt_n % self.rtt_stride:
            return
        self.rtt_t.append(now_us)
        self.rtt_us.append(rtt_us)
        if len(self.rtt_us) >= self.cap:
            self.rtt_t = self.rtt_t[::2]
            self.rtt_us = self.rtt_us[::2]
            self.rtt_stride *= 2

    def trace(self, sk: TcpSockBase) -> None:
        cwnd = sk.snd_cwnd
        if cwnd == self.last_cwnd and sk.snd_ssthresh == self.last_ssthresh:
            return
        now = sk.sched.now
        tp = sk.tp_probe
        if tp.listeners:
            tp.emit(now, sk, cwnd, sk.snd_ssthresh, sk.srtt_us >> 3)
        if now - self.last_t < self.min_gap_ns:
            return
        self.last_cwnd = cwnd
        self.last_ssthresh = sk.snd_ssthresh
        self.last_t = now
        self.t.append(now)
        self.cwnd.append(cwnd)
        self.ssthresh.append(min(sk.snd_ssthresh, 0x7FFFFFFF))
        self.srtt_us.append(sk.srtt_us >> 3)
        self.pacing.append(sk.sk_pacing_rate)
        if len(self.t) >= self.cap:
            for name in ("t", "cwnd", "ssthresh", "srtt_us", "pacing"):
                setattr(self, name, getattr(self, name)[::2])
            self.min_gap_ns = max(1_000_000, self.min_gap_ns * 2)

    def summary(self) -> dict[str, int | float]:
        rtts = sorted(self.rtt_us)
        return {
            "retrans": self.retrans,
            "fast_retrans": self.fast_retrans,
            "cwr": self.cwr,
            "rto": self.rto_count,
            "segs_out": self.segs_out,
            "tlp": self.tlp_probes,
            "rtt_p50_ms": rtts[len(rtts) // 2] / 1000 if rtts else float("nan"),
        }
