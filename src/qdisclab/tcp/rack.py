"""RACK-TLP loss detection (RFC 8985) as Linux ``net/ipv4/tcp_recovery.c`` and the tail loss
probe of ``tcp_output.c``.

Every segment in the retransmit queue carries the time of its latest (re)transmission
(``seg.tx_us``) and sits on the *tsorted* list (``sk.tsorted``, a circular doubly-linked list
with a sentinel, oldest transmission first; a retransmission moves the segment to the tail).
A delivered (ACKed or SACKed) segment advances ``RACK.xmit_time``/``RACK.end_seq`` to the most
recently sent delivered segment; a segment sent more than the reordering window before it is
lost — also a retransmission, so a lost retransmission needs no RTO. Delivered and lost segments
leave the tsorted list, so the walk per ACK stops at the first segment not sent before RACK's;
with no loss a check of the list's head skips the walk altogether. The reordering window is
min_rtt/4 (0 before any reordering once in recovery or with 3 SACKed segments), widened by
min_rtt/4 per round trip that sees a D-SACK, for the next 16 recoveries.

The tail loss probe: with data in flight in Open/CWR, a probe timer of 2·srtt (+ a delayed-ACK
allowance with one segment in flight), capped by the RTO, sends one new segment (or retransmits
the last one), so a tail loss gets a SACK that RACK can act on instead of waiting for the RTO.

>>> from qdisclab.net import World
>>> from qdisclab.tcp import TcpStack
>>> w = World(seed=1); a = w.add_host("A"); b = w.add_host("B")
>>> _ = w.connect(a, b, "100mbit", "5ms"); w.build_routes()
>>> _ = TcpStack.of(b).listen(80)
>>> sk = TcpStack.of(a).connect(b.addr, 80, "f1")
>>> sk.send(50_000); w.run(1_000_000_000)
>>> sk.tsorted.tnext is sk.tsorted, sk.stats.rack_lost, sk.stats.tlp_probes
(True, 0, 0)
"""

from __future__ import annotations

from qdisclab.tcp.congestion import TCP_CA_CWR, TCP_CA_Open, TCP_CA_Recovery
from qdisclab.tcp.header import TxSeg
from qdisclab.tcp.recovery import TcpRecovery

TCP_TIMEOUT_MIN_NS = 2_000_000  # 2 jiffies at HZ=1000: the slack added to RACK/TLP timers
TCP_RTO_MIN_NS = 200_000_000  # TLP's delayed-ACK allowance with one segment in flight
TCP_TIMEOUT_INIT_US = 1_000_000
TCP_REORDERING = 3  # sysctl_tcp_reordering: the DUPACK threshold RACK emulates
TCP_RACK_RECOVERY_THRESH = 16  # recoveries a widened reordering window persists


def tsorted_init() -> TxSeg:
    """An empty tsorted list: the sentinel points at itself."""
    head = TxSeg(0, 0, False)
    head.tnext = head.tprev = head
    return head


