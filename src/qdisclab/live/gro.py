"""Receive offload for what a live device writes to a TUN device: consecutive TCP segments merged.

A NIC's GRO hands the stack one large packet for a run of in-order segments
of one flow that arrived together; the stack then does its per-packet work
(IP, TCP, the ACK) once per run. Writing to a TUN device opened with
``IFF_VNET_HDR``, qdisclab does the same for the packets that left its delay
line together: each write starts with a ``virtio_net_hdr``, and a merged run
says ``VIRTIO_NET_HDR_GSO_TCPV4`` with the segment size, so the receiving
kernel keeps the segment boundaries for everything that needs them. The merge
happens after the qdisc and the delay line, so they still see every packet.

Segments merge under the conditions the kernel's TCP GRO keeps (restated):
IPv4 without options, not a fragment, same addresses, ports, TOS, TTL, ACK
number, window and TCP options; each starts where the previous ended; flags
ACK (PSH only on the last); every segment but the last exactly the first's
size. A run ends at 64 KB.

>>> first, second = tcp_segment(1000, b"a" * 100), tcp_segment(1100, b"b" * 100)
>>> [len(w) for w, _count, _size in gro_writes([first, second])]
[250]
"""

from __future__ import annotations

import struct

from qdisclab.live.packet import ipv4_packet, ones_complement_sum

__all__ = ["VNET_HDR_LEN", "gro_writes", "plain_writes", "tcp_segment"]

# linux/virtio_net.h (little-endian on the hosts qdisclab runs on, as TUN's default)
VNET_HDR = struct.Struct("<BBHHHH")  # flags, gso_type, hdr_len, gso_size, csum_start, csum_offset
VNET_HDR_LEN = VNET_HDR.size
VIRTIO_NET_HDR_F_NEEDS_CSUM = 1
VIRTIO_NET_HDR_GSO_TCPV4 = 1
NO_OFFLOAD = bytes(VNET_HDR_LEN)  # a plain packet, its checksums complete

IPPROTO_TCP = 6
TCP_ACK, TCP_PSH = 0x10, 0x08
MAX_MERGED = 65535  # an IPv4 total length
TCP_CSUM_OFFSET = 16
_V4_KEY = struct.Struct("!BB2x2xHBB").unpack_from  # ver/IHL, TOS, flags+fragment, TTL, protocol
_SEQ_ACK = struct.Struct("!II").unpack_from
_PSEUDO = struct.Struct("!4s4sxBH")


def plain_writes(packets: list[bytes]) -> list[tuple[bytes, int, int]]:
    """``packets`` written one by one to a ``IFF_VNET_HDR`` TUN device, without offload."""
    return [(NO_OFFLOAD + p, 1, len(p)) for p in packets]


def _mergeable(p: bytes) -> int:
    """The TCP payload offset of a segment GRO may merge, or 0."""
    if len(p) <= 40:
        return 0
    ver_ihl, _tos, frag, _ttl, protocol = _V4_KEY(p, 0)
    if ver_ihl != 0x45 or protocol != IPPROTO_TCP or frag & 0x3FFF:
        return 0
    if p[33] & ~TCP_PSH != TCP_ACK:  # SYN, FIN, RST, URG, ECE, CWR end a run, as in GRO
        return 0
    offset = 20 + ((p[32] >> 4) << 2)
    return offset if len(p) > offset else 0


def _pseudo_sum(src: bytes, dst: bytes, tcp_len: int) -> int:
    """The folded, uncomplemented pseudo-header sum that ``NEEDS_CSUM`` leaves in the field."""
    return ones_complement_sum(_PSEUDO.pack(src, dst, IPPROTO_TCP, tcp_len), _PSEUDO.size)


def _ip_checksum(header: bytes | bytearray) -> int:
    return ~ones_complement_sum(header, 20) & 0xFFFF


def _key(p: bytes, offset: int) -> bytes:
    """What must match along a run: TOS, TTL, addresses, ports, ACK number, header length,
    window, urgent pointer and TCP options (not the sequence number, flags or checksum)."""
    return p[1:2] + p[8:9] + p[12:24] + p[28:33] + p[34:36] + p[38:offset]


def _merged(run: list[bytes], offset: int) -> bytes:
    first, last = run[0], run[-1]
    body = b"".join(p[offset:] for p in run)
    total = offset + len(body)
    ip = bytearray(first[:20])
    ip[2:4] = total.to_bytes(2, "big")
    ip[10:12] = b"\0\0"
    ip[10:12] = _ip_checksum(ip).to_bytes(2, "big")
    tcp = bytearray(first[20:offset])
    tcp[13] = last[33]  # the last segment's PSH
    tcp[16:18] = _pseudo_sum(first[12:16], first[16:20], total - 20).to_bytes(2, "big")
    hdr = VNET_HDR.pack(VIRTIO_NET_HDR_F_NEEDS_CSUM, VIRTIO_NET_HDR_GSO_TCPV4, offset,
                        len(first) - offset, 20, TCP_CSUM_OFFSET)  # fmt: skip
    return hdr + ip + tcp + body


def gro_writes(packets: list[bytes]) -> list[tuple[bytes, int, int]]:
    """What to write for ``packets`` (in order): ``(write, packets in it, their bytes)``.

    Runs of mergeable segments become one GSO write each; everything else is
    written as it is.
    """
    out: list[tuple[bytes, int, int]] = []
    run: list[bytes] = []
    run_bytes = run_len = 0
    offset = size = 0
    next_seq = -1
    key = b""

    def flush() -> None:
        if len(run) == 1:
            out.append((NO_OFFLOAD + run[0], 1, run_bytes))
        elif run:
            out.append((_merged(run, offset), len(run), run_bytes))

    for p in packets:
        off = _mergeable(p)
        if off and run and off == offset:
            seq, _ack = _SEQ_ACK(p, 24)
            payload = len(p) - off
            if (seq == next_seq and payload <= size and run_len + payload <= MAX_MERGED
                    and _key(p, off) == key):  # fmt: skip
                run.append(p)
                run_bytes += len(p)
                run_len += payload
                next_seq = (seq + payload) & 0xFFFFFFFF
                if payload < size or p[33] & TCP_PSH:
                    flush()  # a short or pushed segment ends its run
                    run, run_bytes = [], 0
                continue
        flush()
        run, run_bytes = [], 0
        if not off:
            out.append((NO_OFFLOAD + p, 1, len(p)))
            continue
        run, run_bytes = [p], len(p)
        offset, size = off, len(p) - off
        run_len = off + size
        next_seq = (_SEQ_ACK(p, 24)[0] + size) & 0xFFFFFFFF
        key = _key(p, off)
        if p[33] & TCP_PSH:
            flush()
            run, run_bytes = [], 0
    flush()
    return out


def tcp_segment(seq: int, payload: bytes, flags: int = TCP_ACK, ack: int = 1) -> bytes:
    """An IPv4 TCP segment 192.0.2.1:40000 → 192.0.2.2:5201 (for tests and examples)."""
    tcp = struct.pack("!IIBBHHH", seq, ack, 5 << 4, flags, 512, 0, 0)  # after the ports
    return ipv4_packet(IPPROTO_TCP, 0xC0000201, 0xC0000202, 40000, 5201, tcp + payload)
