"""``World``: one simulated network and everything it needs to run.

Holds the scheduler, the RNG streams, the packet ledger, nodes, devices and
links, and checks packet conservation: every packet ever sent is delivered,
dropped (by reason) or still held somewhere.

>>> w = World(seed=1)
>>> a, b = w.add_host("A"), w.add_host("B")
>>> link = w.connect(a, b, rate="10mbit", delay="1ms")
>>> w.build_routes()
>>> w.check_conservation()["in_flight"]
0
"""

from __future__ import annotations

from collections import deque
from functools import partial
from typing import Any, Protocol

from qdisclab.errors import ConservationError, UserError
from qdisclab.net.channel import Channel
from qdisclab.net.device import DEFAULT_TXQUEUELEN, ETH_DATA_LEN, DeviceScheduler, NetDevice
from qdisclab.net.memory import DEFAULT_QUEUE_MEMORY, QueueMemory
from qdisclab.net.node import Node
from qdisclab.ops import POLICIES, POLICY_STRICT
from qdisclab.sim import RngStreams, Scheduler
from qdisclab.skb import FlowBooks, Ledger
from qdisclab.skb.ledger import FlowObserver
from qdisclab.units import parse_rate, parse_time


class PacketHolder(Protocol):
    """Somewhere else packets wait (a veth backlog, a live port): counted as in flight."""

    def held_packets(self) -> int: ...


class Link:
    """A point-to-point link: two devices and one channel per direction."""

    __slots__ = ("a", "b", "name")

    def __init__(self, name: str, a: NetDevice, b: NetDevice) -> None:
        self.name = name
        self.a = a
        self.b = b


