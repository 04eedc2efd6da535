"""Each gap and looseness the issue lists, against what iproute2 6.1 and Linux 6.18 do.

Accepted by tc (and now here): prefixes, BYTES/CELL, overhead/mpu/linklayer, mtu,
buffer, percentages of the device rate, get_size limits, short priomaps, netem
slot / loss state / rate cells / drop, red adaptive and nodrop, fq buckets and
defrate, tc's "0 means default". Refused by tc (and now here): a p suffix on
get_unsigned limits, ns with get_time, fractional quantum, negative limits.
"""

from __future__ import annotations

import pytest
from tests.sched.qdisc_helpers import make_world, packet, send_at

from qdisclab.net import World
from qdisclab.net.tc import TcHost
from qdisclab.sched import create_qdisc


def host_with_device(txqueuelen: int = 1000) -> TcHost:
    host = TcHost()
    assert host.run(f"ip link add dev d0 txqueuelen {txqueuelen} type dummy").exit == 0
    return host


def show(host: TcHost, spec: str, what: str = "qdisc show dev d0") -> str:
    host.run("tc qdisc del dev d0 root || /bin/true")
    result = host.run(f"tc qdisc add dev d0 root handle 1: {spec}")
    assert result.exit == 0, result.stderr
    return host.run(f"tc {what}").stdout


@pytest.mark.parametrize(
    ("spec", "shown"),
    [
        ("tbf rate 10mbit burst 10kb lat 50ms", "rate 10Mbit burst 10Kb lat 50ms \n"),
        ("tbf rate 10Mibit burst 1600 limit 3000", "rate 10485Kbit burst 1599b lat 1.07ms \n"),
        ("tbf rate 2.5mbit burst 10kb/8 latency 20ms", "rate 2500Kbit burst 10Kb lat 20ms \n"),
        ("tbf rate 1mbit buffer 8k limit 20k mpu 100 overhead 8 linklayer adsl",
         "rate 1Mbit burst 9063b lat 91.3ms overhead 8 linklayer atm \n"),
        ("netem del 10ms", "limit 1000 delay 10ms\n"),
        ("netem drop 2%", "limit 1000 loss 2%\n"),
        ("netem rate 1mbit 20 53 -5", "limit 1000 rate 1Mbit packetoverhead 20 cellsize 53 celloverhead -5\n"),
        ("htb def 20", "r2q 10 default 0x20 direct_packets_stat 0 direct_qlen 1000\n"),
        ("pfifo limit 1k", "limit 1024p\n"),
        ("prio priomap 2 2", "bands 3 priomap 2 2 2 2 1 2 0 0 1 1 1 1 1 1 1 1\n"),
        ("red limit 1M avpkt 1500 ecn adaptive nodrop", "limit 1Mb min 87381b max 256Kb ecn adaptive nodrop \n"),
        ("fq buckets 300 defrate 1mbit", "buckets 512 "),
        ("fq_codel flows 0 limit 0", "limit 10240p flows 1024 "),
    ],
)  # fmt: skip
def test_accepted_as_tc_accepts_them(spec, shown):
    text = show(host_with_device(), spec)
    assert text.startswith(f"qdisc {spec.split()[0]} 1: root refcnt 2 ")
    assert shown in text


def test_percentage_rates_come_from_the_link():
    w = World()
    a, b = w.add_host("A"), w.add_host("B")
    w.connect(a, b, "100mbit", "1ms")
    host = TcHost(w, a)
    assert host.run("tc qdisc replace dev eth0 root tbf rate 10% burst 10k lat 10ms").exit == 0
    assert "rate 10Mbit burst 10Kb" in host.run("tc qdisc show dev eth0").stdout
    # no speed known: tc cannot compute a percentage
    lone = host_with_device()
    bad = lone.run("tc qdisc add dev d0 root tbf rate 10% burst 10k lat 10ms")
    assert (bad.exit, bad.stderr) == (1, 'Illegal "rate"\n')


@pytest.mark.parametrize(
    ("spec", "err"),
    [
        ("codel limit 100p", 'Illegal "limit"'),
        ("fq limit 100p", 'Illegal "limit"'),
        ("codel target 5000ns", 'Illegal "target"'),
        ("fq_codel quantum 1.5kb", 'Illegal "quantum"'),
        ("fq quantum 1.5kb", 'Illegal "quantum"'),
        ("pfifo limit -1", 'pfifo: Illegal value for "limit": "-1"'),
        ("pfifo limit 100p", 'pfifo: Illegal value for "limit": "100p"'),
        ("tbf rate 1mbit burst 10k lat 10ms bogus 1", 'tbf: unknown parameter "bogus"'),
    ],
)  # fmt: skip
def test_refused_as_tc_refuses_them(spec, err):
    result = host_with_device().run(f"tc qdisc add dev d0 root {spec}")
    assert result.exit == 1
    assert result.stderr.splitlines()[0] == err


