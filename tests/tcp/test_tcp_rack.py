"""RACK-TLP (RFC 8985 as Linux): lost retransmissions, tail loss probes, reordering window,
the reordering timer."""

from tests.tcp.helpers import step_events, two_hosts

from qdisclab.net import HOOK_DROP, HOOK_PASS, HOOK_STOLEN
from qdisclab.tcp import TcpStack

MSS = 1448


def rel_seq(skb):
    """The segment's sequence number relative to its sender's ISN (what the socket counts)."""
    return (skb.th.seq - skb.sk.snd_isn) & 0xFFFFFFFF


class SeqDropper:
    """Egress hook: drop the first ``times`` transmissions of data segments starting at ``seqs``."""

    def __init__(self, sched, seqs, times=1):
        self.sched = sched
        self.left = dict.fromkeys(seqs, times)
        self.dropped_at: dict[int, list[int]] = {}

    def __call__(self, skb):
        th = skb.th
        if th is not None and th.datalen and self.left.get(rel_seq(skb), 0) > 0:
            self.left[rel_seq(skb)] -= 1
            self.dropped_at.setdefault(rel_seq(skb), []).append(self.sched.now)
            return HOOK_DROP
        return HOOK_PASS


class Delayer:
    """Ingress hook: hold the first arrival of the data segment at ``seq`` for ``delay`` ns."""

    def __init__(self, world, node, seq, delay):
        self.world, self.node, self.seq, self.delay = world, node, seq, delay
        self.held = []
        self.done = False
        world.packet_holders.append(self)

    def held_packets(self):
        return len(self.held)

    def __call__(self, skb):
        th = skb.th
        if not self.done and th is not None and th.datalen and rel_seq(skb) == self.seq:
            self.done = True
            self.held.append(skb)
            self.world.sched.call_later(self.delay, self._release, skb)
            return HOOK_STOLEN
        return HOOK_PASS

    def _release(self, skb):
        self.held.remove(skb)
        self.node.receive(skb, skb.dev)


class Recorder:
    """sock_ops stand-in recording the times of retransmissions."""

    def __init__(self, sched):
        self.sched = sched
        self.retrans: list[tuple[int, int]] = []

    def event(self, sk, name, *args):
        if name == "retransmit":
            self.retrans.append((self.sched.now, args[0]))


def _conn(rate="100mbit", delay="10ms", warmup=30 * MSS):
    """A connection with RTT samples and a grown cwnd: ``warmup`` bytes already delivered."""
    w, a, b = two_hosts(rate=rate, delay=delay)
    srv = TcpStack.of(b).listen(80)
    rec = Recorder(w.sched)
    sk = TcpStack.of(a).connect(b.addr, 80, "f", cc="reno", sock_ops=rec)
    w.run(100_000_000)
    sk.send(warmup)
    w.run(w.sched.now + 300_000_000)
    peer = srv.accepted[0]
    assert peer.bytes_received == warmup and sk.min_rtt_us
    return w, a, b, sk, peer, rec


def _run_until_received(w, peer, total, limit_ns):
    end = w.sched.now + limit_ns
    while peer.bytes_received < total and w.sched.now < end:
        w.run(w.sched.now + 1_000_000)
    return w.sched.now


def test_lost_retransmission_recovered_without_rto():
    w, a, _b, sk, peer, rec = _conn()
    first = sk.snd_nxt
    target = first + 20 * MSS  # dropped as original and as its first retransmission
    drop = SeqDropper(w.sched, [target], times=2)
    a.devices["eth0"].egress_hook = drop
    total = peer.bytes_received + 400 * MSS
    sk.send(400 * MSS)
    _run_until_received(w, peer, total, 3_000_000_000)
    assert peer.bytes_received == total
    assert len(drop.dropped_at[target]) == 2
    assert sk.stats.rto_count == 0
    assert sk.stats.lost_retrans >= 1
    # The second retransmission followed the first within a few RTTs, not after an RTO.
    times = [t for t, seq in rec.retrans if seq == target]
    assert len(times) == 2 and times[1] - times[0] < 100_000_000
    w.check_conservation()


def test_tail_loss_recovered_by_probe_before_rto():
    def fct(drop_tail):
        w, a, _b, sk, peer, _rec = _conn()
        start = sk.snd_nxt
        n = 20
        if drop_tail:
            # The last two: 18 segments arrive, an even count, so no delayed ACK is pending.
            tail = [start + i * MSS for i in range(n - 2, n)]
            a.devices["eth0"].egress_hook = SeqDropper(w.sched, tail)
        t0 = w.sched.now
        total = peer.bytes_received + n * MSS
        sk.send(n * MSS)
        t = _run_until_received(w, peer, total, 2_000_000_000)
        assert peer.bytes_received == total
        return t - t0, sk

    base, _ = fct(False)
    lossy, sk = fct(True)
    srtt_ns = (sk.srtt_us >> 3) * 1000
    assert sk.stats.rto_count == 0
    assert sk.stats.tlp_probes >= 1
    # The probe 2 srtt (+2 ms) after the last ACK, its SACK a round trip later, then the
    # other segment's retransmission: about 2 srtt + 1.5 RTT, well under the RTO (>= 200 ms)
    # that was the only way out before.
    extra = lossy - base
    assert 3 * srtt_ns <= extra <= 4 * srtt_ns + 5_000_000, (base, lossy, srtt_ns)
    assert extra < sk.rto // 2


