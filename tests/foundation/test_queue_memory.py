"""The world's queued-packet memory is bounded: past run.queue_memory, drops by reason."""

from __future__ import annotations

from qdisclab.net import World
from qdisclab.net.memory import DROP_QUEUE_MEMORY, SKB_TRUESIZE_OVERHEAD, charge_of
from qdisclab.scenario import load_text
from qdisclab.scenario.build import run_loaded
from qdisclab.skb import ETH_HLEN
from qdisclab.traffic import CbrSource, UdpSink

LIMIT = 2_000_000  # ~963 packets of 1500 bytes at 2076 bytes of truesize each
TRUESIZE = 1500 + ETH_HLEN + SKB_TRUESIZE_OVERHEAD  # a 1500-byte IP packet as a frame


def overloaded(world: World, name: str, stop: str = "1s"):
    """A 1 mbit link with an (almost) unlimited fifo, fed at 50 mbit until ``stop``."""
    a, b = world.add_host(f"{name}a"), world.add_host(f"{name}b")
    link = world.connect(a, b, "1mbit", "1ms", qdisc_a="pfifo limit 100000000")
    UdpSink(b, 9)
    return link, (a, b)


def test_an_unbounded_fifo_stops_at_the_memory_limit_and_counts_the_drops():
    world = World(seed=1)
    world.queue_memory.limit = LIMIT
    link, (a, b) = overloaded(world, "x")
    world.build_routes()
    CbrSource(a, b.addr, 9, "flood", rate="50mbit", size=1500, stop="1s")
    world.run(1_000_000_000)
    qdisc = link.a.qdisc
    assert charge_of(qdisc) <= LIMIT < charge_of(qdisc) + TRUESIZE  # full to the byte
    assert qdisc.qlen == LIMIT // TRUESIZE
    books = world.flows["flood"]
    assert books.dropped[DROP_QUEUE_MEMORY] > 3000
    assert world.queue_memory.peak <= LIMIT
    world.check_conservation()


def test_two_devices_share_one_bound_and_a_drained_one_gives_its_share_back():
    world = World(seed=1)
    world.queue_memory.limit = LIMIT
    first, (a1, b1) = overloaded(world, "p")
    second, (a2, b2) = overloaded(world, "q")
    world.build_routes()
    CbrSource(a1, b1.addr, 9, "early", rate="50mbit", size=1500, stop="200ms")
    CbrSource(a2, b2.addr, 9, "both", rate="50mbit", size=1500, stop="40s")
    world.run(200_000_000)
    # both fill at once: together they hold at most the limit
    assert charge_of(first.a.qdisc) + charge_of(second.a.qdisc) <= LIMIT
    assert world.flows["early"].dropped[DROP_QUEUE_MEMORY] > 0
    world.run(30_000_000_000)  # the early flow stopped; its queue drains over ~8 s
    assert first.a.qdisc.qlen == 0
    # its share was given back: the second device now holds (nearly) all of the memory,
    # although the first device has not enqueued since (its share was recounted)
    assert charge_of(second.a.qdisc) > LIMIT - TRUESIZE
    world.check_conservation()


SCENARIO = """
[run]
duration = "1s"
{memory}
[[node]]
name = "A"
[[node]]
name = "B"
[[link]]
a = "A"
b = "B"
rate = "1mbit"
qdisc_a = "pfifo limit 1000000000"
[[flow]]
type = "udp-cbr"
src = "A"
dst = "B"
rate = "20mbit"
"""


def test_the_scenario_key_sets_the_bound_and_the_default_is_one_gib():
    small = load_text(SCENARIO.format(memory='queue_memory = "1mb"'), "s.toml")
    res = run_loaded(small)
    books = res["conservation"]
    assert books["dropped"][DROP_QUEUE_MEMORY] > 0
    assert books["sent"] == books["delivered"] + sum(books["dropped"].values()) + books["in_flight"]
    default = load_text(SCENARIO.format(memory=""), "s.toml")
    assert default.scenario.run.queue_memory == "1Gb"
    assert DROP_QUEUE_MEMORY not in run_loaded(default)["conservation"]["dropped"]
