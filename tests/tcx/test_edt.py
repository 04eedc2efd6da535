"""EDT through a map shared by a tcx egress program and the fq_edt qdisc (issue 4 item 4)."""

from __future__ import annotations

import itertools

from qdisclab.net import World
from qdisclab.scenario.programs.edt import EdtPacer
from qdisclab.skb import IPPROTO_UDP, SkBuff, skb_consume
from qdisclab.tcx import Tcx, pinned_map


def edt_world(qdisc: str, rate: int = 8_000_000):
    w = World(seed=2)
    a, b = w.add_host("A"), w.add_host("B")
    dev = w.connect(a, b, "1gbit", "1ms", qdisc_a=qdisc).a
    w.build_routes()
    arrivals: list[int] = []

    class Sink:
        def receive(self, skb):
            arrivals.append(w.now)
            skb_consume(skb)

    b.register_protocol(IPPROTO_UDP, Sink())
    prog = EdtPacer(rate).bind(w)
    tcx = Tcx.of(dev)
    tcx.egress.attach(tcx.load(prog, name="edt"))
    books = w.flow_books("f")

    def burst(n: int, sport: int = 7) -> None:
        for _ in range(n):
            skb = SkBuff(1000, a.addr, b.addr, sport, 5001, IPPROTO_UDP, w.now, books)
            books.book_sent(skb)
            a.output(skb)

    return w, prog, burst, arrivals


def test_departures_are_spaced_by_the_edt_rate():
    w, prog, burst, arrivals = edt_world("fq_edt")
    burst(10)  # all at t=0
    w.run()
    w.check_conservation()
    assert len(arrivals) == 10
    gaps = [b - a for a, b in itertools.pairwise(arrivals)]
    # A 1000 B packet is a 1014 B frame (tc egress sees the Ethernet header, as on Linux):
    # 1.014 ms at 8 mbit; fq's watchdog may fire up to timer_slack (10 us) late
    assert all(1_014_000 <= g <= 1_024_000 for g in gaps), gaps
    assert 9_126_000 <= arrivals[-1] - arrivals[0] <= 9_156_000
    (st,) = [v for _, v in prog.flows.items()]
    assert st.rate == 8_000_000 and st.drops == 0


def _gaps_after_drops(qdisc: str):
    w, prog, burst, arrivals = edt_world(qdisc)
    # t=0: 8 packets stamped 0..7 ms; fq holds 5 behind the first, 7 and 8 are dropped
    burst(8)
    w.run(2_500_000)  # packets stamped 0, 1, 2 ms have left
    burst(1)  # one more packet of the same flow
    w.run()
    w.check_conservation()
    assert w.ledger.dropped == {"fq_flow_limit": 2}
    (st,) = [v for _, v in prog.flows.items()]
    return [b - a for a, b in itertools.pairwise(arrivals)], st, w


def test_drops_reported_through_the_map_give_back_their_departure_slots():
    gaps, st, w = _gaps_after_drops("fq_edt flow_limit 5")
    assert pinned_map(w, "edt_flows") is not None  # the qdisc found the program's map by name
    assert w.node("A").devices["eth0"].qdisc.ops.reported == 2
    assert (st.drops, st.seen_drops, st.rate) == (2, 2, 8_000_000)
    # the late packet takes the slot right after the queue: no gap for the ghosts
    assert len(gaps) == 6 and all(1_014_000 <= g <= 1_024_000 for g in gaps), gaps


def test_without_reports_the_flow_waits_behind_slots_of_dropped_packets():
    gaps, st, _w = _gaps_after_drops("fq flow_limit 5")
    assert st.drops == 0
    # the late packet was stamped after the two dropped packets' slots: a 3 ms gap
    assert all(1_014_000 <= g <= 1_024_000 for g in gaps[:-1])
    assert 3_042_000 <= gaps[-1] <= 3_052_000, gaps


def test_plain_fq_paces_the_same_but_reports_nothing():
    w, prog, burst, _ = edt_world("fq flow_limit 5")
    burst(8)
    burst(1)
    (st,) = [v for _, v in prog.flows.items()]
    assert st.drops == 0 and st.rate == 8_000_000
    assert w.ledger.dropped == {"fq_flow_limit": 3}
