"""``TcpSockBase``: the state of one TCP endpoint (``struct tcp_sock``), declared with types.

The socket's behaviour is split by concern into a single chain of classes, each
building on the one before, so every method sees every field with its type and
a reader (or the type checker) can follow an ACK from ``TcpInput._ack`` through
``TcpRecovery`` and ``TcpRack`` to ``TcpOutput._write_xmit``:

    TcpSockBase → TcpRecovery → TcpRack → TcpOutput → TcpInput → TcpHandshake → TcpSock

The few methods an earlier class calls but a later one defines are declared
here (``raise NotImplementedError``), so the chain stays single inheritance,
which compiles to plain C structs and direct calls.

>>> from qdisclab.net import World
>>> from qdisclab.tcp import TcpStack
>>> from qdisclab.tcp.states import TCP_SYN_SENT
>>> w = World(seed=1); a = w.add_host("A"); b = w.add_host("B")
>>> _ = w.connect(a, b, "100mbit", "5ms"); w.build_routes()
>>> _ = TcpStack.of(b).listen(80)
>>> sk = TcpStack.of(a).connect(b.addr, 80, "f1")
>>> isinstance(sk, TcpSockBase), sk.snd_cwnd, sk.state == TCP_SYN_SENT
(True, 10, True)
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol

from mypy_extensions import mypyc_attr

if TYPE_CHECKING:
    import random

    from qdisclab.net.node import Node
    from qdisclab.net.world import World
    from qdisclab.sim import Scheduler, Timer
    from qdisclab.sim.tracepoint import Tracepoint
    from qdisclab.skb.flowmetrics import FlowMetrics
    from qdisclab.skb.ledger import FlowBooks
    from qdisclab.tcp.cgroup import Cgroup
    from qdisclab.tcp.congestion import AckSample, CongestionOps, RateSample
    from qdisclab.tcp.header import TxSeg
    from qdisclab.tcp.sock import TcpSock
    from qdisclab.tcp.stack import TcpStack
    from qdisclab.tcp.stats import TcpStats
    from qdisclab.tcp.storage_core import LocalStorage
    from qdisclab.tcp.storage_inline import InlineArea


class SockOpsTarget(Protocol):
    """Where a socket's sock_ops events go: a ``Cgroup``, or any object with ``event``."""

    def event(self, sk: TcpSockBase, name: str, /, *args: object) -> int | None:
        """Run sock_ops callback ``name``; its answer (e.g. ``timeout_init`` ms) or None."""
        ...


TCP_BARE_HEADER_LEN = 20  # sizeof(struct tcphdr), no options

# An out-of-order block the receiver holds: [start, end, fin] (relative sequence numbers).
OooBlock = list[int]


