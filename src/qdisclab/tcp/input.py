"""Receiving: ACK processing (``tcp_ack``), data reception with SACK and delayed ACKs, ECN echo."""

from __future__ import annotations

from qdisclab.skb import INET_ECN_CE, INET_ECN_NOT_ECT, SkBuff, skb_consume
from qdisclab.tcp.congestion import (
    CA_ACK_ECE,
    CA_ACK_SLOWPATH,
    CA_EVENT_ECN_IS_CE,
    CA_EVENT_ECN_NO_CE,
    TCP_CA_CWR,
    TCP_CONG_NEEDS_ECN,
    TCP_ECN_DEMAND_CWR,
    TCP_ECN_OK,
    TCP_ECN_SEEN,
    RateSample,
    TCP_CA_Recovery,
)
from qdisclab.tcp.header import (
    SEQ_HALF,
    SEQ_MASK,
    TCPHDR_CWR,
    TCPHDR_ECE,
    TCPHDR_FIN,
    TcpHdr,
    TxSeg,
    seq_unwrap,
)
from qdisclab.tcp.output import TcpOutput

TCP_DELACK_MIN_NS = 40_000_000
_WIN_SEQ = 1 << 62


class TcpInput(TcpOutput):
    """Part of ``TcpSock``: the receive side of an established connection."""

    __slots__ = ()

    def _rcv_established(self, skb: SkBuff, th: TcpHdr) -> None:
        if th.tsval:
            self.ts_recent = th.tsval
        # Wire (32-bit, ISN-offset) to relative: the ACK near snd_una, the data near rcv_nxt
        # (seq_unwrap, written out: this runs for every segment).
        una = self.snd_una
        ack = una + (((th.ack_seq - self.snd_isn - una + SEQ_HALF) & SEQ_MASK) - SEQ_HALF)
        nxt = self.rcv_nxt
        seq = nxt + (((th.seq - self.rcv_isn - nxt + SEQ_HALF) & SEQ_MASK) - SEQ_HALF)
        if self.sock_ops is not None:
            self.sock_ops.event(self, "parse_hdr_opt", th)
            self.sock_ops.event(self, "tstamp_rx", seq)
        if ack > una or th.sack is not None or self.packets_out:
            self._ack(skb, th, ack)
        if th.datalen or th.flags & TCPHDR_FIN:
            self._data(skb, th, seq)
        skb_consume(skb)

    # -- sender side: tcp_ack --------------------------------------------------------
    def _ack(self, skb: SkBuff, th: TcpHdr, ack: int) -> None:
        if ack > self.snd_nxt:
            return
        self.tcp_mstamp = now_us = self.sched.now // 1000
        self.snd_wnd = th.window
        rs = self.rs
        rs.prior_delivered = 0
        rs.is_retrans = False
        rs.rtt_us = -1
        prior_delivered = self.delivered
        prior_in_flight = self.packets_out - self.sacked_out - self.lost_out + self.retrans_out
        prior_lost = self.lost_out
        ece = bool(th.flags & TCPHDR_ECE) and bool(self.ecn_flags & TCP_ECN_OK)
        newly_sacked = 0
        blocks = th.sack
        if blocks is not None:
            isn, una = self.snd_isn, self.snd_una
            blocks = tuple((seq_unwrap(s, isn, una), seq_unwrap(e, isn, una)) for s, e in blocks)
            first = blocks[0]
            # tcp_check_dsack: below the ACK, or inside the second block, is a D-SACK.
            if first[1] <= ack or (
                len(blocks) > 1 and first[0] >= blocks[1][0] and first[1] <= blocks[1][1]
            ):
                self.rack_dsack_seen = True
                self.stats.dsack += 1
                blocks = blocks[1:]
            if blocks:
                newly_sacked = self._sacktag(blocks, rs)
        acked = 0
        first_us = last_us = -1
        acked_una = ack > self.snd_una
        if acked_una:
            rtx = self.rtx
            i = self.rtx_head
            n = len(rtx)
            prior_fack = self.high_sack_seq
            last_orig = None
            while i < n:
                seg = rtx[i]
                if seg.end > ack:
                    break
                if seg.sacked:
                    self.sacked_out -= 1
                else:
                    if seg.lost:
                        self.lost_out -= 1
                    if seg.retrans:
                        self.retrans_out -= 1
                    prv, nxt = seg.tprev, seg.tnext
                    if nxt is not None and prv is not None:
                        prv.tnext = nxt
                        nxt.tprev = prv
                        seg.tnext = seg.tprev = None
                    if seg.ever_retrans:
                        self._rack_advance(seg, now_us)
                    else:
                        # Originals leave in sequence order: the last one is the newest sent.
                        last_orig = seg
                        if seg.end <= prior_fack:
                            self.reord_seen += 1  # filled a hole below SACKed data
                    self._rate_delivered(seg, rs)
                    acked += 1
                    if not seg.ever_retrans:
                        if first_us < 0:
                            first_us = seg.tx_us
                        last_us = seg.tx_us
                    if seg.fin:
                        self._fin_acked()
                i += 1
            if last_orig is not None:
                self._rack_advance(last_orig, now_us)  # tcp_rack_advance
            self.packets_out -= i - self.rtx_head
            if i > 4096 and i * 2 > n:
                del rtx[:i]  # compact the consumed head of the queue
                i = 0
            self.rtx_head = i
            self.bytes_acked += ack - self.snd_una
            self.snd_una = ack
            self.rcv_tstamp = now_us
            self.icsk_backoff = 0
            if self.tlp_high_seq:
                self._process_tlp_ack(ack)
            if self.packets_out:
                # tcp_rearm_rto, as sk_reset_timer: an armed timer's queued entry is never
                # later than its deadline (Timer.arm), so a later deadline is all it takes.
                rto_at = self.sched.now + self.rto
                timer = self.rto_timer
                if timer.expires is not None and timer.expires <= rto_at:
                    timer.expires = rto_at
                else:
                    timer.arm(rto_at)
            else:
                self.rto_timer.cancel()
                self.high_sack_seq = ack
        if self.rack_dsack_seen or self.rack_reo_wnd_steps > 1:
            self._rack_update_reo_wnd(rs.prior_delivered)
        delivered = self.delivered - prior_delivered
        if ece:
            self.delivered_ce += delivered
        ops = self.icsk_ca_ops
        if self.in_ack_event_impl:  # tcp_in_ack_event: only a CC that has the callback
            ops.in_ack_event(self, CA_ACK_SLOWPATH | CA_ACK_ECE if ece else CA_ACK_SLOWPATH)
        if first_us >= 0:
            seq_rtt = now_us - first_us
            ca_rtt = now_us - last_us
            self.rtt_estimator(seq_rtt if seq_rtt > 0 else 1)
            self.stats.rtt_sample(now_us, ca_rtt)
            rs.rtt_us = ca_rtt
            if (
                ca_rtt < self.min_rtt_us
                or self.min_rtt_us == 0
                or (now_us - self.min_rtt_stamp > 10_000_000)
            ):
                self.min_rtt_us = ca_rtt if ca_rtt > 0 else 1
                self.min_rtt_stamp = now_us
            if self.sock_ops is not None:
                self.sock_ops.event(self, "rtt", ca_rtt)
        if acked:
            sample = self.ack_sample
            sample.pkts_acked = acked
            sample.rtt_us = rs.rtt_us
            sample.in_flight = prior_in_flight
            ops.pkts_acked(self, sample)
        self._fastretrans_alert(ece, newly_sacked)
        if self.cong_control_impl:
            self._rate_gen(delivered, self.lost_out - prior_lost, prior_in_flight)
            ops.cong_control(self, ack, 0, rs)
        else:
            state = self.icsk_ca_state
            if state in (TCP_CA_CWR, TCP_CA_Recovery):
                self._cwnd_reduction(delivered, self.lost_out - prior_lost, acked_una)
            elif delivered:
                # tcp_may_raise_cwnd: Open, Disorder and Loss all grow the window.
                ops.cong_avoid(self, ack, delivered)
            self.update_pacing_rate()
        self._write_xmit()
        if acked_una and self.tlp_timer.expires is None:
            self._schedule_loss_probe()  # tcp_set_xmit_timer (a pending probe timer is lazy)
        self.stats.trace(self)

    # -- delivery rate (tcp_rate.c) ---------------------------------------------------
    def _rate_delivered(self, seg: TxSeg, rs: RateSample) -> None:
        self.delivered += 1
        if not rs.prior_delivered or seg.delivered > rs.prior_delivered:
            rs.prior_delivered = seg.delivered
            rs.prior_mstamp = seg.del_mstamp
            rs.is_app_limited = seg.app_limited
            rs.is_retrans = seg.ever_retrans
            rs.snd_interval_us = seg.tx_us - seg.first_tx
            self.first_tx_mstamp = seg.tx_us

    def _rate_gen(self, delivered: int, lost: int, prior_in_flight: int) -> None:
        rs = self.rs
        now = self.tcp_mstamp
        if self.app_limited and self.delivered > self.app_limited:
            self.app_limited = 0
        if delivered:
            self.delivered_mstamp = now
        rs.acked_sacked = delivered
        rs.losses = lost if lost > 0 else 0
        rs.prior_in_flight = prior_in_flight
        rs.delivered_ce = self.delivered_ce
        if not rs.prior_mstamp or not delivered:
            rs.delivered = -1
            rs.interval_us = -1
            return
        rs.delivered = self.delivered - rs.prior_delivered
        ack_us = now - rs.prior_mstamp
        interval = rs.snd_interval_us if rs.snd_interval_us > ack_us else ack_us
        rs.interval_us = interval if interval >= self.min_rtt_us else -1

    # -- receiver side -------------------------------------------------------------------
    def _data(self, skb: SkBuff, th: TcpHdr, seq: int) -> None:
        end = seq + th.datalen
        fin = th.flags & TCPHDR_FIN
        if fin:
            end += 1
        now_ack = False
        ecn_flags = self.ecn_flags
        if ecn_flags & TCP_ECN_OK:
            if th.flags & TCPHDR_CWR and not self.accurate_ecn_echo:
                self.ecn_flags = ecn_flags = ecn_flags & ~TCP_ECN_DEMAND_CWR
            ect = skb.ecn
            if ect != INET_ECN_NOT_ECT:
                ce = ect == INET_ECN_CE
                if self.accurate_ecn_echo:
                    if ce != self.ce_state:
                        # DCTCP: ACK what came before under the old CE state, then switch.
                        if self.delack_segs:
                            self.send_ack()
                        self.ce_state = ce
                        now_ack = True
                    if ce:
                        self.ecn_flags = ecn_flags | TCP_ECN_DEMAND_CWR | TCP_ECN_SEEN
                    else:
                        self.ecn_flags = ecn_flags & ~TCP_ECN_DEMAND_CWR
                elif ce:
                    if not ecn_flags & TCP_ECN_DEMAND_CWR:
                        now_ack = True
                    self.ecn_flags = ecn_flags | TCP_ECN_DEMAND_CWR | TCP_ECN_SEEN
                if self.icsk_ca_ops.flags & TCP_CONG_NEEDS_ECN:
                    # After the echo above, so the flushed delayed ACK keeps the old ECE.
                    self.icsk_ca_ops.cwnd_event(
                        self, CA_EVENT_ECN_IS_CE if ce else CA_EVENT_ECN_NO_CE
                    )
        rcv_nxt = self.rcv_nxt
        if seq == rcv_nxt:
            rcv_nxt = end
            ooo = self.ooo
            if ooo:
                now_ack = True
                while ooo and ooo[0][0] <= rcv_nxt:
                    blk = ooo.pop(0)
                    if blk[1] > rcv_nxt:
                        rcv_nxt = blk[1]
                    self.ooo_bytes -= blk[1] - blk[0]
                    if blk[2]:
                        fin = True
            nbytes = rcv_nxt - self.rcv_nxt - (1 if fin else 0)
            self.rcv_nxt = rcv_nxt
            if nbytes:
                self._deliver(nbytes)
            if fin:
                self._fin_received()
                now_ack = True
        elif end <= rcv_nxt:
            now_ack = True  # duplicate: ACK at once (the sender may be in loss recovery)
            self.dsack = (seq, end)  # tcp_dsack_set: report it (RFC 2883)
        else:
            self._ooo_insert(seq, end, bool(fin))
            now_ack = True
        if now_ack or self.quickack:
            if self.quickack and not now_ack:
                self.quickack -= 1
            self.send_ack()
            return
        self.delack_segs += 1
        if self.delack_segs >= 2:
            self.send_ack()
        elif self.delack_timer.expires is None:  # not armed
            self.delack_timer.arm(self.sched.now + TCP_DELACK_MIN_NS)

    def _ooo_insert(self, seq: int, end: int, fin: bool) -> None:
        """Insert into the sorted out-of-order list, merging; remember the newest block."""
        ooo = self.ooo
        i = 0
        n = len(ooo)
        while i < n and ooo[i][1] < seq:
            i += 1
        if i < n and ooo[i][0] <= end:
            blk = ooo[i]
            if seq < blk[0]:
                self.ooo_bytes += blk[0] - seq
                blk[0] = seq
            if end > blk[1]:
                self.ooo_bytes += end - blk[1]
                blk[1] = end
                while i + 1 < len(ooo) and ooo[i + 1][0] <= blk[1]:
                    nxt = ooo.pop(i + 1)
                    self.ooo_bytes -= min(nxt[1], blk[1]) - nxt[0]
                    if nxt[1] > blk[1]:
                        blk[1] = nxt[1]
                    blk[2] = blk[2] or nxt[2]
            blk[2] = blk[2] or fin
        else:
            blk = [seq, end, fin]
            ooo.insert(i, blk)
            self.ooo_bytes += end - seq
        self.last_ooo = blk
