"""``TcpSock``: one TCP endpoint (``struct tcp_sock``) — fields with kernel names, handshake,
close, congestion-control assignment; the send/receive/recovery logic lives in the mixins.

>>> from qdisclab.net import World
>>> from qdisclab.tcp import TcpStack
>>> w = World(seed=1); a = w.add_host("A"); b = w.add_host("B")
>>> _ = w.connect(a, b, "100mbit", "5ms"); w.build_routes()
>>> srv = TcpStack.of(b).listen(80)
>>> sk = TcpStack.of(a).connect(b.addr, 80, "f1")
>>> sk.send(100_000); w.run(1_000_000_000)
>>> srv.accepted[0].bytes_received, sk.mss_cache
(100000, 1448)
"""

from __future__ import annotations

import errno
from typing import Any

from qdisclab.errors import KernelError
from qdisclab.sim import Timer
from qdisclab.sim.tracepoint import tracepoint
from qdisclab.skb.flowmetrics import FlowMetrics
from qdisclab.tcp.cc_guard import cc_class_for
from qdisclab.tcp.congestion import (
    TCP_CONG_NEEDS_ECN,
    TCP_INFINITE_SSTHRESH,
    AckSample,
    RateSample,
    TCP_CA_Open,
    get_default_cc,
    lookup_cc,
)
from qdisclab.tcp.handshake import TcpHandshake
from qdisclab.tcp.header import (
    TCP_MSS_OVERHEAD,
    TCPHDR_ACK,
    TCPHDR_SYN,
    TCPOLEN_TSTAMP_ALIGNED,
)
from qdisclab.tcp.input import TcpInput
from qdisclab.tcp.output import TcpOutput
from qdisclab.tcp.rack import TcpRack, tsorted_init
from qdisclab.tcp.recovery import TCP_TIMEOUT_INIT_NS, TcpRecovery
from qdisclab.tcp.sk_storage import sk_storage_free
from qdisclab.tcp.states import (  # noqa: F401 (the kernel's state names, re-exported)
    TCP_CLOSE,
    TCP_CLOSE_WAIT,
    TCP_ESTABLISHED,
    TCP_FIN_WAIT1,
    TCP_FIN_WAIT2,
    TCP_LAST_ACK,
    TCP_LISTEN,
    TCP_SYN_RECV,
    TCP_SYN_SENT,
    TCP_TIME_WAIT,
)
from qdisclab.tcp.stats import TcpStats
from qdisclab.tcp.tracepoints import TCP_CONG_STATE_SET, TCP_PROBE, TCP_RETRANSMIT_SKB

TCP_INIT_CWND = 10
DEFAULT_RCV_WND = 6 * 1024 * 1024  # tcp_rmem max: the autotuned window a bulk receiver reaches