# Subclassable from Python: a socket model (a test's stand-in with only the fields a
# congestion control reads) is a TcpSockBase, so compiled congestion controls accept it.
@mypyc_attr(allow_interpreted_subclasses=True)
class TcpSockBase:
    """Every field of a TCP endpoint, with the kernel's names; sequence numbers are
    relative (0 = the SYN), times in us (``*_us``, ``*_mstamp``) or ns (``*_ns``)."""

    __slots__ = (
        "accurate_ecn_echo",
        "ack_sample",
        "app_limited",
        "books",
        "bpf_sock_ops_cb_flags",
        "bytes_acked",
        "bytes_received",
        "cc_rng",
        "ce_state",
        "cgroup",
        "cong_control_impl",
        "cwnd_usage_seq",
        "daddr",
        "delack_segs",
        "delack_timer",
        "delivered",
        "delivered_ce",
        "delivered_mstamp",
        "dport",
        "dsack",
        "ecn",
        "ecn_flags",
        "fin_acked",
        "fin_pending",
        "fin_received",
        "fin_sent",
        "first_tx_mstamp",
        "high_sack_seq",
        "high_seq",
        "icsk_ack_pending",
        "icsk_backoff",
        "icsk_ca_ops",
        "icsk_ca_state",
        "in_ack_event_impl",
        "is_cwnd_limited",
        "last_ooo",
        "lost_mark_seq",
        "lost_out",
        "lsndtime",
        "max_packets_out",
        "mdev_max_us",
        "mdev_us",
        "min_rtt_stamp",
        "min_rtt_us",
        "mss_cache",
        "name",
        "node",
        "on_close",
        "on_data",
        "on_established",
        "ooo",
        "ooo_bytes",
        "pacing_in_use",
        "pacing_timer",
        "packets_out",
        "prior_cwnd",
        "prior_ssthresh",
        "prr_delivered",
        "prr_out",
        "quickack",
        "rack_advanced",
        "rack_dsack_seen",
        "rack_end_seq",
        "rack_last_delivered",
        "rack_mstamp",
        "rack_reo_wnd_persist",
        "rack_reo_wnd_steps",
        "rack_rtt_us",
        "rack_timer",
        "rcv_isn",
        "rcv_nxt",
        "rcv_tstamp",
        "rcv_wnd",
        "reord_seen",
        "retrans_hint_seq",
        "retrans_out",
        "rs",
        "rto",
        "rto_timer",
        "rtt_seq",
        "rttvar_us",
        "rtx",
        "rtx_head",
        "rx_metrics",
        "sack_cache",
        "sacked_out",
        "saddr",
        "sched",
        "sk_bpf_cb_flags",
        "sk_bpf_inline",
        "sk_bpf_storage",
        "sk_max_pacing_rate",
        "sk_omem_alloc",
        "sk_pacing_rate",
        "sk_pacing_shift",
        "sk_refcnt",
        "snd_cwnd",
        "snd_cwnd_clamp",
        "snd_cwnd_cnt",
        "snd_isn",
        "snd_nxt",
        "snd_ssthresh",
        "snd_una",
        "snd_wnd",
        "sock_ops",
        "sport",
        "srtt_us",
        "stack",
        "state",
        "state_sending",
        "stats",
        "tcp_mstamp",
        "tcp_wstamp_ns",
        "tlp_high_seq",
        "tlp_retrans",
        "tlp_timer",
        "total_retrans",
        "tp_cong_state",
        "tp_probe",
        "tp_retransmit",
        "ts_recent",
        "tsorted",
        "undo_marker",
        "world",
        "write_seq",
    )  # fmt: skip

    # -- where the socket lives ---------------------------------------------------------
    stack: TcpStack
    node: Node
    world: World
    sched: Scheduler
    name: str  # the flow's name in the books and results
    saddr: int
    daddr: int
    sport: int
    dport: int
    state: int  # TCP_* (states.py)
    state_sending: bool  # established: _write_xmit may send
    books: FlowBooks
    rx_metrics: FlowMetrics  # bytes delivered in order to the application
    stats: TcpStats
    tp_probe: Tracepoint[...]
    tp_cong_state: Tracepoint[...]
    tp_retransmit: Tracepoint[...]
    # -- the application -----------------------------------------------------------------
    on_data: Callable[[TcpSock, int], object] | None  # (sk, nbytes) delivered in order
    on_established: Callable[[TcpSock], object] | None
    on_close: Callable[[TcpSock], object] | None
    write_seq: int  # end of the data the application queued
    fin_pending: bool  # close() called: a FIN follows the queued data
    fin_sent: bool
    fin_acked: bool
    fin_received: bool
    bytes_acked: int
    bytes_received: int
    # -- sock_ops and socket local storage ---------------------------------------------
    sock_ops: SockOpsTarget | None
    cgroup: Cgroup | None
    bpf_sock_ops_cb_flags: int  # BPF_SOCK_OPS_*_CB_FLAG a sock_ops program opted into
    sk_bpf_cb_flags: int
    sk_bpf_storage: LocalStorage | None
    sk_bpf_inline: InlineArea | None
    sk_omem_alloc: int
    sk_refcnt: int
    # -- sender: sequence space and window -----------------------------------------------
    snd_isn: int  # wire = (relative + snd_isn) & SEQ_MASK
    snd_una: int
    snd_nxt: int
    snd_wnd: int
    mss_cache: int
    snd_cwnd: int
    snd_ssthresh: int
    snd_cwnd_cnt: int
    snd_cwnd_clamp: int
    prior_cwnd: int
    prior_ssthresh: int
    is_cwnd_limited: bool
    max_packets_out: int
    cwnd_usage_seq: int
    # -- the retransmit queue and its counters (tcp_packets_in_flight) ------------------
    rtx: list[TxSeg]  # sent, not yet cumulatively ACKed from rtx_head on, in sequence order
    rtx_head: int
    packets_out: int
    sacked_out: int
    lost_out: int
    retrans_out: int
    total_retrans: int
    sack_cache: dict[int, int]  # SACK block start -> end already tagged
    high_sack_seq: int
    lost_mark_seq: int
    retrans_hint_seq: int
    # -- RTT, RTO and timers ----------------------------------------------------------------
    srtt_us: int  # ×8, as the kernel keeps it
    mdev_us: int
    mdev_max_us: int
    rttvar_us: int
    rtt_seq: int
    rto: int  # ns
    icsk_backoff: int
    min_rtt_us: int
    min_rtt_stamp: int
    tcp_mstamp: int  # us: the clock of the segment being processed
    lsndtime: int  # us of the last data sent
    rcv_tstamp: int  # us of the last ACK that advanced snd_una: TLP's anchor
    rto_timer: Timer
    delack_timer: Timer
    pacing_timer: Timer
    rack_timer: Timer
    tlp_timer: Timer
    # -- congestion control and recovery -----------------------------------------------
    icsk_ca_ops: CongestionOps
    icsk_ca_state: int  # TCP_CA_* (congestion.py)
    icsk_ack_pending: int  # ICSK_ACK_* bits (a congestion control may set ICSK_ACK_NOW)
    cong_control_impl: bool  # the CC implements cong_control: it sets cwnd itself
    in_ack_event_impl: bool  # the CC implements in_ack_event (else it is not called)
    cc_rng: random.Random | None  # the bpf_get_prandom_u32 stream, created on first use
    high_seq: int
    undo_marker: int
    prr_delivered: int
    prr_out: int
    # -- delivery rate (tcp_rate.c) and samples handed to the CC -------------------------
    delivered: int
    delivered_ce: int
    delivered_mstamp: int
    first_tx_mstamp: int
    app_limited: int
    rs: RateSample
    ack_sample: AckSample
    # -- pacing ---------------------------------------------------------------------------
    sk_pacing_rate: int  # bytes/s
    sk_max_pacing_rate: int
    sk_pacing_shift: int
    pacing_in_use: bool  # sk_pacing_status != SK_PACING_NONE (set by e.g. bbr)
    tcp_wstamp_ns: int  # earliest departure of the next paced segment
    # -- ECN ---------------------------------------------------------------------------------
    ecn: bool  # ask for ECN on the SYN
    ecn_flags: int  # TCP_ECN_*
    accurate_ecn_echo: bool  # echo each CE change at once (DCTCP)
    ce_state: bool
    # -- RACK-TLP (rack.py) ------------------------------------------------------------------
    tsorted: TxSeg  # sentinel of the transmit-time-ordered list
    rack_mstamp: int
    rack_end_seq: int
    rack_rtt_us: int
    rack_advanced: bool
    rack_reo_wnd_steps: int
    rack_reo_wnd_persist: int
    rack_dsack_seen: bool
    rack_last_delivered: int
    reord_seen: int
    tlp_high_seq: int
    tlp_retrans: bool
    # -- receiver ------------------------------------------------------------------------------
    rcv_isn: int
    rcv_nxt: int
    rcv_wnd: int
    ts_recent: int
    ooo: list[OooBlock]  # out-of-order blocks, sorted, disjoint
    ooo_bytes: int
    last_ooo: OooBlock | None  # the newest block: the first SACK block
    dsack: tuple[int, int] | None  # the duplicate range to report first in the next ACK
    delack_segs: int  # segments received since the last ACK sent
    quickack: int  # ACKs still to send at once (quickack mode)

    # -- kernel names for fields kept under another name (what BPF and the ccs read) ----------
    @property
    def sk_state(self) -> int:
        """``sk->sk_state``: the TCP state (``state``)."""
        return self.state

    @property
    def icsk_retransmits(self) -> int:
        """``icsk_retransmits``: RTO retransmissions since the last forward progress."""
        return self.icsk_backoff

    @property
    def icsk_rto(self) -> int:
        """``icsk_rto`` in jiffies (HZ = 1000, so ms); ``rto`` keeps it in ns."""
        return self.rto // 1_000_000

    @property
    def tcp_header_len(self) -> int:
        """``tp->tcp_header_len`` as BBR's ``tcp_mss_to_mtu`` counts it: the bare 20-byte
        header. The kernel adds the timestamp option (32); kept at 20 so BBR paces as before."""
        return TCP_BARE_HEADER_LEN

    def _set_state(self, new: int) -> None:
        """``tcp_set_state``: sock_ops sees every transition."""
        old = self.state
        self.state = new
        if self.sock_ops is not None:
            self.sock_ops.event(self, "state_change", old, new)

    # -- defined further down the chain ------------------------------------------------------
    def _write_xmit(self) -> None:
        """Send what cwnd and the peer's window allow (``TcpOutput``)."""
        raise NotImplementedError

    def _transmit(self, seg: TxSeg, retrans: bool) -> None:
        """Build, book and send one data segment (``TcpOutput``)."""
        raise NotImplementedError

    def _rate_delivered(self, seg: TxSeg, rs: RateSample) -> None:
        """Account a delivered segment in the rate sample (``TcpInput``)."""
        raise NotImplementedError

    def _rack_advance(self, seg: TxSeg, now_us: int) -> None:
        """RACK learns of a delivered segment (``TcpRack``)."""
        raise NotImplementedError

    def _rack_mark_lost(self) -> None:
        """RACK loss detection and its reordering timer (``TcpRack``)."""
        raise NotImplementedError

    def _tsorted_clear(self) -> None:
        """Empty the transmit-time-ordered list (``TcpRack``)."""
        raise NotImplementedError

    def _syn_retransmit(self, first: bool = False) -> None:
        """Send the SYN again, with backoff (``TcpHandshake``)."""
        raise NotImplementedError

    # The application's callbacks take the ``TcpSock``: only it calls them.
    def _deliver(self, nbytes: int) -> None:
        """Hand ``nbytes`` more in-order bytes to the application (``TcpSock``)."""
        raise NotImplementedError

    def _notify_established(self, passive: bool) -> None:
        """Tell the application the connection is up (``TcpSock``)."""
        raise NotImplementedError

    def _fin_sent_state(self) -> None:
        """Our FIN left: FIN_WAIT1 or LAST_ACK (``TcpSock``)."""
        raise NotImplementedError

    def _fin_acked(self) -> None:
        """The peer ACKed our FIN (``TcpSock``)."""
        raise NotImplementedError

    def _fin_received(self) -> None:
        """The peer's FIN arrived in order (``TcpSock``)."""
        raise NotImplementedError
