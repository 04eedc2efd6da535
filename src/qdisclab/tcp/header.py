"""The TCP header carried in ``skb.th`` and the per-segment retransmit-queue record.

>>> th = TcpHdr(1000, 1, TCPHDR_ACK | TCPHDR_ECE, 65535)
>>> bool(th.flags & TCPHDR_ECE), th.sack
(True, None)
"""

from __future__ import annotations

TCPHDR_FIN = 0x01
TCPHDR_SYN = 0x02
TCPHDR_RST = 0x04
TCPHDR_PSH = 0x08
TCPHDR_ACK = 0x10
TCPHDR_URG = 0x20
TCPHDR_ECE = 0x40
TCPHDR_CWR = 0x80

# IPv4 (20) + TCP (20) + timestamp option (12): a full 1448-byte MSS makes 1500 bytes.
TCP_HEADER_OVERHEAD = 52
TCP_MSS_OVERHEAD = 40
TCPOLEN_TSTAMP_ALIGNED = 12

# Sequence numbers on the wire are 32-bit. A socket keeps its own unbounded counts
# relative to each direction's initial sequence number (ISN), and converts at the
# wire: ``(rel + isn) & SEQ_MASK`` going out, ``seq_unwrap`` coming in.
SEQ_MASK = 0xFFFFFFFF
SEQ_HALF = 1 << 31

# SACK blocks as carried in a header: (start, end) pairs, at most 4 (3 with timestamps).
SackBlocks = tuple[tuple[int, int], ...]


def seq_unwrap(wire: int, isn: int, near: int) -> int:
    """The relative sequence number closest to ``near`` whose wire value is ``wire``.

    The kernel's ``before()``/``after()`` rule: a 32-bit difference read as signed,
    so a wire value just past 2**32 - 1 continues the count instead of restarting.

    >>> seq_unwrap(5, 0xFFFFFFF0, 10)  # wire 5 is 21 past an ISN of 2**32 - 16
    21
    >>> seq_unwrap(0xFFFFFFF8, 0xFFFFFFF0, 10)  # just before ``near``: 8
    8
    """
    return near + (((wire - isn - near + SEQ_HALF) & SEQ_MASK) - SEQ_HALF)


class TcpHdr:
    """Segment fields as on the wire: ``seq``, ``ack_seq`` and SACK edges are 32-bit,
    offset by the sender's and the receiver's ISN (see ``seq_unwrap``)."""

    __slots__ = ("ack_seq", "datalen", "flags", "opt", "sack", "seq", "tsecr", "tsval", "window")

    def __init__(self, seq: int, ack_seq: int, flags: int, window: int, datalen: int = 0,
                 sack: SackBlocks | None = None, tsval: int = 0, tsecr: int = 0) -> None:  # fmt: skip
        self.seq = seq
        self.ack_seq = ack_seq
        self.flags = flags
        self.window = window
        self.datalen = datalen
        self.sack = sack  # tuple of (start, end) blocks, or None
        self.tsval = tsval
        self.tsecr = tsecr
        self.opt: bytes | None = None  # extra option payload written by sock_ops write_hdr_opt

    def __repr__(self) -> str:
        return (
            f"<TcpHdr seq={self.seq} ack={self.ack_seq} flags={self.flags:#x} len={self.datalen}>"
        )


class TxSeg:
    """One segment in the retransmit queue (the kernel's skb + ``tcp_skb_cb``)."""

    __slots__ = (
        "app_limited",
        "del_mstamp",
        "delivered",
        "end",
        "ever_retrans",
        "fin",
        "first_tx",
        "lost",
        "retrans",
        "sacked",
        "seq",
        "tnext",
        "tprev",
        "tx_us",
    )

    def __init__(self, seq: int, end: int, fin: bool) -> None:
        self.seq = seq
        self.end = end
        self.fin = fin
        self.tx_us = 0
        self.retrans = False  # a retransmission is in flight
        self.ever_retrans = False
        self.sacked = False
        self.lost = False
        self.delivered = 0
        self.del_mstamp = 0
        self.first_tx = 0
        self.app_limited = False
        self.tnext: TxSeg | None = None  # the tsorted list (rack.py); None = not on it
        self.tprev: TxSeg | None = None
