"""Per-device tcx state (``Tcx.of(dev)``), the per-world BPF object registry and pinned maps.

>>> from qdisclab.net import World
>>> w = World(); a, b = w.add_host("A"), w.add_host("B"); dev = w.connect(a, b).a
>>> tcx = Tcx.of(dev)
>>> link = tcx.ingress.link(tcx.load(lambda ctx: -1, name="tc1"))
>>> tcx.ingress.query()
HookInfo(count=1, revision=2, prog_ids=(1,), link_ids=(1,))
>>> tcx.uninstall(); link.ifindex
0
"""

from __future__ import annotations

import errno
from typing import TypeVar

from qdisclab.errors import KernelError
from qdisclab.mprog import BPF_TCX_EGRESS, BPF_TCX_INGRESS, BpfObjects, Program
from qdisclab.mprog.objects import ProgFunc
from qdisclab.ops.maps_base import BpfMap

from .hook import TcxHook
from .netdev import TcxDevice, TcxWorld

MapT = TypeVar("MapT", bound=BpfMap)

_OBJS_KEY = "bpf_objects"
_PINS_KEY = "bpf_pins"
_TCX_KEY = "tcx"


def bpf_objects(world: TcxWorld) -> BpfObjects:
    """The world's program/link registry (IDs are per world, never reused)."""
    objs = world.extensions.get(_OBJS_KEY)
    if not isinstance(objs, BpfObjects):
        objs = world.extensions[_OBJS_KEY] = BpfObjects()
    return objs


def _pins(world: TcxWorld) -> dict[str, BpfMap]:
    pins = world.extensions.get(_PINS_KEY)
    if not isinstance(pins, dict):
        pins = world.extensions[_PINS_KEY] = {}
    return pins


def pin_map(world: TcxWorld, name: str, bpf_map: MapT) -> MapT:
    """Pin ``bpf_map`` under ``name`` (bpffs) so other components find the same map."""
    pins = _pins(world)
    if name in pins and pins[name] is not bpf_map:
        raise KernelError(errno.EEXIST, f"a map is already pinned as {name!r}")
    pins[name] = bpf_map
    return bpf_map


def pinned_map(world: TcxWorld, name: str) -> BpfMap:
    """The map pinned as ``name`` (``bpf_obj_get``); ENOENT if none."""
    bpf_map = _pins(world).get(name)
    if bpf_map is None:
        raise KernelError(errno.ENOENT, f"no map pinned as {name!r}")
    return bpf_map


class Tcx:
    """The tcx ingress and egress hooks of one device, plus its clsact/ingress qdisc state.

    ``ingress``/``egress`` are :class:`~qdisclab.tcx.hook.TcxHook`: the
    Pythonic ``attach/detach/link/query`` and the low-level
    ``prog_attach/prog_detach/link_create/prog_query``.
    """

    __slots__ = ("classic_qdisc", "dev", "egress", "ingress", "objs")

    def __init__(self, dev: TcxDevice) -> None:
        self.dev = dev
        self.objs = bpf_objects(dev.world)
        self.ingress = TcxHook(self.objs, BPF_TCX_INGRESS, dev)
        self.egress = TcxHook(self.objs, BPF_TCX_EGRESS, dev)
        self.classic_qdisc: str | None = None  # "clsact", "ingress" or None

    @classmethod
    def of(cls, dev: TcxDevice) -> Tcx:
        """The device's tcx state, created on first use (an unused device has none)."""
        extensions = dev.world.extensions
        table = extensions.get(_TCX_KEY)
        if not isinstance(table, dict):
            table = extensions[_TCX_KEY] = {}
        tcx = table.get(dev.ifindex)
        if not isinstance(tcx, Tcx) or tcx.dev is not dev:
            tcx = table[dev.ifindex] = cls(dev)
        return tcx

    def hook(self, attach_type: int) -> TcxHook:
        if attach_type == BPF_TCX_INGRESS:
            return self.ingress
        if attach_type == BPF_TCX_EGRESS:
            return self.egress
        raise KernelError(errno.EINVAL, f"attach type {attach_type} is not a tcx hook")

    def load(
        self, func: ProgFunc, name: str | None = None, expected_attach_type: int = 0
    ) -> Program:
        """BPF_PROG_LOAD of a SCHED_CLS program ``func(ctx) -> TCX_*`` in this world."""
        return self.objs.program(func, name=name, expected_attach_type=expected_attach_type)

    # -- classic tc qdiscs sharing the entries (miniq_active) --
    def add_qdisc(self, kind: str = "clsact") -> None:
        """``tc qdisc add dev D clsact`` (both directions) or ``ingress`` (ingress only)."""
        if kind not in ("clsact", "ingress"):
            raise KernelError(errno.EINVAL, f"{kind!r} is not clsact or ingress")
        if self.classic_qdisc is not None:
            raise KernelError(errno.EEXIST, f"{self.dev.name} already has {self.classic_qdisc}")
        self.classic_qdisc = kind
        self.ingress.miniq_active = True
        if kind == "clsact":
            self.egress.miniq_active = True

    def del_qdisc(self) -> None:
        """Delete the clsact/ingress qdisc: its filters go, entries may be freed."""
        if self.classic_qdisc is None:
            raise KernelError(errno.ENOENT, f"{self.dev.name} has no clsact/ingress qdisc")
        for hook in (self.ingress, self.egress):
            if hook.miniq_active:
                hook.del_filter()
                hook.miniq_active = False
        self.classic_qdisc = None

    # -- device unregister --
    def uninstall(self) -> None:
        """``dev_tcx_uninstall``: empty both hooks; links go defunct (ifindex 0), no revision bump."""
        for hook in (self.ingress, self.egress):
            hook.uninstall()

    def stats(self) -> dict[str, dict[str, int]]:
        return {"ingress": self.ingress.stats.as_dict(), "egress": self.egress.stats.as_dict()}


def tcx_hook(world: TcxWorld, ifindex: int, attach_type: int) -> TcxHook:
    """Resolve ``(target_ifindex, attach_type)`` as the syscall does: EINVAL, ENODEV."""
    if attach_type not in (BPF_TCX_INGRESS, BPF_TCX_EGRESS):
        raise KernelError(errno.EINVAL, f"attach type {attach_type} is not a tcx hook")
    dev = world.devices.get(ifindex)
    if dev is None:
        raise KernelError(errno.ENODEV, f"no device with ifindex {ifindex}")
    return Tcx.of(dev).hook(attach_type)
