"""The live datapath on datagram socket pairs (they keep packet boundaries as TUN does).

No root needed: ``LivePath`` reads one fd and writes the other, so a socketpair
per side stands in for the namespaces' TUN devices.
"""

from __future__ import annotations

import socket

import dpkt
import pytest

from qdisclab.live.packet import ip_ecn, ipv4_checksum_ok, ipv4_packet
from qdisclab.live.path import LivePath
from qdisclab.skb import INET_ECN_CE, INET_ECN_ECT_0, IPPROTO_UDP
from qdisclab.tcx import TCX_DROP, TCX_NEXT, Tcx

A, B = 0xC0000201, 0xC0000202
MS = 1_000_000


@pytest.fixture
def wires():
    """(our end of a, a's end, our end of b, b's end): a's end is what qdisclab reads."""
    a_app, a_tun = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
    b_app, b_tun = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
    for s in (a_app, a_tun, b_app, b_tun):
        s.setblocking(False)  # a read of an empty socket must return, never wait
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
    yield a_app, a_tun, b_app, b_tun
    for s in (a_app, a_tun, b_app, b_tun):
        s.close()


def path_for(wires, **kw) -> LivePath:
    _a_app, a_tun, _b_app, b_tun = wires
    return LivePath(a_tun.fileno(), b_tun.fileno(), **kw)


def received(sock: socket.socket) -> list[bytes]:
    out = []
    while True:
        try:
            out.append(sock.recv(65536))
        except BlockingIOError:
            return out


def udp(i: int, size: int = 1000, ecn: int = 0) -> bytes:
    return ipv4_packet(IPPROTO_UDP, A, B, 4000 + i % 4, 9000, bytes([i % 256]) * (size - 24), ecn)


@pytest.mark.parametrize("mmsg", [False, True], ids=["read-write", "recvmmsg-sendmmsg"])
def test_qdisc_counters_equal_what_crossed_the_fds(wires, mmsg):
    a_app, _, b_app, _ = wires
    path = path_for(wires, qdisc="pfifo limit 20", rate=10_000_000, delay=5 * MS, mmsg=mmsg)
    sent = [udp(i) for i in range(60)]
    for pkt in sent:
        a_app.send(pkt)
    path.run(0.05)  # 60 packets arrive at once: 20 queue (+1 on the wire), the rest drop
    path.close()
    q, dev = path.forward.qdisc, path.forward
    got = received(b_app)
    assert dev.read_packets == 60 and dev.read_bytes == sum(map(len, sent))
    assert q.drops > 0 and q.packets + q.drops == dev.read_packets
    writer = dev.port.writer
    assert (q.packets, q.bytes) == (writer.written_packets, writer.written_bytes)
    assert 0 < writer.writes <= q.packets
    assert len(got) == q.packets and sum(map(len, got)) == q.bytes
    # a FIFO: the first 21 (20 queued, 1 on the wire), unchanged and in order; each packet is
    # stamped when read, so on a busy host the wire may free a place before the last are read
    order = [sent.index(p) for p in got]
    assert order[:21] == list(range(21)) and order == sorted(order)
    books = path.world.check_conservation()
    assert books["in_flight"] == 0 and books["dropped"] == {"qdisc": q.drops}


def test_packets_leaving_together_are_written_in_batches(wires):
    a_app, _, b_app, _ = wires
    path = path_for(wires, qdisc="pfifo", rate=10**11, delay=0, mmsg=True)  # nothing waits
    sent = [udp(i) for i in range(60)]
    for pkt in sent:
        a_app.send(pkt)
    path.run(0.05)
    path.close()
    writer = path.forward.port.writer
    assert received(b_app) == sent and writer.written_packets == 60
    # one recvmmsg reads all 60; the port hands them over 16 at a time, one sendmmsg each
    assert writer.writes <= -(-60 // 16)


def test_rate_and_delay_line_hold_back_packets(wires):
    a_app, _, b_app, _ = wires
    path = path_for(wires, qdisc="pfifo", rate=8_000_000, delay=20 * MS)  # 1000 B: 1 ms each
    arrivals = []
    path.sched.add_reader(b_app.fileno(), lambda _: arrivals.extend(
        path.sched.clock() for _ in received(b_app)))  # fmt: skip
    start = path.sched.clock()
    for i in range(30):
        a_app.send(udp(i))
    path.run(0.2)
    path.sched.remove_reader(b_app.fileno())
    path.close()
    assert len(arrivals) == 30
    assert arrivals[0] - start >= 21 * MS  # serialised (1 ms), then 20 ms on the wire
    assert arrivals[-1] - start >= 50 * MS  # 30 packets cannot leave faster than the rate


def test_ce_marks_reach_the_wire_with_a_valid_checksum(wires):
    a_app, _, b_app, _ = wires
    # every queued packet waits more than 1 us: fq_codel marks the ECN-capable ones
    path = path_for(wires, qdisc="fq_codel ce_threshold 1us", rate=8_000_000, delay=0)
    for i in range(20):
        a_app.send(udp(i, ecn=INET_ECN_ECT_0 if i % 2 else 0))
    path.run(0.1)
    path.close()
    got = received(b_app)
    assert len(got) == 20
    marked = [p for p in got if ip_ecn(p) == INET_ECN_CE]
    assert marked and all(dpkt.ip.IP(p).data.sport for p in marked)
    assert all(ipv4_checksum_ok(p) for p in got)
    assert all(ip_ecn(p) == 0 for p in got if p[20 + 4] % 2 == 0)  # not-ECT never marked
    assert len(marked) >= 9  # of the 10 ECT packets, all but one that found no queue


def test_tcx_egress_program_runs_before_the_qdisc(wires):
    a_app, _, b_app, _ = wires
    path = path_for(wires, qdisc="pfifo", rate=100_000_000, delay=0)
    tcx = Tcx.of(path.forward)
    prog = tcx.load(lambda ctx: TCX_DROP if ctx.sport == 4001 else TCX_NEXT, name="drop4001")
    tcx.egress.attach(prog)
    for i in range(8):
        a_app.send(udp(i))
    path.run(0.05)
    path.close()
    got = received(b_app)
    assert [dpkt.ip.IP(p).data.sport for p in got] == [4000, 4002, 4003, 4000, 4002, 4003]
    assert path.world.ledger.dropped == {"tcx_drop": 2}
    assert path.backward.read_packets == 0  # nothing went b -> a


def test_backward_direction_has_its_own_qdisc(wires):
    a_app, _, b_app, _ = wires
    path = path_for(wires, qdisc="fq_codel", reverse_qdisc="pfifo limit 5", rate=10_000_000,
                    delay=MS)  # fmt: skip
    for i in range(10):
        b_app.send(udp(i))
    path.run(0.05)
    path.close()
    assert len(received(a_app)) == 6  # 5 queued + 1 on the wire at once
    assert path.backward.qdisc.kind == "pfifo" and path.backward.qdisc.drops == 4
    assert path.forward.qdisc.packets == 0