def test_mild_reordering_no_spurious_retransmission():
    # 10 Mbit/s: one segment per 1.2 ms; a 2.5 ms delay lets two segments overtake
    # (under the DUPACK threshold) and stays inside min_rtt/4 (~5 ms).
    w, _a, b, sk, peer, _rec = _conn(rate="10mbit")
    target = sk.snd_nxt + 10 * MSS
    delayer = Delayer(w, b, target, 2_500_000)
    b.devices["eth0"].ingress_hook = delayer
    total = peer.bytes_received + 40 * MSS
    sk.send(40 * MSS)
    _run_until_received(w, peer, total, 2_000_000_000)
    w.run(w.sched.now + 100_000_000)
    assert delayer.done and peer.bytes_received == total
    assert sk.reord_seen >= 1  # the late segment filled a hole below SACKed data
    assert sk.stats.retrans == 0 and sk.stats.rack_lost == 0
    assert sk.icsk_ca_state == 0  # never left Open for Recovery
    w.check_conservation()


def test_rack_timer_marks_loss_after_reordering_window():
    # The third-last segment is lost: only two SACKs follow (no DUPACK threshold), and it
    # was sent just before them, so RACK must wait for the reordering window on its timer.
    w, a, _b, sk, peer, rec = _conn()
    n = 20
    target = sk.snd_nxt + (n - 3) * MSS
    drop = SeqDropper(w.sched, [target])
    a.devices["eth0"].egress_hook = drop
    total = peer.bytes_received + n * MSS
    sk.send(n * MSS)
    _run_until_received(w, peer, total, 2_000_000_000)
    assert peer.bytes_received == total
    assert sk.stats.rto_count == 0 and sk.stats.tlp_probes == 0
    assert sk.stats.rack_lost == 1 and sk.stats.fast_retrans == 1
    ((rtx_t, seq),) = rec.retrans
    assert seq == target
    reo_wnd_ns = (sk.min_rtt_us >> 2) * 1000
    rtt_ns = sk.min_rtt_us * 1000
    waited = rtx_t - drop.dropped_at[target][0]
    # Lost once a round trip plus the window passed since it was sent (+2 ms timer slack).
    assert rtt_ns + reo_wnd_ns <= waited <= rtt_ns + reo_wnd_ns + 5_000_000, (waited, rtt_ns)


def test_dsack_widens_reordering_window():
    # A 10 ms delay (> min_rtt/4) with dozens of segments overtaking: the DUPACK threshold
    # retransmits it, the original then fills the hole and the retransmission arrives as a
    # duplicate. The receiver reports it in a D-SACK, and the sender doubles its window.
    w, _a, b, sk, peer, rec = _conn()
    target = sk.snd_nxt + 10 * MSS
    b.devices["eth0"].ingress_hook = Delayer(w, b, target, 10_000_000)
    total = peer.bytes_received + 100 * MSS
    sk.send(100 * MSS)
    _run_until_received(w, peer, total, 2_000_000_000)
    w.run(w.sched.now + 100_000_000)
    assert [seq for _, seq in rec.retrans] == [target]  # one spurious retransmission
    assert sk.stats.dsack == 1
    assert sk.rack_reo_wnd_steps == 2 and sk.rack_reo_wnd_persist > 0
    assert sk._rack_reo_wnd() == min(2 * (sk.min_rtt_us >> 2), sk.srtt_us >> 3)
    w.check_conservation()


def _tsorted(sk):
    out, seg = [], sk.tsorted.tnext
    while seg is not sk.tsorted:
        out.append(seg)
        seg = seg.tnext
    return out


def test_tsorted_list_tracks_the_scoreboard_under_random_loss():
    # 10 % loss: SACK recovery, RACK marking, lost retransmissions, probes and an RTO.
    # Throughout, the tsorted list holds exactly the segments still out and not yet known
    # lost, in transmit order, and the counters agree with the per-segment flags.
    w, a, b = two_hosts(loss=0.1, delay="5ms", seed=6)
    srv = TcpStack.of(b).listen(80)
    sk = TcpStack.of(a).connect(b.addr, 80, "f", cc="reno")
    total = 1500 * MSS
    sk.send(total)
    step = 0
    while srv.accepted[0].bytes_received < total if srv.accepted else True:
        step += 1
        assert step < 15_000
        w.run(step * 2_000_000)
        live = sk.rtx[sk.rtx_head :]
        listed = _tsorted(sk)
        expect = [s for s in live if not s.sacked and not (s.lost and not s.retrans)]
        assert {id(s) for s in listed} == {id(s) for s in expect}
        stamps = [(s.tx_us, s.end) for s in listed]
        assert stamps == sorted(stamps)
        assert sk.lost_out == sum(s.lost for s in live)
        assert sk.retrans_out == sum(s.retrans for s in live)
        assert sk.sacked_out == sum(s.sacked for s in live)
    stats = sk.stats
    assert stats.rack_lost and stats.lost_retrans and stats.tlp_probes and stats.rto_count


def test_no_loss_walk_on_a_clean_path():
    # Without loss or reordering the head of the tsorted list is always sent after RACK's
    # segment: the detection walk never runs, whatever the number of ACKs. After every
    # event the list's head is the one an ACK's check would see (sends join at the tail).
    w, a, b = two_hosts()
    srv = TcpStack.of(b).listen(80)
    sk = TcpStack.of(a).connect(b.addr, 80, "f", cc="reno")
    sk.send(2000 * MSS)
    checked = 0
    for _ in step_events(w, 1_000_000_000):
        first = sk.tsorted.tnext
        if first is not sk.tsorted and sk.rack_mstamp:
            assert (first.tx_us, first.end) > (sk.rack_mstamp, sk.rack_end_seq)
            checked += 1
    assert srv.accepted[0].bytes_received == 2000 * MSS
    assert checked > 1000 and sk.stats.retrans == 0 and sk.stats.rack_lost == 0
