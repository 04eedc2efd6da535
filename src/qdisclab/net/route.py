"""Static routes with longest-prefix match, cached per destination.

>>> table = RouteTable()
>>> table.add(0, 0, "eth0")
>>> table.add(0x0A010000, 16, "eth1")
>>> table.lookup(0x0A010203), table.lookup(0x08080808)
('eth1', 'eth0')
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from qdisclab.net.addr import ip_str, prefix_mask


@dataclass(frozen=True)
class Route:
    prefix: int
    length: int
    dev: Any
    gateway: int = 0

    def __str__(self) -> str:
        via = f" via {ip_str(self.gateway)}" if self.gateway else ""
        name = getattr(self.dev, "name", self.dev)
        return f"{ip_str(self.prefix)}/{self.length}{via} dev {name}"


class RouteTable:
    """Longest-prefix match; results cached per destination (cleared on any change)."""

    __slots__ = ("_routes", "cache")

    def __init__(self) -> None:
        self._routes: list[Route] = []
        self.cache: dict[int, Any] = {}

    def add(self, prefix: int, length: int, dev: Any, gateway: int = 0) -> None:
        prefix &= prefix_mask(length)
        self._routes = [r for r in self._routes if (r.prefix, r.length) != (prefix, length)]
        self._routes.append(Route(prefix, length, dev, gateway))
        self._routes.sort(key=lambda r: -r.length)
        self.cache.clear()

    def remove(self, prefix: int, length: int) -> None:
        self._routes = [r for r in self._routes if (r.prefix, r.length) != (prefix, length)]
        self.cache.clear()

    def lookup(self, dst: int) -> Any:
        """The output device for ``dst``, or None (no route)."""
        cache = self.cache
        dev = cache.get(dst)
        if dev is None:
            dev = self._lookup_slow(dst)
            if dev is not None:
                cache[dst] = dev
        return dev

    def _lookup_slow(self, dst: int) -> Any:
        for route in self._routes:  # sorted longest prefix first
            if dst & prefix_mask(route.length) == route.prefix:
                return route.dev
        return None

    def routes(self) -> list[Route]:
        return list(self._routes)
