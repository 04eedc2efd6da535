"""netkit pairs (``drivers/net/netkit.c``): devices whose transmit routine runs BPF programs.

The primary (normally the host side) manages programs for itself
(BPF_NETKIT_PRIMARY, run when the primary transmits) and for its peer
(BPF_NETKIT_PEER, run when the peer transmits); the peer manages nothing
(EACCES). Each device's bundle is persistent: the revision keeps growing
across empty periods, while a query of an empty hook reports revision 1.

Transmit (``netkit_xmit``, spec D.4), per packet: tcx egress of the device
(if any) → no peer / peer down: drop → scrub (always ``skb_iif``; across
nodes, i.e. network namespaces, also ``tstamp`` and, with SCRUB_DEFAULT,
``mark`` and ``priority``) → ``skb->dev = peer`` → programs in order, the
first result other than NETKIT_NEXT is the verdict; **the policy is used only
when no program is attached**, and NEXT counts as PASS → PASS: the packet
enters the peer's ingress pipeline *at once* (this model follows the issue:
no backlog queue; the kernel goes through ``__netif_rx``), REDIRECT: as
``bpf_redirect`` asked, DROP or any other value: dropped (``tx_dropped``).
No qdisc, no serialisation; an optional fixed ``delay`` models a slower path.

L3 mode (default) has no MAC addresses and no neighbour resolution; L2 mode
has random MACs. ARP itself is not modelled (programs always see IP packets).

>>> from qdisclab.net import World
>>> w = World(); a, b = w.add_host("H"), w.add_host("C")
>>> pair = create_pair(w, a, b, name="nk")
>>> pair.primary.name, pair.peer.name, pair.primary_hook.query().revision
('nk1', 'nk0', 1)
"""

from __future__ import annotations

import errno
from collections.abc import Mapping
from typing import ClassVar

from qdisclab.errors import KernelError
from qdisclab.mprog import (
    BPF_LINK_TYPE_NETKIT,
    BPF_NETKIT_PEER,
    BPF_NETKIT_PRIMARY,
    BpfObjects,
    Hook,
    Link,
    Program,
)
from qdisclab.mprog.objects import ProgFunc
from qdisclab.net import NetDevice, Node, World
from qdisclab.skb import DROP_DEVICE_DOWN, SkBuff, skb_drop
from qdisclab.tcx import SkbContext, bpf_objects, skb_do_redirect

NETKIT_NEXT = -1
NETKIT_PASS = 0
NETKIT_DROP = 2
NETKIT_REDIRECT = 7
NETKIT_L2 = 0
NETKIT_L3 = 1
NETKIT_SCRUB_NONE = 0
NETKIT_SCRUB_DEFAULT = 1
DROP_NETKIT = "netkit_drop"  # a program or the blackhole policy dropped it

_POLICIES: dict[str | int, int] = {"pass": NETKIT_PASS, "blackhole": NETKIT_DROP, "drop": NETKIT_DROP,
             NETKIT_PASS: NETKIT_PASS, NETKIT_DROP: NETKIT_DROP}  # fmt: skip
_MODES: dict[str | int, int] = {
    "l3": NETKIT_L3,
    "l2": NETKIT_L2,
    NETKIT_L3: NETKIT_L3,
    NETKIT_L2: NETKIT_L2,
}
_SCRUBS: dict[str | int, int] = {"default": NETKIT_SCRUB_DEFAULT, "none": NETKIT_SCRUB_NONE,
           NETKIT_SCRUB_DEFAULT: NETKIT_SCRUB_DEFAULT, NETKIT_SCRUB_NONE: NETKIT_SCRUB_NONE}  # fmt: skip


def _pick(table: Mapping[str | int, int], value: object, what: str) -> int:
    try:
        return table[value]  # type: ignore[index]  # a wrong type is the EINVAL below
    except (KeyError, TypeError):
        raise KernelError(errno.EINVAL, f"netkit: unsupported {what} {value!r}") from None


class NetkitLink(Link):
    """A netkit link (BPF_LINK_TYPE_NETKIT); ``ifindex`` is the primary's, 0 once deleted."""

    __slots__ = ()

    link_type: ClassVar[int] = BPF_LINK_TYPE_NETKIT

    @property
    def ifindex(self) -> int:
        hook = self.hook
        return hook.target.ifindex if isinstance(hook, NetkitHook) else 0

    def info(self) -> dict[str, int]:
        return {"type": self.link_type, "id": self.id, "prog_id": self.prog.id,
                "ifindex": self.ifindex, "attach_type": self.attach_type}  # fmt: skip

    def fdinfo(self) -> str:
        where = "primary" if self.attach_type == BPF_NETKIT_PRIMARY else "peer"
        return f"ifindex:\t{self.ifindex}\nattach_type:\t{where}\n"


