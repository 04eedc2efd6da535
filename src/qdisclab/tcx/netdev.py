"""What the tcx layer needs from a device and its world, stated as Protocols.

Devices and worlds live in ``qdisclab.net``, a layer above this one: tcx
names only the members it uses, and ``net.NetDevice`` / ``net.World``
provide them without inheriting from anything here. The device calls
``TcxHook.handle`` per packet through its ``ingress_hook`` / ``egress_hook``
slot (a ``HookFn``).

>>> from qdisclab.net import World
>>> from qdisclab.tcx import Tcx
>>> w = World(); dev = w.connect(w.add_host("A"), w.add_host("B")).a
>>> Tcx.of(dev).dev is dev  # a NetDevice is a TcxDevice
True
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping
from typing import Protocol

from qdisclab.sim.interface import EventScheduler
from qdisclab.skb import SkBuff

HookFn = Callable[[SkBuff], int]  # skb -> HOOK_PASS / HOOK_DROP / HOOK_STOLEN


class RngSource(Protocol):
    """The world's named random streams (``qdisclab.sim.rng.RngStreams``)."""

    def stream(self, name: str) -> random.Random: ...


class Named(Protocol):
    @property
    def name(self) -> str: ...


class TcxWorld(Protocol):
    """A world: its devices by ifindex, registries of the layers above, fault policy."""

    @property
    def devices(self) -> Mapping[int, TcxDevice]: ...

    @property
    def extensions(self) -> dict[str, object]: ...

    @property
    def policy(self) -> str: ...

    @property
    def faults(self) -> list[tuple[str, str, str]]: ...

    @property
    def rng(self) -> RngSource: ...


class TcxDevice(Protocol):
    """A device with tcx hooks: where packets go on PASS and REDIRECT."""

    ingress_hook: HookFn | None
    egress_hook: HookFn | None

    @property
    def name(self) -> str: ...

    @property
    def ifindex(self) -> int: ...

    @property
    def hash_seed(self) -> int: ...

    @property
    def sched(self) -> EventScheduler: ...

    @property
    def world(self) -> TcxWorld: ...

    @property
    def node(self) -> Named: ...

    @property
    def active(self) -> bool: ...

    def deliver(self, skb: SkBuff) -> None: ...

    def xmit(self, skb: SkBuff) -> int: ...
