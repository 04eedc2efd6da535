"""``SkBuff``: one packet and its metadata, as the kernel's ``struct sk_buff``.

Only what the datapath needs is a slot; everything is an int or a shared
reference, so a queued packet costs a fixed, small amount of memory (the
benchmark suite measures it). Flow keys are plain ints: IPv4 addresses as
32-bit integers, ports, IP protocol number.

>>> skb = SkBuff(1500, 0x0A000001, 0x0A000002, 5000, 80, IPPROTO_UDP, created=0)
>>> skb.get_hash(seed=1) == skb.get_hash(seed=1) != 0
True
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from qdisclab.skb.ledger import FlowBooks

IPPROTO_ICMP = 1
IPPROTO_TCP = 6
IPPROTO_UDP = 17

# ECN codepoints of the IP header's two low TOS bits (include/net/inet_ecn.h).
INET_ECN_NOT_ECT = 0
INET_ECN_ECT_1 = 1
INET_ECN_ECT_0 = 2
INET_ECN_CE = 3

TC_PRIO_BESTEFFORT = 0
TC_PRIO_CONTROL = 7
TC_PRIO_MAX = 15

DEFAULT_TTL = 64

# The Ethernet header (include/uapi/linux/if_ether.h): what an Ethernet device's
# hard_header_len adds to the MTU in psched_mtu.
ETH_HLEN = 14


def psched_mtu(mtu: int) -> int:
    """``psched_mtu(dev)``: the largest frame a qdisc sees, MTU plus the Ethernet header."""
    return mtu + ETH_HLEN


def skb_push_mac(skb: SkBuff, hard_header_len: int = ETH_HLEN) -> None:
    """``dev_hard_header``: count the device's link-layer header in ``len`` (once).

    From here on the tc hooks, the qdisc and the wire see the frame, as on Linux;
    a redirect keeps the header already counted, and a device without one
    (``hard_header_len`` 0, as TUN) adds nothing.

    >>> skb = SkBuff(1500, 1, 2, 3, 4, IPPROTO_UDP, created=0)
    >>> skb_push_mac(skb); skb_push_mac(skb); skb.len
    1514
    >>> skb_pull_mac(skb); skb.len
    1500
    """
    if hard_header_len and not skb.mac_len:
        skb.len += hard_header_len
        skb.mac_len = hard_header_len


def skb_pull_mac(skb: SkBuff) -> None:
    """``eth_type_trans``'s pull: the stack sees the packet without its link-layer header."""
    if skb.mac_len:
        skb.len -= skb.mac_len
        skb.mac_len = 0


class SkBuff:
    """A packet. ``len`` is the byte count qdiscs and links see.

    Writable by tc programs: ``mark``, ``priority``, ``tc_classid``,
    ``tc_index``, ``tstamp`` (earliest departure time, ns; 0 = none),
    ``queue_mapping``. ``cb`` is the qdisc layer's private control block (an
    int, 0 when unused: the kernel's 20-byte ``qdisc_skb_cb`` data holds an
    enqueue time or a time to send). ``th`` holds the transport header object
    (TCP segment fields) when there is one, ``sk`` the sending socket and
    ``dev`` the device it was last handed to: each is an object of a layer
    above this one, typed ``object`` here and narrowed by the layer that owns it.
    ``flow`` is the accounting record the packet is booked on (see ledger);
    ``owner`` is maintained by the ownership checker of ``qdisclab.ops``.
    ``pkt_len`` is the length the qdisc layer accounted when the packet
    entered (``qdisc_pkt_len``): a qdisc policy may read ``len`` but never
    write it, and the checks compare the two whenever a policy lets go of it.
    """

    __slots__ = (
        "cb",
        "created",
        "dev",
        "dport",
        "dst",
        "ecn",
        "flow",
        "hash",
        "iif",
        "len",
        "mac_len",
        "mark",
        "owner",
        "payload",
        "pkt_len",
        "priority",
        "protocol",
        "queue_mapping",
        "sk",
        "sport",
        "src",
        "tc_classid",
        "tc_index",
        "th",
        "tstamp",
        "ttl",
    )

    def __init__(
        self,
        length: int,
        src: int,
        dst: int,
        sport: int,
        dport: int,
        protocol: int,
        created: int,
        flow: FlowBooks | None = None,
        sk: object = None,
        ecn: int = INET_ECN_NOT_ECT,
        priority: int = 0,
        payload: bytes | None = None,
        th: object = None,
        ttl: int = DEFAULT_TTL,
    ) -> None:
        self.len: int = length
        self.pkt_len: int = length
        self.src: int = src
        self.dst: int = dst
        self.sport: int = sport
        self.dport: int = dport
        self.protocol: int = protocol
        self.created: int = created
        self.flow: FlowBooks | None = flow
        self.sk: object = sk
        self.ecn: int = ecn
        self.priority: int = priority
        self.payload: bytes | None = payload
        self.th: object = th
        self.ttl: int = ttl
        self.hash: int = 0
        self.mark: int = 0
        self.tstamp: int = 0
        self.tc_classid: int = 0
        self.tc_index: int = 0
        self.queue_mapping: int = 0
        self.cb: int = 0
        self.dev: object = None
        self.iif: int = 0
        # A Frame, a collection, a node, FREED or None (the stack): compared by identity.
        self.owner: object = None
        self.mac_len: int = 0  # bytes of link-layer header counted in len (skb->mac_len)

    def get_hash(self, seed: int) -> int:
        """The flow hash (``skb_get_hash``): computed from the 5-tuple once, then cached.

        Deterministic for a given ``seed`` (Python's tuple/int hashing is not
        randomised). Never 0, as the kernel reserves 0 for "not computed".
        """
        h = self.hash
        if h == 0:
            h = hash((seed, self.src, self.dst, self.sport, self.dport, self.protocol))
            h = (h ^ (h >> 32)) & 0xFFFFFFFF or 1
            self.hash = h
        return h

    def clone(self, created: int) -> SkBuff:
        """A copy that is a new packet (netem duplicate, redirect mirror); not yet booked."""
        other = SkBuff(
            self.len, self.src, self.dst, self.sport, self.dport, self.protocol,
            created, self.flow, self.sk, self.ecn, self.priority, self.payload, self.th, self.ttl,
        )  # fmt: skip
        other.hash = self.hash
        other.mark = self.mark
        other.tstamp = self.tstamp
        other.tc_classid = self.tc_classid
        other.tc_index = self.tc_index
        other.queue_mapping = self.queue_mapping
        other.mac_len = self.mac_len
        return other

    def describe(self) -> str:
        """One line naming the packet: flow keys, length and the time it was made.

        Only simulated quantities, so a diagnostic reads the same in every run
        with the same seed (an address would not).

        >>> SkBuff(1500, 0x0A000001, 0x0A000002, 1000, 2000, 17, 42).describe()
        'skb 10.0.0.1:1000 -> 10.0.0.2:2000 proto 17 len 1500 created 42 ns'
        """
        return (
            f"skb {ip_str(self.src)}:{self.sport} -> {ip_str(self.dst)}:{self.dport}"
            f" proto {self.protocol} len {self.len} created {self.created} ns"
        )

    def __repr__(self) -> str:
        return f"<SkBuff {self.describe()}>"


def ip_str(addr: int) -> str:
    """Dotted-quad text of a 32-bit IPv4 address."""
    return f"{addr >> 24 & 255}.{addr >> 16 & 255}.{addr >> 8 & 255}.{addr & 255}"