class TcpRack(TcpRecovery):
    """Part of ``TcpSock``: RACK loss detection, the reordering timer and the loss probe."""

    __slots__ = ()

    # -- the tsorted list ---------------------------------------------------------------
    def _tsorted_clear(self) -> None:
        """Forget the whole list (RTO: every unSACKed segment is lost and skipped anyway)."""
        head = self.tsorted
        seg = head.tnext
        while seg is not None and seg is not head:
            nxt = seg.tnext
            seg.tnext = seg.tprev = None
            seg = nxt
        head.tnext = head.tprev = head

    # -- RACK (tcp_rack_reo_wnd, tcp_rack_detect_loss, tcp_rack_mark_lost) ----------------
    def _rack_reo_wnd(self) -> int:
        """The reordering window in us: 0 (DUPACK-like) until reordering is seen, when in
        recovery or once ``reordering`` segments are SACKed; else min_rtt/4, at most srtt."""
        if not self.reord_seen:
            if self.icsk_ca_state >= TCP_CA_Recovery:
                return 0
            if self.sacked_out >= TCP_REORDERING:
                return 0
        wnd = (self.min_rtt_us >> 2) * self.rack_reo_wnd_steps
        srtt = self.srtt_us >> 3
        return wnd if wnd < srtt else srtt

    def _rack_detect_loss(self) -> int:
        """Mark lost what was sent a reordering window before RACK's segment.

        Returns the time (us) until the oldest not-yet-expired candidate expires, 0 if none.
        The kernel arms the timer for the latest candidate; the earliest fires sooner and the
        next detection re-arms for the rest, and it lets the walk stop at the first candidate.
        """
        reo_wnd = self._rack_reo_wnd()
        now = self.tcp_mstamp
        rack_t = self.rack_mstamp
        rack_end = self.rack_end_seq
        budget = self.rack_rtt_us + reo_wnd
        head = self.tsorted
        seg = head.tnext
        # On the list every link is set (the walk ends at the sentinel), hence ``nxt`` too.
        while seg is not None and seg is not head:
            nxt = seg.tnext
            t = seg.tx_us
            if seg.lost and not seg.retrans:
                pass  # already waiting for its retransmission
            elif t > rack_t or (t == rack_t and seg.end >= rack_end):
                return 0  # sent after RACK's segment: neither it nor later ones are late
            else:
                remaining = budget - (now - t)
                if remaining > 0:
                    return remaining
                self._rack_mark_skb_lost(seg)
            seg.tnext = seg.tprev = None
            head.tnext = nxt
            if nxt is not None:
                nxt.tprev = head
            seg = nxt
        return 0

    def _rack_mark_skb_lost(self, seg: TxSeg) -> None:
        """``tcp_mark_skb_lost``: a lost retransmission goes back to the retransmit queue."""
        if seg.retrans:
            seg.retrans = False
            self.retrans_out -= 1
            self.stats.lost_retrans += 1
        if not seg.lost:
            seg.lost = True
            self.lost_out += 1
        self.stats.rack_lost += 1
        if seg.seq < self.retrans_hint_seq:
            self.retrans_hint_seq = seg.seq

    def _rack_advance(self, seg: TxSeg, now_us: int) -> None:
        """``tcp_rack_advance``: ``seg`` was delivered; remember the most recently sent."""
        t = seg.tx_us
        if seg.ever_retrans and now_us - t < self.min_rtt_us:
            return  # faster than any RTT: ACKs the original, not this retransmission
        self.rack_advanced = True
        self.rack_rtt_us = now_us - t
        if t > self.rack_mstamp or (t == self.rack_mstamp and seg.end > self.rack_end_seq):
            self.rack_mstamp = t
            self.rack_end_seq = seg.end

    def _rack_update_reo_wnd(self, prior_delivered: int) -> None:
        """``tcp_rack_update_reo_wnd``: a D-SACK (a spurious retransmission) widens the
        window by min_rtt/4, at most once a round trip; it stays wide for 16 recoveries."""
        if not prior_delivered:
            return
        if prior_delivered < self.rack_last_delivered:
            self.rack_dsack_seen = False  # sent before the last widening: already counted
        if self.rack_dsack_seen:
            self.rack_reo_wnd_steps = min(0xFF, self.rack_reo_wnd_steps + 1)
            self.rack_dsack_seen = False
            self.rack_last_delivered = self.delivered
            self.rack_reo_wnd_persist = TCP_RACK_RECOVERY_THRESH
        elif not self.rack_reo_wnd_persist:
            self.rack_reo_wnd_steps = 1

    def _rack_mark_lost(self) -> None:
        """``tcp_rack_mark_lost``: run detection; arm the reordering timer if needed."""
        timeout = self._rack_detect_loss()
        if timeout:
            self.rack_timer.arm(self.sched.now + timeout * 1000 + TCP_TIMEOUT_MIN_NS)

    def _rack_reo_timeout(self, _arg: object) -> None:
        """``tcp_rack_reo_timeout``: the window passed for a segment without an ACK since."""
        if not self.packets_out or not self.state_sending:
            return
        self.tcp_mstamp = self.sched.now // 1000
        prior_lost = self.lost_out
        prior_retrans = self.retrans_out
        timeout = self._rack_detect_loss()
        if self.lost_out != prior_lost or self.retrans_out != prior_retrans:
            if self.icsk_ca_state < TCP_CA_Recovery:
                self._enter_recovery()
                if not self.cong_control_impl:
                    self._cwnd_reduction(1, self.lost_out - prior_lost, False)
            self._write_xmit()
        if timeout:
            self.rack_timer.arm(self.sched.now + timeout * 1000 + TCP_TIMEOUT_MIN_NS)
        self.stats.trace(self)

    # -- tail loss probe (tcp_schedule_loss_probe, tcp_send_loss_probe) -------------------
    def _tlp_deadline(self) -> int:
        """When the probe is due (ns): 2·srtt (+200 ms with one segment out, else +2 ms)
        after the last send or advancing ACK, but before the RTO."""
        srtt = self.srtt_us
        if srtt:
            pto = (srtt >> 2) * 1000
            pto += TCP_RTO_MIN_NS if self.packets_out == 1 else TCP_TIMEOUT_MIN_NS
        else:
            pto = TCP_TIMEOUT_INIT_US * 1000
        anchor = self.lsndtime if self.lsndtime > self.rcv_tstamp else self.rcv_tstamp
        anchor *= 1000
        rto_at = self.rto_timer.expires
        if rto_at is None:
            rto_at = anchor + self.rto
        # Just before the RTO: the probe pre-empts it, as the kernel's shared timer does.
        return min(anchor + pto, rto_at - 1)

    def _schedule_loss_probe(self) -> None:
        """``tcp_schedule_loss_probe``. Every send and advancing ACK restarts the probe
        timeout; rather than re-arming on each, the timer stays armed and, when it fires,
        re-arms itself for the deadline counted from the latest of them."""
        if not self.packets_out or self.icsk_ca_state not in (TCP_CA_Open, TCP_CA_CWR):
            return
        self.tlp_timer.arm(self._tlp_deadline())

    def _send_loss_probe(self, _arg: object) -> None:
        """Send one new segment if allowed, else retransmit the last one; then restart the RTO."""
        if (
            not self.packets_out
            or not self.state_sending
            or self.icsk_ca_state not in (TCP_CA_Open, TCP_CA_CWR)
        ):
            return
        due = self._tlp_deadline()
        if due > self.sched.now:
            self.tlp_timer.arm(due)  # sent or ACKed since this was armed
            return
        now = self.sched.now
        if not self.tlp_high_seq:
            self.tcp_mstamp = now // 1000
            seq = self.snd_nxt
            end = seq + self.mss_cache
            if end > self.write_seq:
                end = self.write_seq
            sent = False
            if end > seq and end <= self.snd_una + self.snd_wnd:
                # New data, regardless of cwnd (tcp_write_xmit with push_one=2).
                seg = TxSeg(seq, end, False)
                self.rtx.append(seg)
                self.snd_nxt = end
                self.packets_out += 1
                self.tlp_retrans = False
                self._transmit(seg, False)
                sent = True
            else:
                seg = self.rtx[-1]
                if not seg.sacked:
                    seg.ever_retrans = True
                    if not seg.retrans:
                        seg.retrans = True
                        self.retrans_out += 1
                    self.total_retrans += 1
                    self.stats.retrans += 1
                    self.tlp_retrans = True
                    self._transmit(seg, True)
                    sent = True
            if sent:
                self.tlp_high_seq = self.snd_nxt
                self.stats.tlp_probes += 1
        self.rto_timer.arm(now + self.rto)

    def _process_tlp_ack(self, ack: int) -> None:
        """``tcp_process_tlp_ack`` without DSACK: an ACK beyond a retransmitted probe means
        the probe repaired a loss, which costs one cwnd reduction."""
        if ack < self.tlp_high_seq:
            return
        if self.tlp_retrans and ack > self.tlp_high_seq and self.icsk_ca_state == TCP_CA_Open:
            self._init_cwnd_reduction()
            self.set_ca_state(TCP_CA_CWR)
            self._end_cwnd_reduction()
            self.set_ca_state(TCP_CA_Open)
        self.tlp_high_seq = 0
