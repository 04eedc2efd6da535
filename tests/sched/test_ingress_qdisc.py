"""A qdisc at a device's ingress queues received packets before the stack (sch_bpf's aim)."""

from __future__ import annotations

from qdisclab.net import World
from qdisclab.traffic import CbrSource, UdpSink


def _pair(ingress_spec: str | None):
    world = World(seed=4)
    a, b = world.add_host("A"), world.add_host("B")
    link = world.connect(a, b, "100mbit", "1ms")
    world.build_routes()
    if ingress_spec is not None:
        link.b.set_ingress_qdisc(ingress_spec)
    UdpSink(b, 9)
    CbrSource(a, b.addr, 9, "f", rate="10mbit", size=1000, stop="100ms")
    world.run(300_000_000)
    return world, link


def test_netem_at_ingress_delays_received_packets_through_its_watchdog():
    plain, _ = _pair(None)
    delayed, link = _pair("netem delay 20ms")
    base = plain.flows["f"].observer.delays
    held = delayed.flows["f"].observer.delays
    assert len(held) == len(base) == 125
    # every packet reaches the socket 20 ms later than without the ingress qdisc
    assert all(d - b == 20_000_000 for b, d in zip(base, held, strict=True))
    q = link.b.ingress_qdisc
    assert q.packets == 125 and q.qlen == 0 and q.watchdog.fired > 0
    assert "parent ffff:fff1 " in q.describe()  # how tc names the ingress attach point


def test_ingress_qdisc_drops_are_booked_and_the_qdisc_is_replaceable():
    # 20 ms of delay holds ~25 packets of this flow; a limit of 5 must drop the rest.
    world, link = _pair("netem delay 20ms limit 5")
    q = link.b.ingress_qdisc
    dropped = world.flows["f"].dropped
    assert sum(dropped.values()) == q.drops > 0
    assert world.ledger.delivered + q.drops == 125
    link.b.set_ingress_qdisc(None)
    assert link.b.ingress_qdisc is None
