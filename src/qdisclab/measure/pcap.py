"""Standard pcap capture of a device's egress (what tcpdump and Wireshark read).

Packets are rebuilt from ``SkBuff`` fields as IPv4 + UDP/TCP headers (dpkt),
captured at transmission start, linktype RAW (101, bare IPv4), nanosecond
timestamps from simulated time. Only headers are stored (``snaplen``); the
original length is kept, as ``tcpdump -s 96`` would.

>>> import io
>>> from qdisclab.skb import SkBuff
>>> buf = io.BytesIO(); w = PcapWriter(buf)
>>> w.write(SkBuff(1000, 0x0A000001, 0x0A000002, 5000, 80, 17, created=0), 1_500_000_000)
>>> len(buf.getvalue()) == 24 + 16 + 96  # headers + zero payload, cut at snaplen
True
"""

from __future__ import annotations

import struct
from typing import TYPE_CHECKING, Any, BinaryIO

import dpkt

from qdisclab.skb import IPPROTO_TCP, IPPROTO_UDP, SkBuff

if TYPE_CHECKING:
    from qdisclab.net.device import NetDevice
    from qdisclab.sim.tracepoint import Tracepoint

LINKTYPE_RAW = 101
SNAPLEN = 96
_TSOPT = bytes((1, 1, 8, 10))  # NOP, NOP, kind 8 (timestamps), length 10


def packet_bytes(skb: SkBuff) -> bytes:
    """IPv4 header + transport header (+ zero payload) of ``skb``, total length ``skb.len``."""
    th = skb.th
    if skb.protocol == IPPROTO_TCP:
        flags = getattr(th, "flags", dpkt.tcp.TH_ACK)
        l4: Any = dpkt.tcp.TCP(
            sport=skb.sport, dport=skb.dport, seq=int(getattr(th, "seq", 0)) & 0xFFFFFFFF,
            ack=int(getattr(th, "ack_seq", 0)) & 0xFFFFFFFF, flags=int(flags) & 0xFF,
            win=min(int(getattr(th, "window", 65535)), 65535),
        )  # fmt: skip
        hlen = 20
        tsecr = getattr(th, "tsecr", None)
        if tsecr is not None:
            # The timestamp option every qdisclab segment carries (its 12 bytes are in
            # skb.len), so the capture's TCP payload length is the segment's data length.
            tsval = int(getattr(th, "tsval", 0))
            l4.opts = _TSOPT + struct.pack("!II", tsval & 0xFFFFFFFF, int(tsecr) & 0xFFFFFFFF)
            hlen += len(l4.opts)
            l4.off = hlen // 4
    elif skb.protocol == IPPROTO_UDP:
        l4 = dpkt.udp.UDP(sport=skb.sport, dport=skb.dport)
        hlen = 8
    else:
        l4 = b""
        hlen = 0
    payload_len = max(0, skb.len - 20 - hlen)
    if hlen:
        l4.data = bytes(payload_len)
        if skb.protocol == IPPROTO_UDP:
            l4.ulen = hlen + payload_len
    ip = dpkt.ip.IP(src=struct.pack("!I", skb.src), dst=struct.pack("!I", skb.dst),
                    p=skb.protocol, ttl=max(skb.ttl, 0) & 0xFF, tos=skb.ecn & 3,
                    data=l4 if hlen else bytes(payload_len))  # fmt: skip
    ip.len = 20 + hlen + payload_len
    return bytes(ip)


class PcapWriter:
    """Writes records of (packet headers, original length, ns timestamp)."""

    __slots__ = ("count", "f", "snaplen")

    def __init__(self, f: BinaryIO, snaplen: int = SNAPLEN) -> None:
        self.f = f
        self.snaplen = snaplen
        self.count = 0
        hdr = dpkt.pcap.LEFileHdr(snaplen=snaplen, linktype=LINKTYPE_RAW,
                                  magic=dpkt.pcap.TCPDUMP_MAGIC_NANO)  # fmt: skip
        f.write(bytes(hdr))

    def write(self, skb: SkBuff, now: int) -> None:
        data = packet_bytes(skb)
        cap = data[: self.snaplen]
        sec, nsec = divmod(now, 1_000_000_000)
        self.f.write(struct.pack("<IIII", sec, nsec, len(cap), len(data)) + cap)
        self.count += 1


class DeviceTaps:
    """The pcap writers of one run's tapped devices, fed by its ``net:net_dev_xmit``.

    The device fires that tracepoint when it starts serialising a packet (after
    the qdisc), which is where tcpdump on an egress interface sees it; the
    tracepoint costs the device one flag test while nothing listens, so an
    untapped run pays nothing more, compiled or not.
    """

    __slots__ = ("tp", "writers")

    def __init__(self, tp: Tracepoint[...]) -> None:
        self.tp = tp
        self.writers: dict[object, PcapWriter] = {}  # device -> its capture

    def __call__(self, now: int, dev: object, skb: SkBuff) -> None:
        writer = self.writers.get(dev)
        if writer is not None:
            # On the wire skb.len counts the Ethernet header; the capture is the IP packet.
            mac_len = skb.mac_len
            skb.len -= mac_len
            writer.write(skb, now)
            skb.len += mac_len


#: The taps of each run's tracepoint instance (one entry while any of its devices is tapped).
_TAPS: dict[Tracepoint[...], DeviceTaps] = {}


def attach_tap(dev: NetDevice, writer: PcapWriter) -> None:
    """Capture every packet ``dev`` starts transmitting into ``writer``."""
    tp = dev.tp_xmit
    taps = _TAPS.get(tp)
    if taps is None:
        taps = _TAPS[tp] = DeviceTaps(tp)
        tp.attach(taps)
    taps.writers[dev] = writer


def detach_tap(dev: NetDevice) -> None:
    """Undo ``attach_tap`` (nothing happens for a device that is not tapped)."""
    tp = dev.tp_xmit
    taps = _TAPS.get(tp)
    if taps is None or taps.writers.pop(dev, None) is None:
        return
    if not taps.writers:
        tp.detach(taps)
        del _TAPS[tp]
