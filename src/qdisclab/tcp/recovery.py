"""Loss recovery: RTT estimation and RTO (RFC 6298 as Linux), the SACK scoreboard,
loss marking (3 duplicate-ACK / SACK threshold), PRR cwnd reduction, ECN CWR, RTO loss."""

from __future__ import annotations

from bisect import bisect_left
from operator import attrgetter

from qdisclab.tcp.congestion import (
    CA_EVENT_COMPLETE_CWR,
    CA_EVENT_LOSS,
    TCP_CA_CWR,
    RateSample,
    TCP_CA_Disorder,
    TCP_CA_Loss,
    TCP_CA_Open,
    TCP_CA_Recovery,
)
from qdisclab.tcp.header import SackBlocks
from qdisclab.tcp.sock_base import TcpSockBase

TCP_RTO_MIN_US = 200_000
TCP_RTO_MAX_NS = 120_000_000_000
TCP_TIMEOUT_INIT_NS = 1_000_000_000
TCP_DUPTHRESH = 3
_SEQ = attrgetter("seq")


class TcpRecovery(TcpSockBase):
    """Part of ``TcpSock``: RTT/RTO, SACK scoreboard, loss detection and reduction."""

    __slots__ = ()

    # -- RTT (tcp_rtt_estimator, tcp_set_rto) ---------------------------------
    def rtt_estimator(self, mrtt_us: int) -> None:
        """Update srtt_us (×8), mdev_us/rttvar_us (×4) with gains 1/8 and 1/4, then the RTO."""
        m = mrtt_us
        srtt = self.srtt_us
        if srtt:
            m -= srtt >> 3
            srtt += m
            if m < 0:
                m = -m
                m -= self.mdev_us >> 2
                if m > 0:
                    m >>= 3
            else:
                m -= self.mdev_us >> 2
            self.mdev_us += m
            if self.mdev_us > self.mdev_max_us:
                self.mdev_max_us = self.mdev_us
                if self.mdev_max_us > self.rttvar_us:
                    self.rttvar_us = self.mdev_max_us
            if self.snd_una > self.rtt_seq:
                if self.mdev_max_us < self.rttvar_us:
                    self.rttvar_us -= (self.rttvar_us - self.mdev_max_us) >> 2
                self.rtt_seq = self.snd_nxt
                self.mdev_max_us = TCP_RTO_MIN_US
        else:
            srtt = m << 3
            self.mdev_us = m << 1
            self.rttvar_us = self.mdev_max_us = max(self.mdev_us, TCP_RTO_MIN_US)
            self.rtt_seq = self.snd_nxt
        self.srtt_us = srtt if srtt > 0 else 1
        # __tcp_set_rto: srtt + rttvar, where rttvar (4·RTTVAR) is floored at the 200 ms minimum.
        self.rto = min(((self.srtt_us >> 3) + self.rttvar_us) * 1000, TCP_RTO_MAX_NS)

    # -- SACK scoreboard ---------------------------------------------------------
    def _sacktag(self, blocks: SackBlocks, rs: RateSample) -> int:
        """Mark segments covered by SACK blocks; returns newly sacked packets."""
        rtx = self.rtx
        head = self.rtx_head
        n = len(rtx)
        una = self.snd_una
        newly = 0
        cache = self.sack_cache
        now_us = self.tcp_mstamp
        prior_fack = self.high_sack_seq
        for start, end in blocks:
            if end <= una:
                continue
            scan_from = cache.get(start, start)  # skip what an earlier ACK already tagged
            if scan_from >= end:
                continue
            i = bisect_left(rtx, scan_from, head, n, key=_SEQ)
            while i < n:
                seg = rtx[i]
                if seg.end > end:
                    break
                if not seg.sacked:
                    seg.sacked = True
                    self.sacked_out += 1
                    if seg.lost:
                        seg.lost = False
                        self.lost_out -= 1
                    if seg.retrans:
                        seg.retrans = False
                        self.retrans_out -= 1
                    prv, nxt = seg.tprev, seg.tnext
                    if nxt is not None and prv is not None:
                        prv.tnext = nxt
                        nxt.tprev = prv
                        seg.tnext = seg.tprev = None
                    # tcp_check_sack_reordering: an original SACKed below earlier SACKs.
                    if seg.end <= prior_fack and not seg.ever_retrans:
                        self.reord_seen += 1
                    self._rack_advance(seg, now_us)
                    self._rate_delivered(seg, rs)
                    newly += 1
                    if seg.end > self.high_sack_seq:
                        self.high_sack_seq = seg.end
                i += 1
            cache[start] = end
        if len(cache) > 64:
            cache.clear()
        return newly

    def _mark_lost(self) -> None:
        """Segments with >= 3 SACKed segments above them are lost (RFC 6675 IsLost)."""
        rtx = self.rtx
        n = len(rtx)
        head = self.rtx_head
        i = bisect_left(rtx, self.high_sack_seq, head, n, key=_SEQ) - 1
        count = 0
        while i >= head:
            seg = rtx[i]
            if seg.sacked:
                count += 1
                if count >= TCP_DUPTHRESH:
                    break
            elif seg.seq < self.lost_mark_seq:
                return
            i -= 1
        if count < TCP_DUPTHRESH:
            return
        limit = rtx[i].seq
        j = bisect_left(rtx, self.lost_mark_seq, head, n, key=_SEQ)
        if j < head:
            j = head
        while j < i:
            seg = rtx[j]
            if not seg.sacked and not seg.lost and not seg.retrans:
                seg.lost = True
                self.lost_out += 1
                prv, nxt = seg.tprev, seg.tnext
                if nxt is not None and prv is not None:  # off the tsorted list until retransmitted
                    prv.tnext = nxt
                    nxt.tprev = prv
                    seg.tnext = seg.tprev = None
            j += 1
        if limit > self.lost_mark_seq:
            self.lost_mark_seq = limit

    def _retransmit_lost(self, in_flight: int, cwnd: int) -> int:
        rtx = self.rtx
        n = len(rtx)
        i = bisect_left(rtx, self.retrans_hint_seq, self.rtx_head, n, key=_SEQ)
        if i < self.rtx_head:
            i = self.rtx_head
        pacing = self.pacing_in_use and self.sk_pacing_rate > 0
        while i < n and in_flight < cwnd:
            if pacing and self.tcp_wstamp_ns > self.sched.now:
                break  # paced: _write_xmit arms the pacing timer
            seg = rtx[i]
            if seg.lost and not seg.retrans:
                seg.retrans = seg.ever_retrans = True
                self.retrans_out += 1
                in_flight += 1
                self.total_retrans += 1
                self.stats.retrans += 1
                if self.sock_ops is not None:
                    self.sock_ops.event(self, "retransmit", seg.seq)
                self._transmit(seg, True)
                self.prr_out += 1
                self.retrans_hint_seq = seg.end
            i += 1
        return in_flight

    # -- CA state machine ----------------------------------------------------------
    def set_ca_state(self, new: int) -> None:
        """``tcp_set_ca_state``: the CC sees the change before it happens."""
        self.icsk_ca_ops.set_state(self, new)
        self.icsk_ca_state = new
        tp = self.tp_cong_state
        if tp.listeners:
            tp.emit(self.sched.now, self, new)

    def _init_cwnd_reduction(self) -> None:
        self.high_seq = self.snd_nxt
        self.prior_cwnd = self.snd_cwnd
        self.prr_delivered = 0
        self.prr_out = 0
        self.snd_ssthresh = self.icsk_ca_ops.ssthresh(self)
        if self.ecn_flags & 1:
            # tcp_ecn_queue_cwr: once per reduction, the next new data segment carries CWR.
            self.ecn_flags |= 2

    def _cwnd_reduction(self, newly_acked_sacked: int, newly_lost: int,
                        una_advanced: bool) -> None:  # fmt: skip
        """Proportional Rate Reduction (RFC 6937) as ``tcp_cwnd_reduction``.

        ``prr_out`` counts every segment sent while in CWR/Recovery (new data as well
        as retransmissions), so the window converges to ssthresh within one round.
        Once in flight is at or below ssthresh, what may be sent is capped at the
        gap to ssthresh on every ACK (Linux since 2022, "keep inflight below
        ssthresh"); an ACK that advances snd_una without a new loss may send one
        more. Capping only on snd_una advances let a SACK-only ACK near the end
        of recovery release ``prr_delivered - prr_out`` (tens of segments) at once.
        """
        if newly_acked_sacked <= 0 or not self.prior_cwnd:
            return
        in_flight = self.packets_out - self.sacked_out - self.lost_out + self.retrans_out
        delta = self.snd_ssthresh - in_flight
        self.prr_delivered += newly_acked_sacked
        if delta < 0:
            dividend = self.snd_ssthresh * self.prr_delivered + self.prior_cwnd - 1
            sndcnt = dividend // self.prior_cwnd - self.prr_out
        else:
            sndcnt = self.prr_delivered - self.prr_out
            if sndcnt < newly_acked_sacked:
                sndcnt = newly_acked_sacked
            if una_advanced and not newly_lost:
                sndcnt += 1
            if sndcnt > delta:
                sndcnt = delta
        # Force a fast retransmit upon entering fast recovery.
        floor = 0 if self.prr_out else 1
        if sndcnt < floor:
            sndcnt = floor
        self.snd_cwnd = in_flight + sndcnt

    def _enter_cwr(self) -> None:
        """ECN echo in Open/Disorder: one reduction per window (RFC 3168)."""
        self.prior_ssthresh = 0
        if self.icsk_ca_state < TCP_CA_CWR:
            self.undo_marker = 0
            self.stats.cwr += 1
            self._init_cwnd_reduction()
            self.set_ca_state(TCP_CA_CWR)

    def _enter_recovery(self) -> None:
        self.stats.fast_retrans += 1
        if self.icsk_ca_state < TCP_CA_CWR:
            self.prior_ssthresh = self.snd_ssthresh
            self._init_cwnd_reduction()
        else:
            self.high_seq = self.snd_nxt
        self.set_ca_state(TCP_CA_Recovery)

    def _end_cwnd_reduction(self) -> None:
        if self.snd_ssthresh < 0x7FFFFFFF and self.icsk_ca_state in (TCP_CA_CWR, TCP_CA_Recovery):
            self.snd_cwnd = self.snd_ssthresh
        self.icsk_ca_ops.cwnd_event(self, CA_EVENT_COMPLETE_CWR)

    def _fastretrans_alert(self, ece: bool, newly: int) -> bool:
        """Drive Open/Disorder/CWR/Recovery/Loss; returns True on entering fast retransmit."""
        state = self.icsk_ca_state
        una = self.snd_una
        if state >= TCP_CA_CWR and una >= self.high_seq:
            if state >= TCP_CA_Recovery and self.rack_reo_wnd_persist:
                self.rack_reo_wnd_persist -= 1  # tcp_try_undo_recovery: one more recovery
            if state == TCP_CA_Loss:
                self.set_ca_state(TCP_CA_Open)
            else:
                self._end_cwnd_reduction()
                self.set_ca_state(TCP_CA_Open)
            state = TCP_CA_Open
        if self.sacked_out >= 1 and self.high_sack_seq > self.lost_mark_seq:
            self._mark_lost()
        if self.rack_advanced:
            # RACK: time-based, also finds lost retransmissions. The oldest transmission
            # still out decides whether anything can be late; usually nothing is.
            self.rack_advanced = False
            first = self.tsorted.tnext
            if (
                first is not None
                and first is not self.tsorted
                and (
                    first.tx_us < self.rack_mstamp
                    or (first.tx_us == self.rack_mstamp and first.end < self.rack_end_seq)
                )
            ):
                self._rack_mark_lost()
        if state in (TCP_CA_Recovery, TCP_CA_Loss):
            return False
        if self.lost_out:
            self._enter_recovery()
            return True
        if ece:
            self._enter_cwr()
            return False
        if state <= TCP_CA_Disorder:
            new = TCP_CA_Disorder if self.sacked_out else TCP_CA_Open
            if new != state:
                self.set_ca_state(new)
        return False

    # -- RTO (tcp_retransmit_timer) ------------------------------------------------
    def _rto_fire(self, _arg: object) -> None:
        if not self.packets_out:
            if self.state == 2:  # SYN_SENT: retransmit the SYN
                self._syn_retransmit()
            return
        self.stats.rto_count += 1
        if self.sock_ops is not None:
            self.sock_ops.event(self, "rto")
        ops = self.icsk_ca_ops
        if self.icsk_ca_state < TCP_CA_Loss or self.icsk_backoff == 0:
            self.prior_ssthresh = self.snd_ssthresh
            self.prior_cwnd = self.snd_cwnd
            self.snd_ssthresh = ops.ssthresh(self)
            ops.cwnd_event(self, CA_EVENT_LOSS)
        self.snd_cwnd_cnt = 0
        if self.ecn_flags & 1:
            self.ecn_flags |= 2  # tcp_enter_loss → tcp_ecn_queue_cwr
        # Mark everything not SACKed lost; forget retransmissions in flight.
        for i in range(self.rtx_head, len(self.rtx)):
            seg = self.rtx[i]
            if not seg.sacked:
                seg.lost = True
            seg.retrans = False
        self._tsorted_clear()  # all lost now: each rejoins the list when retransmitted
        self.tlp_high_seq = 0
        self.rack_timer.cancel()
        self.lost_out = self.packets_out - self.sacked_out
        self.retrans_out = 0
        self.retrans_hint_seq = 0
        self.lost_mark_seq = self.snd_nxt
        self.snd_cwnd = 1
        self.high_seq = self.snd_nxt
        self.set_ca_state(TCP_CA_Loss)
        self.icsk_backoff += 1
        self.rto = min(self.rto * 2, TCP_RTO_MAX_NS)
        self.rto_timer.arm(self.sched.now + self.rto)
        self._write_xmit()
        self.stats.trace(self)
