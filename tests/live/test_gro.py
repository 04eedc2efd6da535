"""Receive offload on TUN writes: which segments merge, and what a merged write says."""

from __future__ import annotations

import dpkt
import pytest

from qdisclab.live.gro import (
    VIRTIO_NET_HDR_F_NEEDS_CSUM,
    VIRTIO_NET_HDR_GSO_TCPV4,
    VNET_HDR,
    VNET_HDR_LEN,
    gro_writes,
    plain_writes,
    tcp_segment,
)
from qdisclab.live.packet import ipv4_checksum_ok

MSS = 1448
FIN, SYN, PSH = 0x01, 0x02, 0x08


def segments(n: int, seq: int = 1000, size: int = MSS) -> list[bytes]:
    return [tcp_segment(seq + i * size, bytes([i]) * size) for i in range(n)]


def parsed(write: bytes) -> tuple[tuple[int, ...], dpkt.ip.IP]:
    return VNET_HDR.unpack_from(write), dpkt.ip.IP(write[VNET_HDR_LEN:])


def test_a_run_of_in_order_segments_is_one_gso_write_with_the_bytes_in_order():
    run = segments(5)
    [(write, count, size)] = gro_writes(run)
    (flags, gso_type, hdr_len, gso_size, csum_start, csum_offset), ip = parsed(write)
    assert (count, size) == (5, sum(len(p) for p in run))
    assert (flags, gso_type) == (VIRTIO_NET_HDR_F_NEEDS_CSUM, VIRTIO_NET_HDR_GSO_TCPV4)
    assert (hdr_len, gso_size, csum_start, csum_offset) == (40, MSS, 20, 16)
    assert ip.len == 40 + 5 * MSS == len(write) - VNET_HDR_LEN
    assert ipv4_checksum_ok(write[VNET_HDR_LEN:])
    assert ip.data.seq == 1000 and ip.data.data == b"".join(bytes([i]) * MSS for i in range(5))


def test_a_gap_a_short_segment_or_psh_ends_the_run():
    gap = segments(2) + segments(2, seq=1000 + 3 * MSS)  # segment 3 is missing
    assert [c for _, c, _ in gro_writes(gap)] == [2, 2]
    short = [*segments(2), tcp_segment(1000 + 2 * MSS, b"x" * 100), *segments(1, 1100 + 2 * MSS)]
    assert [c for _, c, _ in gro_writes(short)] == [3, 1]  # the short one closes its run
    pushed = [tcp_segment(1000, b"a" * MSS, flags=16 | PSH), *segments(2, 1000 + MSS)]
    assert [c for _, c, _ in gro_writes(pushed)] == [1, 2]
    _, ip = parsed(gro_writes(pushed)[0][0])
    assert ip.data.flags & PSH


def test_control_segments_and_other_acks_are_written_as_they_are():
    syn = tcp_segment(999, b"", flags=SYN)
    fin = tcp_segment(1000 + 2 * MSS, b"z" * 10, flags=0x10 | FIN)
    other_ack = tcp_segment(1000 + MSS, b"b" * MSS, ack=2)
    writes = gro_writes([syn, *segments(1), other_ack, fin])
    assert [c for _, c, _ in writes] == [1, 1, 1, 1]
    for (write, _, size), original in zip(
        writes, [syn, segments(1)[0], other_ack, fin], strict=True
    ):
        assert write == bytes(VNET_HDR_LEN) + original and size == len(original)


def test_a_run_stops_below_the_ipv4_length_limit():
    writes = gro_writes(segments(60))  # 60 x 1448 bytes would pass 65535
    assert sum(c for _, c, _ in writes) == 60 and len(writes) == 2
    assert all(len(w) - VNET_HDR_LEN <= 65535 for w, _, _ in writes)


def test_without_gro_every_packet_gets_an_empty_header():
    run = segments(3)
    assert plain_writes(run) == [(bytes(VNET_HDR_LEN) + p, 1, len(p)) for p in run]


SERVER = """
import hashlib, socket, sys
srv = socket.create_server(("192.0.2.2", 5301)); srv.settimeout(20)
conn, _ = srv.accept(); digest = hashlib.sha256(); total = 0
while data := conn.recv(1 << 16):
    digest.update(data); total += len(data)
print(total, digest.hexdigest())
"""
CLIENT = """
import hashlib, random, socket, time
data = random.Random(7).randbytes(8 << 20)
for _ in range(50):
    try:
        sock = socket.create_connection(("192.0.2.2", 5301), timeout=20); break
    except OSError:
        time.sleep(0.1)
sock.sendall(data); sock.close()
print(len(data), hashlib.sha256(data).hexdigest())
"""


@pytest.mark.root
def test_merged_writes_carry_the_byte_stream_unchanged(live_host):
    import sys

    from qdisclab.live.experiment import _finish, _forward
    from qdisclab.live.host import spawn
    from qdisclab.live.netns import LiveLab
    from qdisclab.live.path import LivePath

    with LiveLab("tun") as lab:
        path = LivePath(lab.fd_a, lab.fd_b, qdisc="pfifo", rate=10**11, delay=0,
                        names=(lab.dev_b, lab.dev_a), vnet_hdr=True)  # fmt: skip
        try:
            server = spawn([sys.executable, "-c", SERVER], 30, lab.ns_b)
            client = spawn([sys.executable, "-c", CLIENT], 30, lab.ns_a)
            _forward(path, 30, [server, client])
        finally:
            path.close()
        received, sent = _finish(server).split(), _finish(client).split()
    assert received == sent and int(sent[0]) == 8 << 20
    fd = path.counters()[lab.dev_b]
    # 8 MiB in full segments went through the qdisc one by one, and were written merged
    assert path.forward.qdisc.stats()["packets"] == fd["written_packets"] >= (8 << 20) // 1500
    assert fd["writes"] < fd["written_packets"] / 2