class TcpSock(TcpHandshake, TcpOutput, TcpInput, TcpRecovery, TcpRack):
    """One TCP connection endpoint. Created by ``TcpStack.connect`` or by a listener."""

    __slots__ = (
        "__weakref__",
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
        "icsk_backoff",
        "icsk_ca_ops",
        "icsk_ca_state",
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

    def __init__(self, stack: Any, sport: int, daddr: int, dport: int, name: str,
                 cc: str | None = None, ecn: bool = False) -> None:  # fmt: skip
        node = stack.node
        self.stack = stack
        self.node = node
        self.world = node.world
        self.sched = node.sched
        self.tp_probe = tracepoint(self.sched, TCP_PROBE)
        self.tp_cong_state = tracepoint(self.sched, TCP_CONG_STATE_SET)
        self.tp_retransmit = tracepoint(self.sched, TCP_RETRANSMIT_SKB)
        self.name = name
        self.saddr = node.addr
        self.daddr = daddr
        self.sport = sport
        self.dport = dport
        self.rx_metrics = FlowMetrics(name)
        self.books = self.world.flow_books(name)
        self.stats = TcpStats()
        self.state = TCP_CLOSE
        self.state_sending = False
        self.sock_ops: Any = None  # a Cgroup (or anything with .event) once attached
        self.cgroup: Any = None
        self.bpf_sock_ops_cb_flags = 0  # B.3 flags a legacy sock_ops program opts into
        self.sk_bpf_cb_flags = 0
        # socket local storage (sk_storage.py) hangs off these; freed in _on_close.
        self.sk_bpf_storage = None
        self.sk_bpf_inline = None
        self.sk_omem_alloc = 0
        self.sk_refcnt = 1
        dev = node.routes.lookup(daddr)
        mtu = dev.mtu if dev is not None else 1500
        self.mss_cache = mtu - TCP_MSS_OVERHEAD - TCPOLEN_TSTAMP_ALIGNED
        self.snd_cwnd = TCP_INIT_CWND
        self.snd_ssthresh = TCP_INFINITE_SSTHRESH
        self.snd_cwnd_cnt = 0
        self.snd_cwnd_clamp = 0xFFFFFFFF
        # Sequence state is relative (0 = the SYN); snd_isn / rcv_isn place it on the wire.
        self.snd_una = self.snd_nxt = self.write_seq = 0
        self.snd_isn = self.rcv_isn = 0
        self.snd_wnd = 65535
        self.rcv_nxt = 0
        self.rcv_wnd = DEFAULT_RCV_WND
        self.srtt_us = self.mdev_us = self.mdev_max_us = self.rttvar_us = 0
        self.rtt_seq = 0
        self.rto = TCP_TIMEOUT_INIT_NS
        self.icsk_backoff = 0
        self.min_rtt_us = 0
        self.min_rtt_stamp = 0
        self.packets_out = self.sacked_out = self.lost_out = self.retrans_out = 0
        self.max_packets_out = 0
        self.cwnd_usage_seq = 0
        self.is_cwnd_limited = False
        self.prior_cwnd = 0
        self.prior_ssthresh = 0
        self.prr_delivered = self.prr_out = 0
        self.high_seq = 0
        self.undo_marker = 0
        self.delivered = self.delivered_ce = 0
        self.delivered_mstamp = self.first_tx_mstamp = 0
        self.app_limited = 0
        self.tcp_mstamp = self.sched.now // 1000
        self.lsndtime = self.tcp_mstamp
        self.sk_pacing_rate = 0
        self.sk_max_pacing_rate = (1 << 63) - 1
        self.sk_pacing_shift = 10
        self.pacing_in_use = False  # sk_pacing_status != SK_PACING_NONE (set by e.g. bbr)
        self.tcp_wstamp_ns = 0  # earliest departure of the next paced segment
        self.bytes_acked = 0
        self.bytes_received = 0
        self.total_retrans = 0
        self.ecn = ecn
        self.ecn_flags = 0
        self.accurate_ecn_echo = False
        self.ce_state = False
        self.ts_recent = 0
        self.rtx: list = []
        self.rtx_head = 0
        self.sack_cache: dict = {}
        self.high_sack_seq = 0
        self.lost_mark_seq = 0
        self.retrans_hint_seq = 0
        self.ooo: list = []
        self.ooo_bytes = 0
        self.last_ooo = None
        self.delack_segs = 0
        self.quickack = 16  # quickack mode at the start: ACK every segment
        self.fin_pending = self.fin_sent = self.fin_acked = self.fin_received = False
        self.on_data: Any = None  # callback(sk, nbytes) for in-order delivered bytes
        self.on_established: Any = None
        self.on_close: Any = None
        self.rs = RateSample()
        self.ack_sample = AckSample()
        self.rto_timer = Timer(self.sched, self._rto_fire)
        self.delack_timer = Timer(self.sched, self._delack_fire)
        self.pacing_timer = Timer(self.sched, self._pacing_fire)
        # RACK-TLP (rack.py): the transmit-time-ordered list, RACK's newest delivered segment.
        self.tsorted = tsorted_init()
        self.rack_mstamp = self.rack_end_seq = self.rack_rtt_us = 0
        self.rack_advanced = False
        self.rack_reo_wnd_steps = 1
        self.rack_reo_wnd_persist = 0
        self.rack_dsack_seen = False
        self.rack_last_delivered = 0
        self.dsack = None  # receiver: the duplicate range to report first in the next ACK
        self.reord_seen = 0
        self.tlp_high_seq = 0
        self.rcv_tstamp = 0  # us of the last ACK that advanced snd_una: TLP's anchor
        self.tlp_retrans = False
        self.rack_timer = Timer(self.sched, self._rack_reo_timeout)
        self.tlp_timer = Timer(self.sched, self._send_loss_probe)
        self.icsk_ca_state = TCP_CA_Open
        self.cc_rng = None  # the bpf_get_prandom_u32 stream, created on first use
        cls = lookup_cc(cc or get_default_cc()) or lookup_cc("reno")
        if cc is not None and lookup_cc(cc) is None:
            raise KernelError(errno.ENOENT, f"TCP_CONGESTION: no congestion control '{cc}'")
        self._assign_cc(cls)

    # -- congestion control ----------------------------------------------------------
    def _assign_cc(self, cls: type) -> None:
        self.icsk_ca_ops = cc_class_for(cls, self.world.policy)()
        self.cong_control_impl = "cong_control" in _own_members(cls)
        if cls.flags & TCP_CONG_NEEDS_ECN:
            self.accurate_ecn_echo = True

    def set_congestion_control(self, name: str) -> None:
        """``setsockopt(TCP_CONGESTION)``: ENOENT for an unknown name; same name is a no-op."""
        if name == self.icsk_ca_ops.name:
            return
        cls = lookup_cc(name)
        if cls is None:
            raise KernelError(errno.ENOENT, f"TCP_CONGESTION: no congestion control '{name}'")
        self.icsk_ca_ops.release(self)
        self._assign_cc(cls)
        if self.state not in (TCP_CLOSE, TCP_LISTEN):
            if cls.flags & TCP_CONG_NEEDS_ECN and self.state != TCP_ESTABLISHED:
                self.ecn = True
            self.icsk_ca_ops.init(self)

    def _init_transfer(self) -> None:
        """``tcp_init_transfer``: IW 10 and the congestion control's init."""
        self.snd_cwnd = TCP_INIT_CWND
        self.prior_ssthresh = 0
        self.icsk_ca_ops.init(self)
        self.update_pacing_rate()
        self.state_sending = True

    def attach_sock_ops(self, sock_ops: Any) -> None:
        """Route this socket's sock_ops events to ``sock_ops``: a ``Cgroup`` (which records
        itself as the socket's cgroup) or any object with ``event(sk, name, *args)``."""
        add = getattr(sock_ops, "add_socket", None)
        if add is not None:
            add(self)
        else:
            self.sock_ops = sock_ops

    def _set_state(self, new: int) -> None:
        old = self.state
        self.state = new
        if self.sock_ops is not None:
            self.sock_ops.event(self, "state_change", old, new)

    # -- the segment entry point --------------------------------------------------------
    def receive(self, skb: Any) -> None:
        th = skb.th
        state = self.state
        if state == TCP_ESTABLISHED or state > TCP_SYN_RECV:
            self._rcv_established(skb, th)
            return
        if state == TCP_SYN_SENT and th.flags & TCPHDR_SYN and th.flags & TCPHDR_ACK:
            self._rcv_synack(th)
        elif state == TCP_SYN_RECV and th.flags & TCPHDR_ACK and not th.flags & TCPHDR_SYN:
            self._synrecv_ack(th)
            self._rcv_established(skb, th)
            return
        from qdisclab.skb import skb_consume

        skb_consume(skb)

    # -- application API -----------------------------------------------------------------------
    def send(self, nbytes: int) -> None:
        """Queue ``nbytes`` more bytes of application data (``sendmsg``)."""
        self.write_seq = max(self.write_seq, 1) + nbytes
        if self.state_sending:
            self._write_xmit()

    def discard_unsent(self) -> None:
        """Drop application data not yet sent (what is in flight is still delivered).

        For an unlimited writer that stops: its backlog leaves the socket buffer.
        """
        if self.write_seq > self.snd_nxt:
            self.write_seq = max(self.snd_nxt, 1)

    def close(self) -> None:
        """Send a FIN once all queued data is sent (``tcp_close``)."""
        self.fin_pending = True
        if self.state_sending:
            self._write_xmit()

    def _fin_sent_state(self) -> None:
        self._set_state(TCP_FIN_WAIT1 if self.state == TCP_ESTABLISHED else TCP_LAST_ACK)

    def _fin_acked(self) -> None:
        self.fin_acked = True
        if self.state == TCP_FIN_WAIT1:
            self._set_state(TCP_FIN_WAIT2)
        if self.fin_received:
            self._done()

    def _fin_received(self) -> None:
        self.fin_received = True
        if self.state == TCP_ESTABLISHED:
            self._set_state(TCP_CLOSE_WAIT)
        if self.fin_acked:
            self._done()

    def _done(self) -> None:
        self._set_state(TCP_CLOSE)
        self.rto_timer.cancel()
        self.rack_timer.cancel()
        self.tlp_timer.cancel()
        self.state_sending = False
        self.icsk_ca_ops.release(self)
        self.stack.unhash(self)
        self._on_close()
        if self.on_close is not None:
            self.on_close(self)

    def _on_close(self) -> None:
        """Socket destruction (``sk_destruct``): the last reference goes, storage is freed."""
        self.sk_refcnt = 0
        sk_storage_free(self)

    def __repr__(self) -> str:
        return f"<TcpSock {self.name} state={self.state} cwnd={self.snd_cwnd}>"


def _own_members(cls: type) -> set[str]:
    from qdisclab.tcp.congestion import TCP_CONGESTION_OPS

    return {m for m in TCP_CONGESTION_OPS.members if TCP_CONGESTION_OPS.implements(cls, m)}
