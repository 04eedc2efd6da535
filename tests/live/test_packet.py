"""Raw packets to SkBuff fields and CE written back, checked against dpkt's own parser."""

from __future__ import annotations

import socket

import dpkt
import pytest

from qdisclab.live.packet import ip_ecn, ipv4_checksum_ok, packet_to_skb, with_ecn
from qdisclab.skb import INET_ECN_CE, INET_ECN_ECT_0, INET_ECN_ECT_1, IPPROTO_ICMP, IPPROTO_TCP

SRC, DST = "192.0.2.1", "192.0.2.2"


def v4(l4, proto: int, tos: int = 0, ttl: int = 64, offset: int = 0) -> bytes:
    ip = dpkt.ip.IP(src=socket.inet_aton(SRC), dst=socket.inet_aton(DST), p=proto, tos=tos,
                    ttl=ttl, df=1, offset=offset, data=l4)  # fmt: skip
    ip.len = len(ip)
    return bytes(ip)


def v6(l4, nxt: int, tclass: int = 0) -> bytes:
    ip = dpkt.ip6.IP6(src=socket.inet_pton(socket.AF_INET6, "2001:db8::1"),
                      dst=socket.inet_pton(socket.AF_INET6, "2001:db8::2"), nxt=nxt, hlim=9,
                      data=l4, fc=tclass)  # fmt: skip
    ip.plen = len(l4)
    return bytes(ip)


def test_ipv4_tcp_fields_and_payload_kept():
    pkt = v4(dpkt.tcp.TCP(sport=40000, dport=5201, data=b"x" * 100), IPPROTO_TCP, tos=2, ttl=33)
    skb = packet_to_skb(pkt, now=7, books=None)
    assert (skb.len, skb.protocol, skb.sport, skb.dport) == (len(pkt), 6, 40000, 5201)
    assert skb.src == int.from_bytes(socket.inet_aton(SRC), "big")
    assert skb.dst == int.from_bytes(socket.inet_aton(DST), "big")
    assert (skb.ecn, skb.ttl, skb.created, skb.payload) == (INET_ECN_ECT_0, 33, 7, pkt)


def test_icmp_echo_id_separates_pings():
    echo = dpkt.icmp.ICMP(type=8, data=dpkt.icmp.ICMP.Echo(id=4321, seq=1, data=b"p"))
    skb = packet_to_skb(v4(echo, IPPROTO_ICMP), now=0, books=None)
    assert (skb.protocol, skb.sport, skb.dport) == (IPPROTO_ICMP, 4321, 0)


def test_later_fragments_have_no_ports():
    pkt = v4(b"\x12\x34\x56\x78" * 4, dpkt.ip.IP_PROTO_UDP, offset=80)
    skb = packet_to_skb(pkt, now=0, books=None)
    assert (skb.sport, skb.dport) == (0, 0)


def test_ipv6_udp_fields():
    pkt = v6(dpkt.udp.UDP(sport=53, dport=9999, data=b"q"), dpkt.ip.IP_PROTO_UDP, tclass=1)
    skb = packet_to_skb(pkt, now=0, books=None)
    assert (skb.sport, skb.dport, skb.protocol, skb.ttl) == (53, 9999, 17, 9)
    assert skb.ecn == INET_ECN_ECT_1 and skb.src == (0x20010DB8 << 96) | 1


def test_junk_becomes_a_packet_without_flow_keys():
    skb = packet_to_skb(b"\x00\x01\x02", now=0, books=None)
    assert (skb.len, skb.src, skb.protocol) == (3, 0, 0)


@pytest.mark.parametrize("tos", [INET_ECN_ECT_0, INET_ECN_ECT_1, 0xB8 | INET_ECN_ECT_0])
def test_ce_written_back_into_ipv4_with_a_valid_checksum(tos):
    pkt = v4(dpkt.udp.UDP(sport=1, dport=2, data=b"data"), dpkt.ip.IP_PROTO_UDP, tos=tos)
    marked = with_ecn(pkt, INET_ECN_CE)
    parsed = dpkt.ip.IP(marked)
    assert parsed.tos == (tos & 0xFC) | INET_ECN_CE  # the DSCP bits untouched
    assert ipv4_checksum_ok(marked) and not ipv4_checksum_ok(marked[:10] + b"\0\0" + marked[12:])
    parsed.sum = 0  # dpkt recomputes it on serialisation: it must match ours
    assert bytes(parsed)[10:12] == marked[10:12]
    assert marked[20:] == pkt[20:]


def test_ce_written_back_into_ipv6_traffic_class():
    pkt = v6(dpkt.udp.UDP(sport=1, dport=2, data=b"d"), dpkt.ip.IP_PROTO_UDP, tclass=0x2A)
    marked = with_ecn(pkt, INET_ECN_CE)
    assert ip_ecn(marked) == INET_ECN_CE
    assert dpkt.ip6.IP6(marked).fc == 0x2B
    assert marked[2:] == pkt[2:]
