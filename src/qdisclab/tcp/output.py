"""Sending: ``tcp_write_xmit``, segment transmission, pure ACKs, pacing rate, rate sampling."""

from __future__ import annotations

from qdisclab.skb import INET_ECN_ECT_0, IPPROTO_TCP, SkBuff
from qdisclab.tcp.congestion import (
    CA_EVENT_TX_START,
    TCP_CA_CWR,
    TCP_ECN_DEMAND_CWR,
    TCP_ECN_OK,
    TCP_ECN_QUEUE_CWR,
    TCP_CA_Recovery,
)
from qdisclab.tcp.header import (
    SEQ_MASK,
    TCP_HEADER_OVERHEAD,
    TCPHDR_ACK,
    TCPHDR_CWR,
    TCPHDR_ECE,
    TCPHDR_FIN,
    SackBlocks,
    TcpHdr,
    TxSeg,
)
from qdisclab.tcp.rack import TcpRack


class TcpOutput(TcpRack):
    """Part of ``TcpSock``: the send side."""

    __slots__ = ()

    def _write_xmit(self) -> None:
        """Send what cwnd and the peer's window allow: lost segments first, then new data."""
        if self.state_sending is False:
            return
        self.tcp_mstamp = now_us = self.sched.now // 1000
        cwnd = self.snd_cwnd
        in_flight = self.packets_out - self.sacked_out - self.lost_out + self.retrans_out
        pacing = self.pacing_in_use and self.sk_pacing_rate > 0
        if pacing and self.tcp_wstamp_ns > self.sched.now:
            # tcp_pacing_check: the next departure time is in the future; come back then.
            self.pacing_timer.arm(self.tcp_wstamp_ns)
            return
        if self.lost_out > self.retrans_out and in_flight < cwnd:
            in_flight = self._retransmit_lost(in_flight, cwnd)
            if pacing and self.tcp_wstamp_ns > self.sched.now:
                self.pacing_timer.arm(self.tcp_wstamp_ns)
                return
        rtx = self.rtx
        mss = self.mss_cache
        wnd_end = self.snd_una + self.snd_wnd
        write_seq = self.write_seq
        sent = False
        nsent = 0
        while in_flight < cwnd:
            seq = self.snd_nxt
            if seq >= write_seq:
                if self.fin_pending and not self.fin_sent:
                    seg = TxSeg(seq, seq + 1, True)
                    self.fin_sent = True
                    self._fin_sent_state()
                else:
                    # tcp_rate_check_app_limited: the app, not cwnd, limits sending.
                    self.app_limited = (self.delivered + self.packets_out) or 1
                    break
            else:
                end = seq + mss
                if end > write_seq:
                    end = write_seq
                if end > wnd_end:
                    break
                seg = TxSeg(seq, end, False)
            if self.packets_out == 0:
                self.first_tx_mstamp = self.delivered_mstamp = now_us
                self.icsk_ca_ops.cwnd_event(self, CA_EVENT_TX_START)
            rtx.append(seg)
            self.snd_nxt = seg.end
            self.packets_out += 1
            in_flight += 1
            self._transmit(seg, False)
            nsent += 1
            sent = True
            if pacing and self.tcp_wstamp_ns > self.sched.now:
                self.pacing_timer.arm(self.tcp_wstamp_ns)
                break
        if sent and self.icsk_ca_state in (TCP_CA_CWR, TCP_CA_Recovery):
            # tcp_write_xmit: new data sent in CWR/Recovery counts against PRR's budget.
            self.prr_out += nsent
        if sent or in_flight >= cwnd:
            # tcp_cwnd_validate
            limited = in_flight >= cwnd
            if (
                self.snd_una >= self.cwnd_usage_seq
                or limited
                or (not self.is_cwnd_limited and self.packets_out > self.max_packets_out)
            ):
                self.is_cwnd_limited = limited
                self.max_packets_out = self.packets_out
                self.cwnd_usage_seq = self.snd_nxt
        if self.packets_out and self.rto_timer.expires is None:  # not armed
            self.rto_timer.arm(self.sched.now + self.rto)
        if sent and self.tlp_timer.expires is None:
            self._schedule_loss_probe()

    def _transmit(self, seg: TxSeg, retrans: bool) -> None:
        """Build, book and send one data segment (``tcp_transmit_skb``)."""
        now_ns = self.sched.now
        now_us = now_ns // 1000
        seg.tx_us = now_us
        # tcp_update_skb_after_send: the (re)sent segment goes to the tail of the tsorted list.
        head = self.tsorted
        prv, nxt = seg.tprev, seg.tnext
        if nxt is not None and prv is not None:
            prv.tnext = nxt
            nxt.tprev = prv
        last = head.tprev
        if last is not None:  # never None: the sentinel links to itself when empty
            last.tnext = seg
        seg.tprev = last
        seg.tnext = head
        head.tprev = seg
        # tcp_rate_skb_sent: snapshot delivery state for the rate sample of this segment.
        seg.first_tx = self.first_tx_mstamp
        seg.del_mstamp = self.delivered_mstamp
        seg.delivered = self.delivered
        seg.app_limited = self.app_limited != 0
        flags = TCPHDR_ACK
        datalen = seg.end - seg.seq
        ecn = 0
        if seg.fin:
            flags |= TCPHDR_FIN
            datalen = 0
        ecn_flags = self.ecn_flags
        if ecn_flags & TCP_ECN_OK:
            if not retrans and datalen:
                ecn = INET_ECN_ECT_0
                if ecn_flags & TCP_ECN_QUEUE_CWR:
                    self.ecn_flags = ecn_flags & ~TCP_ECN_QUEUE_CWR
                    flags |= TCPHDR_CWR
            if self.ecn_flags & TCP_ECN_DEMAND_CWR:
                flags |= TCPHDR_ECE
        th = TcpHdr((seg.seq + self.snd_isn) & SEQ_MASK, (self.rcv_nxt + self.rcv_isn) & SEQ_MASK,
                    flags, self.rcv_wnd, datalen, None, now_us, self.ts_recent)  # fmt: skip
        length = datalen + TCP_HEADER_OVERHEAD
        if self.sock_ops is not None:
            extra = self.sock_ops.event(self, "hdr_opt_len")
            if extra:
                length += extra
                self.sock_ops.event(self, "write_hdr_opt", th)
            self.sock_ops.event(self, "tstamp_tx", seg.seq)
        skb = SkBuff(length, self.saddr, self.daddr, self.sport, self.dport, IPPROTO_TCP, now_ns,
                     self.books, self, ecn, 0, None, th)  # fmt: skip
        self.books.book_sent(skb)
        if retrans:
            tp = self.tp_retransmit
            if tp.listeners:
                tp.emit(now_ns, self, seg.seq, datalen)
        self.lsndtime = now_us
        self.delack_segs = 0  # the ACK rides on this segment
        if self.delack_timer.expires is not None:
            self.delack_timer.cancel()
        self.stats.segs_out += 1
        if self.pacing_in_use:
            rate = self.sk_pacing_rate
            if rate > 0:
                # tcp_update_skb_after_send: the next segment may leave len/rate later.
                start = self.tcp_wstamp_ns if self.tcp_wstamp_ns > now_ns else now_ns
                self.tcp_wstamp_ns = start + length * 1_000_000_000 // rate
        self.node.output(skb)

    def _send_ctl(self, flags: int, seq: int, sack: SackBlocks | None = None) -> None:
        """A segment without payload: SYN, SYN-ACK, pure ACK (``tcp_send_ack``)."""
        now_ns = self.sched.now
        if self.ecn_flags & TCP_ECN_DEMAND_CWR and flags & TCPHDR_ACK:
            flags |= TCPHDR_ECE
        rcv_isn = self.rcv_isn
        if sack is not None:  # SACK edges are in the peer's sequence space, as the ACK is
            sack = tuple(((s + rcv_isn) & SEQ_MASK, (e + rcv_isn) & SEQ_MASK) for s, e in sack)
        th = TcpHdr((seq + self.snd_isn) & SEQ_MASK, (self.rcv_nxt + rcv_isn) & SEQ_MASK, flags,
                    self.rcv_wnd, 0, sack, now_ns // 1000, self.ts_recent)  # fmt: skip
        skb = SkBuff(TCP_HEADER_OVERHEAD, self.saddr, self.daddr, self.sport, self.dport,
                     IPPROTO_TCP, now_ns, self.books, self, 0, 0, None, th)  # fmt: skip
        self.books.book_sent(skb)
        self.node.output(skb)

    def send_ack(self) -> None:
        """Send an ACK for ``rcv_nxt`` now (with SACK blocks when data is out of order)."""
        self.delack_segs = 0
        if self.delack_timer.expires is not None:
            self.delack_timer.cancel()
        sack = self._sack_blocks() if self.ooo else None
        if self.dsack is not None:
            # The D-SACK block goes first; with timestamps three blocks fit.
            sack = (self.dsack, *sack[:2]) if sack else (self.dsack,)
            self.dsack = None
        self._send_ctl(TCPHDR_ACK, self.snd_nxt, sack)

    def _sack_blocks(self) -> SackBlocks:
        """Up to 3 SACK blocks (with timestamps): the newest first, then the highest."""
        ooo = self.ooo
        last = self.last_ooo
        blocks = []
        if last is not None and last in ooo:
            blocks.append((last[0], last[1]))
        for blk in reversed(ooo):
            if len(blocks) >= 3:
                break
            if blk is not last:
                blocks.append((blk[0], blk[1]))
        return tuple(blocks)

    def _pacing_fire(self, _arg: object) -> None:
        self._write_xmit()

    def _delack_fire(self, _arg: object) -> None:
        if self.delack_segs:
            self.send_ack()

    def update_pacing_rate(self) -> None:
        """``tcp_update_pacing_rate``: cwnd·mss/srtt × 200 % in slow start, × 120 % otherwise."""
        rate = self.mss_cache * 80_000
        cwnd = self.snd_cwnd
        rate *= 200 if cwnd < self.snd_ssthresh // 2 else 120
        rate *= cwnd if cwnd > self.packets_out else self.packets_out
        if self.srtt_us:
            rate //= self.srtt_us
        if rate > self.sk_max_pacing_rate:
            rate = self.sk_max_pacing_rate
        self.sk_pacing_rate = rate
