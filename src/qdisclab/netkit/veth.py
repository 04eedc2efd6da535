"""veth pairs for comparison: transmit goes through the peer's per-CPU backlog queue.

``veth_xmit`` → ``veth_forward_skb`` → ``netif_rx``: the packet is appended
to the (single modelled) CPU's backlog (``enqueue_to_backlog``) and NET_RX
softirq is raised; the packet reaches the peer's stack only when the softirq
runs ``process_backlog``. Model numbers (all configurable per pair/world):

* ``softirq_latency`` 20 µs: from raising NET_RX to the softirq running on a
  busy host (irq exit / ksoftirqd wake-up; tens of µs is typical under load);
* ``weight`` 64: packets per ``process_backlog`` poll (the backlog NAPI weight);
  a longer backlog is drained in further polls, each after another softirq latency;
* ``max_backlog`` 1000 (``netdev_max_backlog``): beyond it packets are
  dropped with reason ``backlog_full``.

The backlog is registered in ``world.packet_holders``, so conservation holds
while packets wait in it.

>>> from qdisclab.net import World
>>> w = World(); a, b = w.add_host("A"), w.add_host("B")
>>> pair = create_veth_pair(w, a, b, name="veth")
>>> pair.a.name, pair.b.name, Backlog.of(w).softirq_latency
('veth0', 'veth1', 20000)
"""

from __future__ import annotations

from collections import deque

from qdisclab.net import NetDevice, Node, World
from qdisclab.sim.interface import EventScheduler
from qdisclab.skb import DROP_DEVICE_DOWN, SkBuff, skb_drop

DROP_BACKLOG = "backlog_full"  # SKB_DROP_REASON_CPU_BACKLOG
SOFTIRQ_LATENCY_NS = 20_000
NAPI_WEIGHT = 64
NETDEV_MAX_BACKLOG = 1000


class Backlog:
    """One CPU's ``softnet_data.input_pkt_queue`` and its NET_RX softirq."""

    __slots__ = ("_poll_cb", "dropped", "max_backlog", "polls", "queue", "raised", "sched",
                 "softirq_latency", "weight")  # fmt: skip

    def __init__(self, sched: EventScheduler, softirq_latency: int = SOFTIRQ_LATENCY_NS,
                 weight: int = NAPI_WEIGHT, max_backlog: int = NETDEV_MAX_BACKLOG) -> None:  # fmt: skip
        self.sched = sched
        self.softirq_latency = softirq_latency
        self.weight = weight
        self.max_backlog = max_backlog
        self.queue: deque[SkBuff] = deque()
        self.raised = False
        self.polls = 0
        self.dropped = 0
        self._poll_cb = self._poll

    @classmethod
    def of(cls, world: World, **kw: int) -> Backlog:
        """The world's backlog (created and registered as a packet holder on first use)."""
        backlog = world.extensions.get("cpu_backlog")
        if not isinstance(backlog, Backlog):
            backlog = world.extensions["cpu_backlog"] = cls(world.sched, **kw)
            world.packet_holders.append(backlog)
        return backlog

    def enqueue(self, skb: SkBuff) -> bool:
        """``enqueue_to_backlog``: queue ``skb`` (its ``dev`` is the receiver) or drop it."""
        if len(self.queue) >= self.max_backlog:
            self.dropped += 1
            skb_drop(skb, DROP_BACKLOG, self.sched.now)
            return False
        self.queue.append(skb)
        if not self.raised:
            self.raised = True
            self.sched.call_later(self.softirq_latency, self._poll_cb, None)
        return True

    def _poll(self, _arg: object) -> None:
        """``process_backlog``: hand up to ``weight`` packets to their devices' stacks."""
        self.polls += 1
        queue = self.queue
        for _ in range(min(self.weight, len(queue))):
            skb = queue.popleft()
            dev = skb.dev
            assert isinstance(dev, NetDevice)  # enqueue's caller set it to the receiver
            dev.rx_direct_packets += 1
            dev.rx_direct_bytes += skb.len
            dev.deliver(skb)
        if queue:
            self.sched.call_later(self.softirq_latency, self._poll_cb, None)
        else:
            self.raised = False

    def held_packets(self) -> int:
        return len(self.queue)


class VethDevice(NetDevice):
    """One end of a veth pair: no wire; transmit = queue into the backlog for the peer."""

    HARD_HEADER_LEN = 0  # its xmit counts no link-layer header in skb.len
    WIRE_TX = False  # its xmit hands packets over without the wire's transmit paths

    __slots__ = ("backlog",)

    backlog: Backlog

    def xmit(self, skb: SkBuff) -> int:
        ret = self.egress_prologue(skb)
        if ret is not None:
            return ret
        now = self.sched.now
        peer = self.peer
        if peer is None or not peer.active:
            skb_drop(skb, DROP_DEVICE_DOWN, now)
            return 1
        if self.node is not peer.node:
            skb.tstamp = 0  # skb_scrub_packet(xnet)
        skb.dev = peer
        self.tx_packets += 1
        self.tx_bytes += skb.len
        return 0 if self.backlog.enqueue(skb) else 1


class VethPair:
    __slots__ = ("a", "b", "backlog")

    def __init__(self, a: VethDevice, b: VethDevice, backlog: Backlog) -> None:
        self.a = a
        self.b = b
        self.backlog = backlog


def create_veth_pair(
    world: World, a: Node, b: Node, *, name: str = "veth", **backlog_kw: int
) -> VethPair:
    """Create ``<name>0`` on ``a`` and ``<name>1`` on ``b``; ``backlog_kw`` configures the
    world's backlog when this is the first veth (softirq_latency, weight, max_backlog)."""
    link = world.connect(a, b, "100gbit", 0, qdisc="pfifo", device_class=VethDevice,
                         dev_names=(f"{name}0", f"{name}1"), name=name)  # fmt: skip
    backlog = Backlog.of(world, **backlog_kw)
    dev_a, dev_b = link.a, link.b
    assert isinstance(dev_a, VethDevice) and isinstance(dev_b, VethDevice)
    dev_a.backlog = dev_b.backlog = backlog
    return VethPair(dev_a, dev_b, backlog)
