"""Hosts and routers: addresses, routes, local delivery and forwarding.

A node owns devices; ``output`` routes a locally generated packet,
``receive`` takes a packet from a device's ingress pipeline and either
delivers it to the protocol handler registered for its IP protocol (UDP,
TCP, ...) or, on a router, decrements the TTL and forwards it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol

from qdisclab.net.route import RouteTable
from qdisclab.sched.constants import NET_XMIT_DROP
from qdisclab.skb import DROP_NO_ROUTE, DROP_NO_SOCKET, DROP_TTL, SkBuff, skb_drop

if TYPE_CHECKING:
    from qdisclab.net.device import NetDevice
    from qdisclab.net.world import World

DROP_NOT_FORWARDING = "not_forwarding"


def port_key(protocol: int, port: int) -> int:
    """The key of ``Node.port_rx`` for a destination ``port`` of IP ``protocol``."""
    return port << 8 | protocol


class ProtocolHandler(Protocol):
    """A transport (UDP, TCP, ...) registered on a node for one IP protocol number."""

    def receive(self, skb: SkBuff) -> None: ...


class Node:
    """A host (``forwarding=False``) or a router (``forwarding=True``)."""

    __slots__ = (
        "addresses",
        "devices",
        "forwarding",
        "name",
        "port_rx",
        "protocols",
        "route_cache",
        "routes",
        "sched",
        "world",
    )

    def __init__(self, world: World, name: str, forwarding: bool) -> None:
        self.world = world
        self.sched = world.sched
        self.name = name
        self.forwarding = forwarding
        self.devices: dict[str, NetDevice] = {}
        self.addresses: set[int] = set()
        self.routes: RouteTable[NetDevice] = RouteTable()
        self.route_cache = self.routes.cache  # same dict, cleared in place on route changes
        self.protocols: dict[int, ProtocolHandler] = {}  # IP protocol number -> its handler
        # ``port_key(protocol, port)`` -> the receive of the socket bound there, for a
        # transport that demultiplexes by destination port alone (UDP): local delivery
        # then finds the socket with one lookup instead of a call through the handler.
        self.port_rx: dict[int, Callable[[SkBuff], None]] = {}

    @property
    def addr(self) -> int:
        """The node's first address (the one sources use by default)."""
        return min(self.addresses) if self.addresses else 0

    def register_protocol(self, protocol: int, handler: ProtocolHandler) -> None:
        """Deliver local packets of ``protocol`` to ``handler.receive(skb)``."""
        self.protocols[protocol] = handler
        # The ports the previous handler bound are its own, not the new one's.
        for key in [key for key in self.port_rx if key & 0xFF == protocol]:
            del self.port_rx[key]

    def bind_port(self, protocol: int, port: int, receive: Callable[[SkBuff], None]) -> None:
        """Deliver local packets of ``protocol`` to ``port`` straight to ``receive(skb)``.

        For the handler registered for ``protocol``, on behalf of a socket it would
        hand those packets to anyway; registering another handler forgets the ports.
        """
        self.port_rx[port_key(protocol, port)] = receive

    def output(self, skb: SkBuff) -> int:
        """Send a locally generated packet (``ip_output``)."""
        # The route cache nearly always answers: a subscript there costs less than a call.
        try:
            dev = self.route_cache[skb.dst]
        except KeyError:
            found = self.routes.lookup(skb.dst)  # fills the cache
            if found is None:
                skb_drop(skb, DROP_NO_ROUTE, self.sched.now)
                return NET_XMIT_DROP
            dev = found
        return dev.xmit(skb)

    def receive(self, skb: SkBuff, dev: NetDevice) -> None:
        """A packet from a device's ingress (``ip_rcv``): deliver locally or forward."""
        if skb.dst in self.addresses:
            skb.len -= skb.mac_len  # skb_pull_mac, inlined: the stack sees the packet
            skb.mac_len = 0  # without its link-layer header
            rx = self.port_rx.get(skb.dport << 8 | skb.protocol)  # port_key, inlined
            if rx is not None:
                rx(skb)
            else:
                self.deliver_by_protocol(skb)
            return
        if not self.forwarding:
            skb_drop(skb, DROP_NOT_FORWARDING, self.sched.now)
            return
        ttl = skb.ttl - 1
        if ttl <= 0:
            skb_drop(skb, DROP_TTL, self.sched.now)
            return
        skb.ttl = ttl
        try:
            out = self.route_cache[skb.dst]
        except KeyError:
            found = self.routes.lookup(skb.dst)
            if found is None:
                skb_drop(skb, DROP_NO_ROUTE, self.sched.now)
                return
            out = found
        # Forwarded as a frame: pulling this device's header and pushing the next one's
        # cancel out unless the two differ (so len is what pull-then-push would give).
        if skb.mac_len != out.hard_header_len:
            skb.len += out.hard_header_len - skb.mac_len
            skb.mac_len = out.hard_header_len
        out.xmit(skb)

    def deliver_by_protocol(self, skb: SkBuff) -> None:
        """Local delivery of a packet no port binding took: to its protocol's handler.

        ``skb`` is this node's, its link-layer header already pulled.
        """
        try:
            handler = self.protocols[skb.protocol]
        except KeyError:
            skb_drop(skb, DROP_NO_SOCKET, self.sched.now)
            return
        handler.receive(skb)

    def __repr__(self) -> str:
        kind = "router" if self.forwarding else "host"
        return f"<{kind} {self.name}>"