class NetkitHook(Hook):
    """One device's program array; ``target`` is the primary device links report."""

    __slots__ = ("target",)

    def __init__(self, objs: BpfObjects, attach_type: int, target: NetkitDevice) -> None:
        super().__init__(objs, attach_type, persistent_entry=True, link_class=NetkitLink)
        self.target = target


class NetkitPriv:
    """``struct netkit``: the per-device private state."""

    __slots__ = ("ctx", "deleted", "hook", "mac", "mode", "policy", "primary", "scrub",
                 "tx_dropped")  # fmt: skip

    def __init__(self, primary: bool, policy: int, scrub: int, mode: int, hook: NetkitHook,
                 ctx: SkbContext, mac: int) -> None:  # fmt: skip
        self.primary = primary
        self.policy = policy
        self.scrub = scrub
        self.mode = mode
        self.hook = hook
        self.ctx = ctx
        self.mac = mac
        self.deleted = False
        self.tx_dropped = 0


class NetkitDevice(NetDevice):
    """A netkit device; ``nk`` holds its private state. Transmit as the module doc says."""

    HARD_HEADER_LEN = 0  # its xmit counts no link-layer header in skb.len
    WIRE_TX = False  # its xmit hands packets over without the wire's transmit paths

    __slots__ = ("nk", "nk_delay")

    nk: NetkitPriv
    nk_delay: int  # ns of the hand-over (0: at once)
    peer: NetkitDevice | None

    def xmit(self, skb: SkBuff) -> int:
        early = self.egress_prologue(skb)  # tcx egress runs before the driver
        if early is not None:
            return early
        now = self.sched.now
        nk = self.nk
        peer = self.peer
        if peer is None or not peer.active or nk.deleted:
            nk.tx_dropped += 1
            skb_drop(skb, DROP_DEVICE_DOWN, now)
            return 1
        skb.iif = 0  # netkit_prep_forward: scrub as for a forward
        if self.node is not peer.node:  # another network namespace
            skb.tstamp = 0
            if nk.scrub:
                skb.mark = 0
                skb.priority = 0
        skb.dev = peer
        progs = nk.hook.progs
        ret: object
        if progs:
            ctx = nk.ctx
            ctx.skb = skb
            ret = -1
            for func in progs:
                ret = func(ctx)
                if ret != -1:
                    break
        else:
            ret = nk.policy
        if ret == 0 or ret == -1:
            self.tx_packets += 1
            self.tx_bytes += skb.len
            delay = self.nk_delay
            if delay:
                self.channel.send(now + delay, skb)  # its receive takes it off the line
            else:
                peer.rx_direct_packets += 1
                peer.rx_direct_bytes += skb.len
                peer.deliver(skb)
            return 0
        if ret == 7:
            self.tx_packets += 1
            self.tx_bytes += skb.len
            skb_do_redirect(skb, self.world.devices, now)
            return 0
        nk.tx_dropped += 1
        skb_drop(skb, DROP_NETKIT, now)
        return 1

    def set_mac(self, mac: int) -> None:
        """``ndo_set_mac_address``: L2 only, EOPNOTSUPP in L3."""
        if self.nk.mode == NETKIT_L3:
            raise KernelError(errno.EOPNOTSUPP, f"{self.name}: no MAC address in L3 mode")
        self.nk.mac = mac


