"""Known answers of queueing theory on the engine, the qdisc layer and the net pipeline."""

from __future__ import annotations

from qdisclab.net import World
from qdisclab.sched import create_qdisc
from qdisclab.sim import Scheduler
from qdisclab.skb import (
    DROP_NO_ROUTE,
    DROP_QDISC,
    DROP_TTL,
    IPPROTO_UDP,
    FlowBooks,
    Ledger,
    SkBuff,
    skb_consume,
)
from qdisclab.traffic import CbrSource, UdpSink, UdpSocket


class _Server:
    """An exponential server behind a pfifo: the M/M/1 queue, measured as a time average."""

    def __init__(self, seed: int, lam_per_ms: float, mu_per_ms: float) -> None:
        import random

        self.sched = Scheduler()
        self.name = "mm1"
        self.mtu = 1500
        self.tx_queue_len = 10**9
        self.hash_seed = 0
        self.ownership_policy = "strict"
        self.active = True
        self.rng = random.Random(seed)
        self.lam = lam_per_ms / 1e6  # per ns
        self.mu = mu_per_ms / 1e6
        self.q = create_qdisc("pfifo", self, handle=0x10000)
        self.books = FlowBooks("mm1", Ledger())
        self.busy = False
        self.area = 0  # integral of number-in-system dt
        self.last = 0

    def netif_schedule(self) -> None:  # pfifo never arms the watchdog
        raise AssertionError("unexpected watchdog")

    def _account(self) -> None:
        now = self.sched.now
        self.area += (self.q.qlen + (1 if self.busy else 0)) * (now - self.last)
        self.last = now

    def arrival(self, _):
        self._account()
        skb = SkBuff(100, 1, 2, 3, 4, IPPROTO_UDP, self.sched.now, self.books)
        self.books.book_sent(skb)
        self.q.enqueue(skb)
        if not self.busy:
            self.start()
        self.sched.call_later(int(self.rng.expovariate(self.lam)), self.arrival, None)

    def start(self) -> None:
        skb = self.q.dequeue()
        if skb is None:
            return
        self.busy = True
        self.sched.call_later(int(self.rng.expovariate(self.mu)), self.depart, skb)

    def depart(self, skb):
        self._account()
        skb_consume(skb)
        self.busy = False
        self.start()


def test_mm1_mean_number_in_system_within_2_percent():
    # validation.md: lambda = 0.5, mu = 1.25 per ms -> rho = 0.4, L = rho / (1 - rho) = 2/3.
    server = _Server(seed=11, lam_per_ms=0.5, mu_per_ms=1.25)
    server.sched.call_at(0, server.arrival, None)
    horizon = 400_000 * 1_000_000  # 400 s: ~200k arrivals
    server.sched.run(horizon)
    server._account()
    mean_l = server.area / horizon
    assert abs(mean_l - 2 / 3) / (2 / 3) < 0.02, mean_l


def test_full_pfifo_of_100_packets_at_10mbit_adds_120ms():
    world = World(seed=1)
    a, b = world.add_host("A"), world.add_host("B")
    world.connect(a, b, "10mbit", "5ms", qdisc_a="pfifo limit 100")
    world.build_routes()
    UdpSink(b, 9)
    CbrSource(a, b.addr, 9, "overload", rate="20mbit", size=1500, stop="3s")
    world.run(3_000_000_000)
    metrics = world.flows["overload"].observer
    late = sorted(metrics.delays[-200:])
    base = 1500 * 8 * 1_000_000_000 // 10_000_000 + 5_000_000  # own serialisation + propagation
    queueing = late[len(late) // 2] - base
    assert abs(queueing - 120_000_000) / 120_000_000 < 0.02, queueing / 1e6
    assert world.flows["overload"].dropped[DROP_QDISC] > 0
    world.run()  # drain
    books = world.check_conservation()
    assert books["in_flight"] == 0


def test_ttl_expiry_in_a_routing_loop_is_counted_by_reason():
    world = World(seed=1)
    h, r1, r2 = world.add_host("H"), world.add_router("R1"), world.add_router("R2")
    world.connect(h, r1, "1gbit", "1ms")
    link = world.connect(r1, r2, "1gbit", "1ms")
    world.build_routes()
    target = 0xC0A80001  # 192.168.0.1: routed R1 -> R2 -> R1 ... until the TTL runs out
    r1.routes.add(target, 32, link.a)
    r2.routes.add(target, 32, link.b)
    h.routes.add(0, 0, h.devices["eth0"])
    sock = UdpSocket(h, 1000, "looping")
    sock.sendto(target, 9, 100)
    world.run()
    assert world.flows["looping"].dropped == {DROP_TTL: 1}
    # The packet crossed R1 and R2 alternately until TTL 64 was used up.
    assert link.a.tx_packets + link.b.tx_packets == 63


def test_no_route_drops_are_counted_by_reason():
    world = World(seed=1)
    h, r = world.add_host("H"), world.add_router("R")
    world.connect(h, r, "1gbit", "1ms")
    world.build_routes()
    sock = UdpSocket(h, 1000, "lost")
    sock.sendto(0x08080808, 53, 100)  # the host has no default route
    h.routes.add(0, 0, h.devices["eth0"])
    sock.sendto(0x08080808, 53, 100)  # the router has no route
    world.run()
    assert world.flows["lost"].dropped == {DROP_NO_ROUTE: 2}
    assert world.ledger.dropped == {DROP_NO_ROUTE: 2}
