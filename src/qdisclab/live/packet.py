"""Raw IP packets to ``SkBuff`` fields and back (the ECN bits a qdisc may set).

Parsing reads just what the datapath keys on (addresses, ports, protocol,
ECN, TTL) with ``struct`` from the IPv4 or IPv6 header; the packet's bytes
are kept as the payload, so what goes out of qdisclab is what came in — except
the ECN field when a qdisc marked Congestion Experienced, which is written
back with the IPv4 header checksum recomputed (IPv6 has none).

>>> from qdisclab.skb import INET_ECN_CE, INET_ECN_ECT_0, IPPROTO_UDP
>>> pkt = ipv4_packet(IPPROTO_UDP, 0xC0000201, 0xC0000202, 5000, 53, b"hi", ecn=INET_ECN_ECT_0)
>>> skb = packet_to_skb(pkt, now=0, books=None)
>>> (skb.len, skb.sport, skb.dport, skb.ecn == INET_ECN_ECT_0)
(26, 5000, 53, True)
>>> marked = with_ecn(pkt, INET_ECN_CE)
>>> ip_ecn(marked) == INET_ECN_CE and ipv4_checksum_ok(marked)
True
"""

from __future__ import annotations

import struct
from typing import Any

from qdisclab.skb import IPPROTO_ICMP, SkBuff

__all__ = [
    "ip_ecn",
    "ipv4_checksum_ok",
    "ipv4_packet",
    "ones_complement_sum",
    "packet_to_skb",
    "with_ecn",
]

IPPROTO_ICMPV6 = 58
_PORTS = struct.Struct("!HH").unpack_from
# version/IHL, TOS (ECN in its low bits), flags+fragment offset, TTL, protocol, addresses
_V4_HEADER = struct.Struct("!xB4xHBB2xII").unpack_from
_ICMP_ID = struct.Struct("!H").unpack_from
_PORT_PROTOCOLS = frozenset((6, 17, 132, 136))  # TCP, UDP, SCTP, UDP-Lite: ports first
_IP_ETHERTYPES = (b"\x08\x00", b"\x86\xdd")  # ETH_P_IP, ETH_P_IPV6


def packet_to_skb(data: bytes, now: int, books: Any, l3: int = 0) -> SkBuff:
    """An ``SkBuff`` for one raw packet (payload = the bytes; ``len`` = their count).

    ``l3`` is where the IP header starts: 0 for a TUN device's IP packets,
    ``ETH_HLEN`` for Ethernet frames from a packet socket. Anything that is not
    IPv4/IPv6 (ARP, or a truncated packet) still becomes a packet, with zero
    flow keys, so every byte read is accounted for.
    """
    # Called for every packet read: an IPv4 header is one unpack, the ports another.
    n = len(data)
    if n < l3 + 20 or (l3 and data[12:14] not in _IP_ETHERTYPES):
        return SkBuff(n, 0, 0, 0, 0, 0, now, books, None, 0, 0, data)
    first = data[l3]
    if first >> 4 == 4:
        tos, frag, ttl, protocol, src, dst = _V4_HEADER(data, l3)
        offset = l3 + ((first & 15) << 2)
        sport = dport = 0
        if not frag & 0x1FFF and n >= offset + 4:  # first fragment: ports follow
            if protocol in _PORT_PROTOCOLS:
                sport, dport = _PORTS(data, offset)
            elif protocol == IPPROTO_ICMP and n >= offset + 6:
                sport = _ICMP_ID(data, offset + 4)[0]  # echo id: one flow per ping
        return SkBuff(n, src, dst, sport, dport, protocol, now, books, None, tos & 3, 0, data,
                      None, ttl)  # fmt: skip
    if first >> 4 != 6 or n < l3 + 40:
        return SkBuff(n, 0, 0, 0, 0, 0, now, books, None, 0, 0, data)
    protocol = data[l3 + 6]
    skb = SkBuff(n, int.from_bytes(data[l3 + 8 : l3 + 24], "big"),
                 int.from_bytes(data[l3 + 24 : l3 + 40], "big"), 0, 0, protocol, now, books,
                 ecn=(data[l3 + 1] >> 4) & 3, payload=data, ttl=data[l3 + 7])  # fmt: skip
    offset = l3 + 40
    if n >= offset + 4:
        if protocol in _PORT_PROTOCOLS:
            skb.sport, skb.dport = _PORTS(data, offset)
        elif protocol == IPPROTO_ICMPV6 and n >= offset + 6:
            skb.sport = _ICMP_ID(data, offset + 4)[0]
    return skb


def ip_ecn(data: bytes, l3: int = 0) -> int:
    """The ECN codepoint of a raw IPv4/IPv6 packet whose IP header starts at ``l3``."""
    return data[l3 + 1] & 3 if data[l3] >> 4 == 4 else (data[l3 + 1] >> 4) & 3


def with_ecn(data: bytes, ecn: int, l3: int = 0) -> bytes:
    """``data`` with its ECN field set to ``ecn`` (IPv4 header checksum recomputed)."""
    packet = bytearray(data)
    if data[l3] >> 4 == 4:
        packet[l3 + 1] = (packet[l3 + 1] & 0xFC) | ecn
        ihl = (packet[l3] & 15) << 2
        packet[l3 + 10 : l3 + 12] = b"\0\0"
        packet[l3 + 10 : l3 + 12] = _checksum(packet[l3 : l3 + ihl], ihl).to_bytes(2, "big")
    else:
        packet[l3 + 1] = (packet[l3 + 1] & 0xCF) | (ecn << 4)
    return bytes(packet)


def ones_complement_sum(data: bytes | bytearray, length: int) -> int:
    """The folded 16-bit one's complement sum of ``data[:length]`` (``length`` even; RFC 1071)."""
    total = sum(struct.unpack_from(f"!{length // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return total


def _checksum(data: bytes | bytearray, length: int) -> int:
    return ~ones_complement_sum(data, length) & 0xFFFF


def ipv4_checksum_ok(data: bytes, l3: int = 0) -> bool:
    """Whether the IPv4 header starting at ``l3`` has a checksum that verifies."""
    header = data[l3 : l3 + ((data[l3] & 15) << 2)]
    return _checksum(header, len(header)) == 0


def ipv4_packet(protocol: int, src: int, dst: int, sport: int, dport: int, body: bytes,
                ecn: int = 0, ttl: int = 64) -> bytes:  # fmt: skip
    """A well-formed IPv4 packet with a UDP/TCP-style ports header (for tests and probes)."""
    l4 = struct.pack("!HH", sport, dport) + body
    header = bytearray(struct.pack("!BBHHHBBHII", 0x45, ecn, 20 + len(l4), 0, 0x4000, ttl,
                                   protocol, 0, src, dst))  # fmt: skip
    header[10:12] = _checksum(header, 20).to_bytes(2, "big")
    return bytes(header) + l4
