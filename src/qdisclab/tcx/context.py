"""The program context: an ``__sk_buff`` view of an :class:`~qdisclab.skb.SkBuff`, and helpers.

One :class:`SkbContext` is allocated per hook and re-pointed at each packet,
so running a program allocates nothing. Field names follow the kernel's
``struct __sk_buff``; flow keys use ``struct bpf_flow_keys`` names because a
tc program reads them from the packet headers, not from a socket:

==================  =====  ====================================================
field               rw     meaning
==================  =====  ====================================================
``len``             r      packet length in bytes
``mark``            rw     ``skb->mark``
``priority``        rw     ``skb->priority``
``tc_classid``      rw     ``qdisc_skb_cb->tc_classid`` (copied to tc_index on PASS)
``tc_index``        rw     ``skb->tc_index``
``tstamp``          rw     EDT departure time (ns, 0 = none)
``queue_mapping``   rw     TX queue
``hash``            r      flow hash (``bpf_get_hash_recalc``), never 0
``protocol``        r      ethertype, ``ETH_P_IP``
``ifindex``         r      the device the hook runs on
``ingress_ifindex`` r      the device the packet arrived on (0 if local)
``ipv4_src`` ...    r      ``ipv4_src``, ``ipv4_dst``, ``sport``, ``dport``, ``ip_proto``
``data``            r      payload bytes, or ``None`` when the packet carries none
``skb``             r      the underlying SkBuff (escape hatch, e.g. for flow books)
==================  =====  ====================================================

>>> from qdisclab.skb import SkBuff
>>> ctx = SkbContext(None)
>>> ctx.skb = SkBuff(100, 1, 2, 3, 4, 17, created=0)
>>> ctx.mark = 7; ctx.skb.mark, ctx.len, ctx.ip_proto
(7, 100, 17)
"""

from __future__ import annotations

from typing import Any

from .constants import BPF_F_INGRESS, ETH_P_IP, TCX_DROP, TCX_REDIRECT


class RedirectInfo:
    """The per-CPU ``bpf_redirect_info``: where ``bpf_redirect`` asked the packet to go."""

    __slots__ = ("flags", "ifindex")

    def __init__(self) -> None:
        self.ifindex = 0
        self.flags = 0


REDIRECT_INFO = RedirectInfo()  # one CPU is modelled, so one record (as per-CPU data)


def bpf_redirect(ifindex: int, flags: int = 0) -> int:
    """Helper ``bpf_redirect``: send the packet to ``ifindex``'s egress (or ingress with
    ``BPF_F_INGRESS``); returns TCX_REDIRECT, or TCX_DROP for unknown flag bits.

    >>> bpf_redirect(3, BPF_F_INGRESS), REDIRECT_INFO.ifindex
    (7, 3)
    """
    if flags & ~BPF_F_INGRESS:
        return TCX_DROP  # the kernel returns TC_ACT_SHOT for bad flags
    info = REDIRECT_INFO
    info.ifindex = ifindex
    info.flags = flags
    return TCX_REDIRECT


def bpf_skb_set_tstamp(ctx: SkbContext, tstamp: int, tstamp_type: int = 1) -> int:
    """Helper ``bpf_skb_set_tstamp``: set the delivery (EDT) time; returns 0."""
    ctx.skb.tstamp = tstamp
    return 0


class SkbContext:
    """A reusable ``__sk_buff`` view; see the module doc for the fields."""

    __slots__ = ("dev", "sched", "skb")

    def __init__(self, dev: Any) -> None:
        self.dev = dev
        self.sched = dev.sched if dev is not None else None
        self.skb: Any = None

    # -- writable --
    @property
    def mark(self) -> int:
        return self.skb.mark

    @mark.setter
    def mark(self, v: int) -> None:
        self.skb.mark = v & 0xFFFFFFFF

    @property
    def priority(self) -> int:
        return self.skb.priority

    @priority.setter
    def priority(self, v: int) -> None:
        self.skb.priority = v & 0xFFFFFFFF

    @property
    def tc_classid(self) -> int:
        return self.skb.tc_classid

    @tc_classid.setter
    def tc_classid(self, v: int) -> None:
        self.skb.tc_classid = v & 0xFFFFFFFF

    @property
    def tc_index(self) -> int:
        return self.skb.tc_index

    @tc_index.setter
    def tc_index(self, v: int) -> None:
        self.skb.tc_index = v & 0xFFFF

    @property
    def tstamp(self) -> int:
        return self.skb.tstamp

    @tstamp.setter
    def tstamp(self, v: int) -> None:
        self.skb.tstamp = v

    @property
    def queue_mapping(self) -> int:
        return self.skb.queue_mapping

    @queue_mapping.setter
    def queue_mapping(self, v: int) -> None:
        self.skb.queue_mapping = v & 0xFFFF

    # -- read-only --
    @property
    def len(self) -> int:
        return self.skb.len

    @property
    def hash(self) -> int:
        return self.skb.get_hash(self.dev.hash_seed)

    @property
    def protocol(self) -> int:
        return ETH_P_IP

    @property
    def ifindex(self) -> int:
        return self.dev.ifindex

    @property
    def ingress_ifindex(self) -> int:
        return self.skb.iif

    @property
    def ipv4_src(self) -> int:
        return self.skb.src

    @property
    def ipv4_dst(self) -> int:
        return self.skb.dst

    @property
    def sport(self) -> int:
        return self.skb.sport

    @property
    def dport(self) -> int:
        return self.skb.dport

    @property
    def ip_proto(self) -> int:
        return self.skb.protocol

    @property
    def data(self) -> bytes | None:
        return self.skb.payload

    # -- helpers that need the context --
    def ktime_get_ns(self) -> int:
        """Helper ``bpf_ktime_get_ns``: the simulated clock (the EDT clock base)."""
        return self.sched.now

    def redirect(self, ifindex: int, flags: int = 0) -> int:
        """Same as :func:`bpf_redirect`; ``return ctx.redirect(idx)`` reads naturally."""
        return bpf_redirect(ifindex, flags)

    def set_tstamp(self, tstamp: int, tstamp_type: int = 1) -> int:
        return bpf_skb_set_tstamp(self, tstamp, tstamp_type)