class World:
    """A simulated network. ``policy`` is the ownership policy for every extension."""

    def __init__(
        self, seed: int = 1, policy: str = POLICY_STRICT, sched: DeviceScheduler | None = None
    ) -> None:
        if policy not in POLICIES:
            raise UserError(f"unknown ownership policy {policy!r} (allowed: {', '.join(POLICIES)})")
        self.seed = seed
        self.policy = policy
        self.sched: DeviceScheduler = sched if sched is not None else Scheduler()
        self.rng = RngStreams(seed)
        self.hash_seed = self.rng.derive_int("flow-hash")
        self.ledger = Ledger()
        self.queue_memory = QueueMemory(DEFAULT_QUEUE_MEMORY)
        self.nodes: dict[str, Node] = {}
        self.links: list[Link] = []
        self.devices: dict[int, NetDevice] = {}
        self.queue_memory.devices = self.devices.values()  # a live view
        self.flows: dict[str, FlowBooks] = {}
        self.packet_holders: list[
            PacketHolder
        ] = []  # extra places packets wait (backlogs, sockets)
        self.faults: list[tuple[str, str, str]] = []  # contained extension faults
        self._next_ifindex = 1
        self._next_subnet = 0
        self.extensions: dict[str, Any] = {}  # per-world registries of higher layers

    # -- building ---------------------------------------------------------
    def add_host(self, name: str) -> Node:
        return self._add_node(name, forwarding=False)

    def add_router(self, name: str) -> Node:
        return self._add_node(name, forwarding=True)

    def _add_node(self, name: str, forwarding: bool) -> Node:
        if name in self.nodes:
            raise UserError(f"node '{name}' is defined twice")
        node = Node(self, name, forwarding)
        self.nodes[name] = node
        return node

    def node(self, name: str) -> Node:
        try:
            return self.nodes[name]
        except KeyError:
            known = ", ".join(self.nodes) or "none"
            raise UserError(f"unknown node '{name}' (defined: {known})") from None

    def new_device(self, node: Node, name: str | None = None, mtu: int = ETH_DATA_LEN,
                   tx_queue_len: int = DEFAULT_TXQUEUELEN,
                   device_class: type[NetDevice] = NetDevice) -> NetDevice:  # fmt: skip
        ifindex = self._next_ifindex
        self._next_ifindex += 1
        name = name or f"eth{len(node.devices)}"
        if name in node.devices:
            raise UserError(f"node '{node.name}' already has a device '{name}'")
        dev = device_class(self, node, name, ifindex, mtu=mtu, tx_queue_len=tx_queue_len)
        node.devices[name] = dev
        self.devices[ifindex] = dev
        return dev

    def connect(
        self,
        a: Node,
        b: Node,
        rate: str | int = "1gbit",
        delay: str | int = "0ms",
        *,
        jitter: str | int = 0,
        loss: float = 0.0,
        qdisc: str = "pfifo",
        qdisc_a: str | None = None,
        qdisc_b: str | None = None,
        mtu: int = ETH_DATA_LEN,
        tx_queue_len: int = DEFAULT_TXQUEUELEN,
        rate_b: str | int | None = None,
        name: str | None = None,
        device_class: type[NetDevice] = NetDevice,
        dev_names: tuple[str, str] | None = None,
    ) -> Link:
        """Join two nodes with a point-to-point link, addressed from 10.<n>.<m>.0/24.

        ``rate``/``delay`` are tc units (strings) or ints (bit/s, ns).
        ``qdisc_a`` is the root qdisc of ``a``'s device (egress towards ``b``).
        ``device_class`` (a ``NetDevice`` subclass overriding ``xmit``) and
        ``dev_names`` let virtual pairs (netkit, veth) reuse the addressing.
        """
        from qdisclab.sched import create_qdisc

        rate_ab = parse_rate(rate) if isinstance(rate, str) else int(rate)
        rate_ba = (
            rate_ab
            if rate_b is None
            else (parse_rate(rate_b) if isinstance(rate_b, str) else int(rate_b))
        )
        delay_ns = parse_time(delay) if isinstance(delay, str) else int(delay)
        jitter_ns = parse_time(jitter) if isinstance(jitter, str) else int(jitter)
        link_name = name or f"{a.name}-{b.name}"
        name_a, name_b = dev_names if dev_names is not None else (None, None)
        dev_a = self.new_device(a, name_a, mtu, tx_queue_len, device_class)
        dev_b = self.new_device(b, name_b, mtu, tx_queue_len, device_class)
        # Each direction's loss and jitter stream, made when first drawn from (most
        # links draw nothing, and seeding a stream is the dearest part of a link).
        stream = self.rng.stream
        rng_ab = partial(stream, f"link:{link_name}:ab")
        rng_ba = partial(stream, f"link:{link_name}:ba")
        dev_a.attach_peer(dev_b, Channel(rate_ab, delay_ns, jitter_ns, loss, rng_stream=rng_ab))
        dev_b.attach_peer(dev_a, Channel(rate_ba, delay_ns, jitter_ns, loss, rng_stream=rng_ba))
        subnet = self._next_subnet
        self._next_subnet += 1
        base = (10 << 24) | ((subnet // 256) << 16) | ((subnet % 256) << 8)
        for dev, host in ((dev_a, 1), (dev_b, 2)):
            dev.addr = base | host
            dev.prefixlen = 24
            dev.node.addresses.add(dev.addr)
            dev.node.routes.add(base, 24, dev)
        dev_a.set_qdisc(create_qdisc(qdisc_a or qdisc, dev_a))
        dev_b.set_qdisc(create_qdisc(qdisc_b or qdisc, dev_b))
        link = Link(link_name, dev_a, dev_b)
        self.links.append(link)
        return link

    def build_routes(self) -> None:
        """Static shortest-path (hop count) routes from every node to every address.

        A stub (a node with one connected device) reaches every address of its
        component through that device: one shared set per component instead of a
        /32 per address. Only the other nodes search the graph, so a star of N
        hosts builds in O(N) rather than O(N^3).
        """
        components = self._components()
        for src in self.nodes.values():
            connected = [dev for dev in src.devices.values() if dev.peer is not None]
            if len(connected) == 1:
                src.routes.add_reachable(components[src.name], connected[0])
                continue
            for name, dev in self._first_hops(src).items():
                for addr in self.nodes[name].addresses:
                    if dev.peer is not None and addr == dev.peer.addr:
                        continue  # covered by the connected /24
                    src.routes.add(addr, 32, dev)

    def _first_hops(self, src: Node) -> dict[str, NetDevice]:
        """Node name -> ``src``'s device on a shortest path to it (breadth-first)."""
        first_hop: dict[str, NetDevice] = {}
        seen = {src.name}
        frontier: deque[tuple[Node, NetDevice | None]] = deque([(src, None)])
        while frontier:
            node, via = frontier.popleft()
            for dev in node.devices.values():
                if dev.peer is None:
                    continue
                nxt = dev.peer.node
                if nxt.name in seen:
                    continue
                seen.add(nxt.name)
                out = via if via is not None else dev
                first_hop[nxt.name] = out
                frontier.append((nxt, out))
        return first_hop

    def _components(self) -> dict[str, frozenset[int]]:
        """Node name -> every address of the nodes connected to it (itself included)."""
        out: dict[str, frozenset[int]] = {}
        for start in self.nodes.values():
            if start.name in out:
                continue
            members = [start]
            seen = {start.name}
            for node in members:  # grows while iterated: a breadth-first walk
                for dev in node.devices.values():
                    if dev.peer is not None and dev.peer.node.name not in seen:
                        seen.add(dev.peer.node.name)
                        members.append(dev.peer.node)
            addresses = frozenset(a for node in members for a in node.addresses)
            for node in members:
                out[node.name] = addresses
        return out

    def flow_books(self, name: str, observer: FlowObserver | None = None) -> FlowBooks:
        """The accounting record for flow ``name`` (created once)."""
        books = self.flows.get(name)
        if books is None:
            books = FlowBooks(name, self.ledger, observer)
            self.flows[name] = books
        return books

    # -- running ------------------------------------------------------------
    @property
    def now(self) -> int:
        return self.sched.now

    def run(self, until: int | None = None) -> None:
        """Run the simulation until ``until`` ns (or until nothing is left to do)."""
        self.sched.run(until)

    def in_flight(self) -> int:
        """Packets held anywhere right now, counted independently of the ledger."""
        held = sum(dev.held_packets() for dev in self.devices.values())
        held += sum(holder.held_packets() for holder in self.packet_holders)
        return held

    def check_conservation(self) -> dict[str, Any]:
        """Assert sent = delivered + dropped + in flight; raise ``ConservationError`` if not."""
        ledger = self.ledger
        in_flight = self.in_flight()
        dropped = ledger.dropped_total
        books = {
            "sent": ledger.sent,
            "delivered": ledger.delivered,
            "dropped": dict(sorted(ledger.dropped.items())),
            "in_flight": in_flight,
        }
        if ledger.sent != ledger.delivered + dropped + in_flight:
            raise ConservationError(
                f"packet conservation violated: sent {ledger.sent} != delivered {ledger.delivered}"
                f" + dropped {dropped} + in flight {in_flight} (a bug: packets were lost"
                " without being accounted for)"
            )
        return books

    def tc_stats(self) -> str:
        """``tc -s qdisc show`` for every device of every node."""
        blocks = []
        for node in self.nodes.values():
            for dev in node.devices.values():
                for q in (dev.qdisc, dev.ingress_qdisc):
                    if q is not None:
                        blocks.append(f"# {node.name}/{dev.name}\n{q.stats_text()}")
        return "\n".join(blocks)
