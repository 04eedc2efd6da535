"""The built-in UDP dumbbell: the default scenario of the foundation.

Senders S1..Sn on 1 gbit / 0.5 ms access links to router R1, a bottleneck
R1-R2 (100 mbit / 10 ms, pfifo by default), receivers D1..Dn on 1 gbit /
0.5 ms links. Flow i sends Poisson UDP traffic from Si to Di; together the
flows offer more than the bottleneck carries, so the bottleneck queue fills.
"""

from __future__ import annotations

from dataclasses import dataclass

from qdisclab.net import World
from qdisclab.traffic import PoissonSource, UdpSink
from qdisclab.units import parse_rate


@dataclass
class UdpDumbbell:
    """Parameters of the UDP dumbbell (tc units for rates and times)."""

    pairs: int = 4
    bottleneck_rate: str = "100mbit"
    bottleneck_delay: str = "10ms"
    bottleneck_qdisc: str = "pfifo"
    access_rate: str = "1gbit"
    access_delay: str = "0.5ms"
    flow_rate: str = "30mbit"  # per flow; 4 x 30 mbit overloads 100 mbit
    packet_size: int = 1500
    duration_ns: int = 10_000_000_000

    def build(self, seed: int, policy: str = "strict") -> tuple[World, list[PoissonSource]]:
        world = World(seed=seed, policy=policy)
        r1, r2 = world.add_router("R1"), world.add_router("R2")
        world.connect(r1, r2, self.bottleneck_rate, self.bottleneck_delay,
                      qdisc_a=self.bottleneck_qdisc, name="bottleneck")  # fmt: skip
        senders, receivers = [], []
        for i in range(1, self.pairs + 1):
            s, d = world.add_host(f"S{i}"), world.add_host(f"D{i}")
            world.connect(s, r1, self.access_rate, self.access_delay)
            world.connect(r2, d, self.access_rate, self.access_delay)
            senders.append(s)
            receivers.append(d)
        world.build_routes()
        sources = []
        parse_rate(self.flow_rate)  # fail early on a bad unit
        for i, (s, d) in enumerate(zip(senders, receivers, strict=True), start=1):
            UdpSink(d, 5001)
            sources.append(
                PoissonSource(
                    s,
                    d.addr,
                    5001,
                    f"S{i}->D{i}",
                    rate=self.flow_rate,
                    size=self.packet_size,
                    start=0,
                    stop=self.duration_ns,
                )
            )
        return world, sources