class NetkitPair:
    """A created pair: ``primary`` (on node ``a``), ``peer`` (on node ``b``)."""

    __slots__ = ("peer", "primary", "world")

    def __init__(self, world: World, primary: NetkitDevice, peer: NetkitDevice) -> None:
        self.world = world
        self.primary = primary
        self.peer = peer

    @property
    def primary_hook(self) -> NetkitHook:
        """Programs run when the primary transmits (towards the peer)."""
        return netkit_hook(self.world, self.primary.ifindex, BPF_NETKIT_PRIMARY)

    @property
    def peer_hook(self) -> NetkitHook:
        """Programs run when the peer transmits (towards the primary)."""
        return netkit_hook(self.world, self.primary.ifindex, BPF_NETKIT_PEER)

    def load(self, func: ProgFunc, name: str | None = None) -> Program:
        return bpf_objects(self.world).program(func, name=name)

    def change(self, dev: NetkitDevice | None = None, **attrs: object) -> None:
        """changelink: only ``policy``/``peer_policy``, only through the primary (else EACCES)."""
        dev = self.primary if dev is None else dev
        if not dev.nk.primary:
            raise KernelError(errno.EACCES, "netkit settings change only through the primary")
        for key, value in attrs.items():
            if key == "policy":
                self.primary.nk.policy = _pick(_POLICIES, value, "policy")
            elif key == "peer_policy":
                self.peer.nk.policy = _pick(_POLICIES, value, "peer policy")
            elif key in ("mode", "scrub", "peer_scrub", "headroom", "tailroom", "peer_info"):
                raise KernelError(errno.EACCES, f"netkit {key} cannot be changed")
            else:
                raise KernelError(errno.EINVAL, f"unknown netkit attribute {key!r}")

    def delete(self) -> None:
        """Deleting either device deletes both: links go defunct (ifindex 0), devices down."""
        from qdisclab.tcx import Tcx

        for dev in (self.primary, self.peer):
            dev.nk.hook.uninstall()
            Tcx.of(dev).uninstall()
            dev.nk.deleted = True
            dev.set_down()


def create_pair(
    world: World,
    a: Node,
    b: Node,
    *,
    name: str = "nk",
    mode: str | int = "l3",
    policy: str | int = "pass",
    peer_policy: str | int = "pass",
    scrub: str | int = "default",
    peer_scrub: str | int = "default",
    delay: int = 0,
) -> NetkitPair:
    """Create a netkit pair: primary ``<name>1`` on node ``a``, peer ``<name>0`` on ``b``.

    Addressed like :meth:`World.connect` (a /24, primary .1, peer .2).
    ``policy``/``peer_policy``: "pass" or "blackhole" (NETKIT_DROP).
    ``delay`` (ns): optional fixed latency of the hand-over, 0 by default.
    """
    mode_v = _pick(_MODES, mode, "mode")
    pol, peer_pol = _pick(_POLICIES, policy, "policy"), _pick(_POLICIES, peer_policy, "policy")
    scr, peer_scr = _pick(_SCRUBS, scrub, "scrub"), _pick(_SCRUBS, peer_scrub, "scrub")
    link = world.connect(a, b, "100gbit", 0, qdisc="pfifo", device_class=NetkitDevice,
                         dev_names=(f"{name}1", f"{name}0"), name=name)  # fmt: skip
    primary, peer = link.a, link.b
    assert isinstance(primary, NetkitDevice) and isinstance(peer, NetkitDevice)
    objs = bpf_objects(world)
    rng = world.rng.stream(f"netkit:{name}:mac")
    for dev, is_primary, pl, sc, at in ((primary, True, pol, scr, BPF_NETKIT_PRIMARY),
                                        (peer, False, peer_pol, peer_scr, BPF_NETKIT_PEER)):  # fmt: skip
        mac = 0 if mode_v == NETKIT_L3 else (rng.getrandbits(46) << 2) | 0x02  # local unicast
        hook = NetkitHook(objs, at, primary)
        dev.nk = NetkitPriv(is_primary, pl, sc, mode_v, hook, SkbContext(dev.peer), mac)
        dev.nk_delay = int(delay)
    return NetkitPair(world, primary, peer)


def netkit_hook(world: World, ifindex: int, attach_type: int) -> NetkitHook:
    """``netkit_dev_fetch``: EINVAL (type), ENODEV, ENXIO (not netkit), EACCES (the peer)."""
    if attach_type not in (BPF_NETKIT_PRIMARY, BPF_NETKIT_PEER):
        raise KernelError(errno.EINVAL, f"attach type {attach_type} is not a netkit type")
    dev = world.devices.get(ifindex)
    if dev is None or (isinstance(dev, NetkitDevice) and dev.nk.deleted):
        raise KernelError(errno.ENODEV, f"no device with ifindex {ifindex}")
    if not isinstance(dev, NetkitDevice):
        raise KernelError(errno.ENXIO, f"{dev.name} is not a netkit device")
    if not dev.nk.primary:
        raise KernelError(errno.EACCES, f"{dev.name} is a netkit peer: use the primary")
    if attach_type == BPF_NETKIT_PEER:
        peer = dev.peer
        if peer is None:
            raise KernelError(errno.ENODEV, f"{dev.name} has no peer")
        return peer.nk.hook
    return dev.nk.hook
