"""The three-way handshake: active open (SYN, SYN-ACK) and passive open (SYN-RECV).

Part of ``TcpSock`` (see ``sock_base.py``), like ``TcpOutput``/``TcpInput``: the state lives on the
socket. ECN is negotiated here (ECE+CWR on the SYN, ECE on the SYN-ACK), and
the sock_ops ``timeout_init``/``rwnd_init``/``connect``/``*_established``
events fire here.

Each side picks its initial sequence number the way RFC 6528 (and the kernel's
``secure_tcp_seq``) does: a keyed hash of the 4-tuple plus a clock. The run seed
is the key, so another seed gives other ISNs and the same seed the same ones.
"""

from __future__ import annotations

from qdisclab.tcp.congestion import TCP_CONG_NEEDS_ECN, TCP_ECN_OK
from qdisclab.tcp.header import SEQ_MASK, TCPHDR_ACK, TCPHDR_CWR, TCPHDR_ECE, TCPHDR_SYN, TcpHdr
from qdisclab.tcp.input import TcpInput
from qdisclab.tcp.sock_base import SockOpsTarget
from qdisclab.tcp.states import TCP_ESTABLISHED, TCP_SYN_RECV, TCP_SYN_SENT

TCP_INIT_CWND = 10  # segments: the initial window of RFC 6928


class TcpHandshake(TcpInput):
    """Part of ``TcpSock``: connection establishment."""

    __slots__ = ()

    def secure_seq(self) -> int:
        """This connection's ISN (``secure_tcp_seq``): hash(seed, 4-tuple) + now / 64 ns.

        >>> from qdisclab.net import World
        >>> from qdisclab.tcp import TcpStack
        >>> w = World(seed=1); a = w.add_host("A"); b = w.add_host("B")
        >>> _ = w.connect(a, b, "100mbit", "5ms"); w.build_routes()
        >>> _ = TcpStack.of(b).listen(80)
        >>> sk = TcpStack.of(a).connect(b.addr, 80, "f1")
        >>> sk.snd_isn == sk.secure_seq() and 0 <= sk.snd_isn <= 0xFFFFFFFF
        True
        """
        tuple_key = f"tcp-isn:{self.saddr}:{self.sport}>{self.daddr}:{self.dport}"
        return (self.world.rng.derive_int(tuple_key) + (self.sched.now >> 6)) & SEQ_MASK

    def _init_transfer(self) -> None:
        """``tcp_init_transfer``: IW 10 and the congestion control's init."""
        self.snd_cwnd = TCP_INIT_CWND
        self.prior_ssthresh = 0
        self.icsk_ca_ops.init(self)
        self.update_pacing_rate()
        self.state_sending = True

    # -- active open -------------------------------------------------------------------
    def connect(self, isn: int | None = None) -> None:
        """Send the SYN (``tcp_connect``); ``isn`` forces the ISN instead of ``secure_seq``."""
        self.snd_isn = (self.secure_seq() if isn is None else isn) & SEQ_MASK
        if self.sock_ops is not None:
            ms = self.sock_ops.event(self, "timeout_init")
            if ms:
                self.rto = ms * 1_000_000
            self._apply_rwnd_init(self.sock_ops)
            self.sock_ops.event(self, "connect")
        self._set_state(TCP_SYN_SENT)
        self.snd_nxt = 1
        self.snd_una = 0
        self.write_seq = max(self.write_seq, 1)
        self._syn_retransmit(first=True)

    def _apply_rwnd_init(self, sock_ops: SockOpsTarget) -> None:
        pkts = sock_ops.event(self, "rwnd_init")
        if pkts:
            self.rcv_wnd = pkts * self.mss_cache

    def _syn_retransmit(self, first: bool = False) -> None:
        want_ecn = self.ecn or self.icsk_ca_ops.flags & TCP_CONG_NEEDS_ECN
        flags = TCPHDR_SYN | (TCPHDR_ECE | TCPHDR_CWR if want_ecn else 0)
        if not first:
            self.icsk_backoff += 1
            self.rto = min(self.rto * 2, 120_000_000_000)
        self.lsndtime = self.sched.now // 1000
        self._send_ctl(flags, 0)
        self.rto_timer.arm(self.sched.now + self.rto)

    def _rcv_synack(self, th: TcpHdr) -> None:
        self.rto_timer.cancel()
        if not self.icsk_backoff:  # Karn: no sample from a retransmitted SYN
            self.rtt_estimator(max(1, self.sched.now // 1000 - self.lsndtime))
        self.icsk_backoff = 0
        self.rcv_isn = th.seq
        self.rcv_nxt = 1
        self.snd_una = 1
        self.snd_wnd = th.window
        want_ecn = self.ecn or self.icsk_ca_ops.flags & TCP_CONG_NEEDS_ECN
        if want_ecn and th.flags & TCPHDR_ECE:
            self.ecn_flags = TCP_ECN_OK
        if th.tsval:
            self.ts_recent = th.tsval
        self._set_state(TCP_ESTABLISHED)
        self._init_transfer()
        if self.sock_ops is not None:
            self.sock_ops.event(self, "active_established")
        self._send_ctl(TCPHDR_ACK, self.snd_nxt)
        self._notify_established(False)
        self._write_xmit()

    # -- passive open ---------------------------------------------------------------------
    def _passive_open(self, th: TcpHdr, listener_ecn: bool) -> None:
        self.snd_isn = self.secure_seq()
        self.rcv_isn = th.seq
        self.rcv_nxt = 1
        self.snd_wnd = th.window
        self.ts_recent = th.tsval
        want_ecn = listener_ecn or self.icsk_ca_ops.flags & TCP_CONG_NEEDS_ECN
        ecn_ok = want_ecn and th.flags & TCPHDR_ECE and th.flags & TCPHDR_CWR
        if ecn_ok:
            self.ecn_flags = TCP_ECN_OK
        if self.sock_ops is not None:
            self._apply_rwnd_init(self.sock_ops)
        self._set_state(TCP_SYN_RECV)
        self.snd_nxt = self.write_seq = 1
        self._send_ctl(TCPHDR_SYN | TCPHDR_ACK | (TCPHDR_ECE if ecn_ok else 0), 0)

    def _synrecv_ack(self, th: TcpHdr) -> None:
        self.snd_una = 1
        self._set_state(TCP_ESTABLISHED)
        self._init_transfer()
        if self.sock_ops is not None:
            self.sock_ops.event(self, "passive_established")
        self._notify_established(True)
