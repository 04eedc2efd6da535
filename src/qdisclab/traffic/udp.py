"""UDP: a per-node demultiplexer, sockets that send, and sinks that count.

>>> from qdisclab.net import World
>>> w = World(seed=1); a = w.add_host("A"); b = w.add_host("B")
>>> _ = w.connect(a, b, "10mbit", "1ms"); w.build_routes()
>>> sink = UdpSink(b, 9000)
>>> sock = UdpSocket(a, 5000, "flow1")
>>> _ = sock.sendto(b.addr, 9000, 1000)
>>> w.run(); sink.packets
1
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

from qdisclab.skb import DROP_NO_SOCKET, FREED, IPPROTO_UDP, SkBuff, skb_drop
from qdisclab.skb.flowmetrics import FlowMetrics

if TYPE_CHECKING:
    from qdisclab.net.device import DeviceScheduler, NetDevice
    from qdisclab.net.node import Node
    from qdisclab.net.world import World
    from qdisclab.skb import FlowBooks


class DatagramReceiver(Protocol):
    """What a UDP port is bound to: a sink, an echo server, a probe awaiting replies."""

    def receive(self, skb: SkBuff) -> None: ...


class UdpStack:
    """Port -> receiver table of one node (registered as its IPPROTO_UDP handler)."""

    __slots__ = ("node", "ports")

    def __init__(self, node: Node) -> None:
        self.node = node
        self.ports: dict[int, DatagramReceiver] = {}
        node.register_protocol(IPPROTO_UDP, self)

    @classmethod
    def of(cls, node: Node) -> UdpStack:
        """The node's UDP stack (registered on first use)."""
        stack = node.protocols.get(IPPROTO_UDP)
        return stack if isinstance(stack, UdpStack) else cls(node)

    def bind(self, port: int, receiver: DatagramReceiver) -> None:
        from qdisclab.errors import UserError

        if port in self.ports:
            raise UserError(f"{self.node.name}: UDP port {port} is already bound")
        self.ports[port] = receiver
        if self.node.protocols.get(IPPROTO_UDP) is self:  # the node's handler: its ports
            self.node.bind_port(IPPROTO_UDP, port, receiver.receive)

    def receive(self, skb: SkBuff) -> None:
        receiver = self.ports.get(skb.dport)
        if receiver is None:
            skb_drop(skb, DROP_NO_SOCKET, self.node.sched.now)
            return
        receiver.receive(skb)


class UdpSocket:
    """A sending UDP socket; each socket is one flow in the books."""

    __slots__ = ("books", "metrics", "node", "route_cache", "saddr", "sched", "sport", "world")

    def __init__(
        self, node: Node, sport: int, flow_name: str, metrics: FlowMetrics | None = None
    ) -> None:
        self.node = node
        self.saddr = node.addr  # bound once: Node.addr is computed
        self.world: World = node.world
        self.sched: DeviceScheduler = node.sched
        self.sport = sport
        self.metrics = metrics if metrics is not None else FlowMetrics(flow_name)
        self.books: FlowBooks = self.world.flow_books(flow_name, self.metrics)
        # The node's route cache (the same dict, cleared in place on route changes).
        self.route_cache: dict[int, NetDevice] = node.routes.cache

    def sendto(self, dst: int, dport: int, length: int, ecn: int = 0, priority: int = 0) -> int:
        """Send one datagram of ``length`` bytes (IP length); returns the output's NET_XMIT_*."""
        skb = SkBuff(length, self.saddr, dst, self.sport, dport, IPPROTO_UDP, self.sched.now,
                     self.books, self, ecn, priority)  # fmt: skip
        books = self.books  # FlowBooks.book_sent, inlined: a call less per datagram
        books.sent_packets += 1
        books.sent_bytes += length
        try:  # Node.output, inlined for the cached route: a call less per datagram
            dev = self.route_cache[dst]
        except KeyError:
            return self.node.output(skb)
        return dev.xmit(skb)


class UdpSink:
    """Receives on a port, consumes packets and feeds each flow's metrics."""

    __slots__ = ("bytes", "node", "packets", "port", "sched")

    def __init__(self, node: Node, port: int) -> None:
        self.node = node
        self.sched: DeviceScheduler = node.sched
        self.port = port
        self.packets = 0
        self.bytes = 0
        UdpStack.of(node).bind(port, self)

    def receive(self, skb: SkBuff) -> None:
        self.packets += 1
        length = skb.len
        self.bytes += length
        books = skb.flow
        assert books is not None, "a delivered packet was sent on a flow's books"
        observer = books.observer
        if observer is not None:
            observer.on_deliver(skb, self.sched.now)
        books.delivered_packets += 1  # skb_consume, inlined: a call less per datagram
        books.delivered_bytes += length
        skb.owner = FREED
