"""``TcpSock``: one TCP endpoint (``struct tcp_sock``) — construction, congestion-control
assignment, the application API and close. The fields are declared in ``sock_base.py``;
receiving, sending, recovery, RACK and the handshake are the classes it builds on.

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
from typing import TYPE_CHECKING, cast

from qdisclab.errors import KernelError
from qdisclab.sim import Scheduler, Timer
from qdisclab.sim.tracepoint import tracepoint
from qdisclab.skb import SkBuff, skb_consume
from qdisclab.skb.flowmetrics import FlowMetrics
from qdisclab.tcp.cc_guard import cc_class_for
from qdisclab.tcp.congestion import (
    TCP_CONG_NEEDS_ECN,
    TCP_INFINITE_SSTHRESH,
    AckSample,
    CongestionOps,
    RateSample,
    TCP_CA_Open,
    get_default_cc,
    install_cc,
    lookup_cc,
)
from qdisclab.tcp.handshake import TCP_INIT_CWND, TcpHandshake
from qdisclab.tcp.header import (
    TCP_MSS_OVERHEAD,
    TCPHDR_ACK,
    TCPHDR_SYN,
    TCPOLEN_TSTAMP_ALIGNED,
    TcpHdr,
)
from qdisclab.tcp.rack import tsorted_init
from qdisclab.tcp.recovery import TCP_TIMEOUT_INIT_NS
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

if TYPE_CHECKING:
    from qdisclab.tcp.cgroup import Cgroup
    from qdisclab.tcp.sock_base import SockOpsTarget
    from qdisclab.tcp.stack import TcpStack

DEFAULT_RCV_WND = 6 * 1024 * 1024  # tcp_rmem max: the autotuned window a bulk receiver reaches


class TcpSock(TcpHandshake):
    """One TCP connection endpoint. Created by ``TcpStack.connect`` or by a listener.

    The fields are declared in ``TcpSockBase``; this class adds construction,
    congestion-control assignment, the application API and closing.
    """

    __slots__ = ()

    def __init__(self, stack: TcpStack, sport: int, daddr: int, dport: int, name: str,
                 cc: str | None = None, ecn: bool = False) -> None:  # fmt: skip
        node = stack.node
        self.stack = stack
        self.node = node
        self.world = node.world
        sched = node.sched
        if not isinstance(sched, Scheduler):  # live worlds carry the kernel's own TCP
            raise TypeError("qdisclab's TCP runs on the simulated scheduler only")
        self.sched = sched
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
        self.sock_ops = None  # a Cgroup (or anything with .event) once attached
        self.cgroup = None
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
        self.rtx = []
        self.rtx_head = 0
        self.sack_cache = {}
        self.high_sack_seq = 0
        self.lost_mark_seq = 0
        self.retrans_hint_seq = 0
        self.ooo = []
        self.ooo_bytes = 0
        self.last_ooo = None
        self.delack_segs = 0
        self.quickack = 16  # quickack mode at the start: ACK every segment
        self.fin_pending = self.fin_sent = self.fin_acked = self.fin_received = False
        self.on_data = None
        self.on_established = None
        self.on_close = None
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
        self.icsk_ack_pending = 0
        self.cc_rng = None  # the bpf_get_prandom_u32 stream, created on first use
        if cc is not None and lookup_cc(cc) is None:
            raise KernelError(errno.ENOENT, f"TCP_CONGESTION: no congestion control '{cc}'")
        cls = lookup_cc(cc or get_default_cc()) or lookup_cc("reno")
        assert cls is not None, "reno is built in"
        self._assign_cc(cls)

    # -- congestion control ----------------------------------------------------------
    def _assign_cc(self, cls: type[CongestionOps]) -> None:
        install_cc(self, cc_class_for(cls, self.world.policy)())
        if cls.flags & TCP_CONG_NEEDS_ECN:
            self.accurate_ecn_echo = True

    def set_congestion_control(self, name: str) -> None:
        """``setsockopt(TCP_CONGESTION)``: ENOENT for an unknown name; same name is a no-op."""
        if name == self.icsk_ca_ops.name:
            return
        cls: type[CongestionOps] | None = lookup_cc(name)
        if cls is None:
            raise KernelError(errno.ENOENT, f"TCP_CONGESTION: no congestion control '{name}'")
        self.icsk_ca_ops.release(self)
        self._assign_cc(cls)
        if self.state not in (TCP_CLOSE, TCP_LISTEN):
            if cls.flags & TCP_CONG_NEEDS_ECN and self.state != TCP_ESTABLISHED:
                self.ecn = True
            self.icsk_ca_ops.init(self)

    def attach_sock_ops(self, sock_ops: SockOpsTarget | Cgroup) -> None:
        """Route this socket's sock_ops events to ``sock_ops``: a ``Cgroup`` (which records
        itself as the socket's cgroup) or any object with ``event(sk, name, *args)``."""
        add = getattr(sock_ops, "add_socket", None)
        if add is not None:
            add(self)
        else:
            self.sock_ops = sock_ops

    # -- the segment entry point --------------------------------------------------------
    def receive(self, skb: SkBuff) -> None:
        """A segment for this socket (``tcp_v4_rcv`` after the lookup)."""
        th = cast(TcpHdr, skb.th)  # the TCP layer's header on every segment it receives
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

    def _deliver(self, nbytes: int) -> None:
        self.bytes_received += nbytes
        self.rx_metrics.add_bytes(nbytes, self.sched.now)
        if self.on_data is not None:
            self.on_data(self, nbytes)

    def _notify_established(self, passive: bool) -> None:
        if passive:
            self.stack.accepted_sock(self)  # into the listener's accept queue
        elif self.on_established is not None:
            self.on_established(self)

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
        if self.sk_bpf_storage is not None or self.sk_bpf_inline is not None:
            # Only a storage map puts values here, and making one imported the module:
            # a run without socket storage never loads it.
            from qdisclab.tcp.sk_storage import sk_storage_free

            sk_storage_free(self)

    def __repr__(self) -> str:
        return f"<TcpSock {self.name} state={self.state} cwnd={self.snd_cwnd}>"
