"""Static routes with longest-prefix match, cached per destination.

Routes are kept per prefix length (one dict each), so adding a route is O(1)
and a lookup probes at most 33 lengths. A stub node (one connected device)
does not need a /32 per remote address: :meth:`RouteTable.add_reachable`
names the set of addresses reachable through its device once, shared by
every stub of the network, which keeps building routes near-linear.

>>> table = RouteTable()
>>> table.add(0, 0, "eth0")
>>> table.add(0x0A010000, 16, "eth1")
>>> table.lookup(0x0A010203), table.lookup(0x08080808)
('eth1', 'eth0')
"""

from __future__ import annotations

from collections.abc import Set
from typing import Generic, TypeVar

from qdisclab.net.addr import ip_str, prefix_mask

#: What a route leads to: a node's ``NetDevice`` (any value in a table built by hand).
Dev = TypeVar("Dev")


class Route(Generic[Dev]):
    """One prefix route: ``prefix/length`` out of ``dev``, via ``gateway`` (0: on link)."""

    __slots__ = ("dev", "gateway", "length", "prefix")

    def __init__(self, prefix: int, length: int, dev: Dev, gateway: int = 0) -> None:
        self.prefix = prefix
        self.length = length
        self.dev = dev
        self.gateway = gateway

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Route):
            return NotImplemented
        return (self.prefix, self.length, self.dev, self.gateway) == (
            other.prefix, other.length, other.dev, other.gateway,
        )  # fmt: skip

    def __hash__(self) -> int:
        return hash((self.prefix, self.length, self.gateway))

    def __repr__(self) -> str:
        return f"Route({self.prefix:#x}/{self.length}, {self.dev!r}, gateway={self.gateway:#x})"

    def __str__(self) -> str:
        via = f" via {ip_str(self.gateway)}" if self.gateway else ""
        name = getattr(self.dev, "name", self.dev)
        return f"{ip_str(self.prefix)}/{self.length}{via} dev {name}"


class RouteTable(Generic[Dev]):
    """Longest-prefix match; results cached per destination (cleared on any change)."""

    __slots__ = ("_by_length", "_lengths", "_reachable", "cache")

    def __init__(self) -> None:
        self._by_length: dict[int, dict[int, Route[Dev]]] = {}
        self._lengths: list[int] = []  # the lengths in use, longest first
        self._reachable: list[tuple[Set[int], Dev]] = []
        self.cache: dict[int, Dev] = {}

    def add(self, prefix: int, length: int, dev: Dev, gateway: int = 0) -> None:
        """Add (or replace) the route to ``prefix/length``."""
        prefix &= prefix_mask(length)
        routes = self._by_length.get(length)
        if routes is None:
            routes = self._by_length[length] = {}
            self._lengths = sorted(self._by_length, reverse=True)
        routes.pop(prefix, None)  # a replaced route moves to the end, as a re-added one
        routes[prefix] = Route(prefix, length, dev, gateway)
        self.cache.clear()

    def add_reachable(self, addresses: Set[int], dev: Dev) -> None:
        """Route every address in ``addresses`` through ``dev``, as /32 routes would.

        The set is shared, not copied: a later change to it changes the routes.
        """
        self._reachable.append((addresses, dev))
        self.cache.clear()

    def remove(self, prefix: int, length: int) -> None:
        routes = self._by_length.get(length)
        if routes is not None:
            routes.pop(prefix & prefix_mask(length), None)
        self.cache.clear()

    def lookup(self, dst: int) -> Dev | None:
        """The output device for ``dst``, or None (no route)."""
        cache = self.cache
        dev = cache.get(dst)
        if dev is None:
            dev = self._lookup_slow(dst)
            if dev is not None:
                cache[dst] = dev
        return dev

    def _lookup_slow(self, dst: int) -> Dev | None:
        host = self._by_length.get(32)
        if host and dst in host:
            return host[dst].dev
        for addresses, dev in self._reachable:  # host routes too, after the explicit ones
            if dst in addresses:
                return dev
        for length in self._lengths:
            route = self._by_length[length].get(dst & prefix_mask(length))
            if route is not None:
                return route.dev
        return None

    def routes(self) -> list[Route[Dev]]:
        """The prefix routes, longest prefix first (``add_reachable`` sets are not listed)."""
        return [r for length in self._lengths for r in self._by_length[length].values()]