@pytest.mark.parametrize(
    ("spec", "err"),
    [
        ("fq quantum 0", "Error: sch_fq: invalid quantum.\n"),
        ("fq buckets 1", "RTNETLINK answers: Invalid argument\n"),
        ("fq_codel flows 70000", "RTNETLINK answers: Invalid argument\n"),
        ("prio bands 1 priomap 0", "RTNETLINK answers: Invalid argument\n"),
        ("tbf rate 2mbit burst 10k lat 10ms peakrate 1mbit mtu 1600",
         "RTNETLINK answers: Invalid argument\n"),
    ],
)  # fmt: skip
def test_kernel_range_checks(spec, err):
    result = host_with_device().run(f"tc qdisc add dev d0 root {spec}")
    assert (result.exit, result.stderr) == (2, err)


def test_defaults_from_the_device():
    host = host_with_device(txqueuelen=300)
    assert "limit 300p" in show(host, "pfifo")
    assert "limit 454200b" in show(host, "bfifo")  # 300 * (1500 + 14)
    assert "direct_qlen 300" in show(host, "htb")


def test_pfifo_limit_0_and_bfifo_limit_1000_drop_what_the_kernel_drops():
    for spec in ("pfifo limit 0", "bfifo limit 1000"):
        world, dev, rec = make_world(spec, rate="10mbit")
        for i in range(5):
            send_at(world, dev, i * 2_000_000, 1500)
        world.run()
        assert rec.arrivals == [] and dev.qdisc.drops == 5, spec
        assert not dev.qdisc.can_bypass  # an empty fifo that takes nothing is never bypassed
    world, dev, rec = make_world("bfifo limit 1000", rate="10mbit")
    send_at(world, dev, 0, 900)
    world.run()
    assert len(rec.arrivals) == 1  # a small packet fits


def test_fq_defrate_is_ignored_and_buckets_round_up():
    host = host_with_device()
    q = host.device("d0").qdisc
    assert host.run("tc qdisc replace dev d0 root handle 1: fq buckets 300 defrate 5mbit").exit == 0
    q = host.device("d0").qdisc
    assert q.ops.buckets == 512 and "defrate" not in q.opt


def test_fq_codel_change_cannot_resize_its_table():
    host = host_with_device()
    assert host.run("tc qdisc add dev d0 root handle 1: fq_codel flows 64").exit == 0
    result = host.run("tc qdisc change dev d0 root handle 1: fq_codel flows 128")
    assert (result.exit, result.stderr) == (2, "RTNETLINK answers: Invalid argument\n")
    assert "flows 64 " in host.run("tc qdisc show dev d0").stdout


def test_netem_slot_sends_in_bursts():
    """slot 10ms 10ms packets 2: two packets per slot, slots 10 ms apart."""
    world, dev, rec = make_world("netem slot 10ms 10ms packets 2", rate="1gbit")
    for _ in range(6):
        dev.xmit(packet(world, dev, 100))
    world.run()
    times = [t // 1_000_000 for t, _ in rec.arrivals]
    assert times == [0, 0, 10, 10, 20, 20]
    world.check_conservation()


def test_netem_loss_state_isolated_losses():
    """p14 = 100%: from the gap state every packet is an isolated loss, the next goes through."""
    world, dev, rec = make_world("netem loss state 0 100 0 0 100", rate="1gbit")
    for i in range(10):
        send_at(world, dev, i * 1_000, 100)
    world.run()
    assert len(rec.arrivals) == 5 and dev.qdisc.drops == 5
    world.check_conservation()


def test_netem_rate_cells():
    """rate 8mbit 0 48 5: a 100-byte packet is 3 cells of 53 bytes = 159 us at 1 byte/us."""
    world, dev, rec = make_world("netem rate 8mbit 0 48 5", rate="10gbit")
    dev.xmit(packet(world, dev, 100))
    world.run()
    ((arrival, _skb),) = rec.arrivals
    assert 159_000 <= arrival < 160_000
    world.check_conservation()


def test_red_nodrop_queues_non_ect_packets():
    spec = "red limit 30000 min 2000 max 6000 avpkt 1000 burst 5 ecn nodrop"
    world, dev, rec = make_world(spec, rate="1mbit")
    for _ in range(20):
        dev.xmit(packet(world, dev, 1000))  # not ECN-capable
    assert dev.qdisc.drops == 0 and dev.qdisc.overlimits > 0
    world.run()
    assert len(rec.arrivals) == 20
    world.check_conservation()
    plain = create_qdisc(spec.replace(" nodrop", ""), World().new_device(World().add_host("x")))
    assert not plain.ops.nodrop


def test_red_adaptive_raises_max_p_under_a_standing_queue():
    spec = "red limit 400000 min 10000 max 30000 avpkt 1000 burst 20 probability 0.02 ecn adaptive"
    world, dev, _rec = make_world(spec, rate="1mbit")
    start = dev.qdisc.ops.max_p
    # 2 mbit into 1 mbit for 3 s, ECN-capable so RED marks instead of dropping
    for i in range(750):
        send_at(world, dev, i * 4_000_000, 1000, ecn=2)
    world.run()
    assert dev.qdisc.ops.max_p > start
    world.check_conservation()
