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

Writing a read-only field is refused at once, naming it (``ctx.len is read-only
to a tc program``); a program that writes ``len`` through the ``skb`` escape
hatch is caught when it returns (see :mod:`qdisclab.tcx.hook`).

The helpers a program may call are kfuncs declared on this class (``@kfunc``,
listed by ``qdisclab kfuncs`` under ``tcx``): ``ctx.ktime_get_ns()``,
``ctx.random_u32()`` (``bpf_get_prandom_u32``, from this hook's named stream
of the run seed, so a program sampling packets at random is reproducible per
seed), ``ctx.redirect()`` and ``ctx.set_tstamp()``.

>>> from qdisclab.skb import SkBuff
>>> ctx = SkbContext(None)
>>> ctx.skb = SkBuff(100, 1, 2, 3, 4, 17, created=0)
>>> ctx.mark = 7; ctx.skb.mark, ctx.len, ctx.ip_proto
(7, 100, 17)
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import NoReturn

from qdisclab.errors import ExtensionFault
from qdisclab.ops import KfuncContext, kfunc
from qdisclab.sim.interface import EventScheduler
from qdisclab.skb import SkBuff

from .constants import BPF_F_INGRESS, ETH_P_IP, TCX_DROP, TCX_REDIRECT
from .netdev import TcxDevice


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


IFACE = "tcx"


# What a context points at between runs: a packet of zeros, never booked.
NO_PACKET = SkBuff(0, 0, 0, 0, 0, 0, created=0)


def _read_only(name: str, getter: Callable[[SkbContext], int | bytes | None]) -> property:
    """A field a tc program may read; writing it is refused at once, naming it."""

    def refuse(self: SkbContext, value: object) -> NoReturn:
        raise ExtensionFault(
            "tc program", "(running)", f"ctx.{name} is read-only to a tc program "
            "(writable: mark, priority, tc_classid, tc_index, tstamp, queue_mapping)"
        )  # fmt: skip

    return property(getter, refuse, doc=f"``__sk_buff.{name}`` (read-only)")


class SkbContext(KfuncContext, interface=IFACE, prefix="ctx"):
    """A reusable ``__sk_buff`` view; see the module doc for the fields.

    ``stream`` names this context's random stream (``ctx.random_u32()``); the
    hook that owns the context names it after its device and direction.
    ``skb`` is the packet the running program sees (``NO_PACKET`` between runs).
    """

    __slots__ = ("_rng", "_stream", "dev", "sched", "skb")

    def __init__(self, dev: TcxDevice | None, stream: str = "tc") -> None:
        self.dev = dev
        self.sched: EventScheduler | None = dev.sched if dev is not None else None
        self.skb: SkBuff = NO_PACKET
        where = f"{dev.node.name}/{dev.name}" if dev is not None else "/?"
        self._stream = f"tcx:{where}:{stream}"
        self._rng: random.Random | None = None  # created on the first draw

    def _hash(self) -> int:
        return self.skb.get_hash(self.dev.hash_seed if self.dev is not None else 0)

    def _ifindex(self) -> int:
        return self.dev.ifindex if self.dev is not None else 0

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
    len = _read_only("len", lambda self: self.skb.len)
    hash = _read_only("hash", _hash)
    protocol = _read_only("protocol", lambda self: ETH_P_IP)
    ifindex = _read_only("ifindex", _ifindex)
    ingress_ifindex = _read_only("ingress_ifindex", lambda self: self.skb.iif)
    ipv4_src = _read_only("ipv4_src", lambda self: self.skb.src)
    ipv4_dst = _read_only("ipv4_dst", lambda self: self.skb.dst)
    sport = _read_only("sport", lambda self: self.skb.sport)
    dport = _read_only("dport", lambda self: self.skb.dport)
    ip_proto = _read_only("ip_proto", lambda self: self.skb.protocol)
    data = _read_only("data", lambda self: self.skb.payload)

    # -- helpers (kfuncs of the tcx context; a tc program may call each anywhere) --
    @kfunc("bpf_ktime_get_ns")
    def ktime_get_ns(self) -> int:
        """The simulated clock in ns (the EDT clock base)."""
        sched = self.sched
        return sched.now if sched is not None else 0

    @kfunc("bpf_get_prandom_u32")
    def random_u32(self) -> int:
        """A pseudo-random u32 from this hook's named stream of the run seed (deterministic)."""
        rng = self._rng
        if rng is None:
            dev = self.dev
            rng = dev.world.rng.stream(self._stream) if dev is not None else random.Random(0)
            self._rng = rng
        return rng.getrandbits(32)

    @kfunc("bpf_redirect")
    def redirect(self, ifindex: int, flags: int = 0) -> int:
        """Send the packet to ``ifindex`` (``BPF_F_INGRESS``: its ingress); TCX_REDIRECT."""
        return bpf_redirect(ifindex, flags)

    @kfunc("bpf_skb_set_tstamp")
    def set_tstamp(self, tstamp: int, tstamp_type: int = 1) -> int:
        """Set the delivery (EDT) time in ns; returns 0."""
        return bpf_skb_set_tstamp(self, tstamp, tstamp_type)
