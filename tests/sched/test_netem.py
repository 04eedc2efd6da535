import statistics

import pytest
from qdisc_helpers import make_world, packet, send_at

from qdisclab.errors import UserError
from qdisclab.sched import create_qdisc
from qdisclab.skb import ETH_HLEN, INET_ECN_CE, INET_ECN_ECT_0

LINK = "10gbit"  # 1000 B serialise in 800 ns: small next to the delays measured


def _run(spec, n, spacing_ns, length=1000, seed=1, **fields):
    world, dev, rec = make_world(spec, rate=LINK, seed=seed)
    for i in range(n):
        send_at(world, dev, i * spacing_ns, length, **fields)
    world.run()
    world.check_conservation()
    return world, dev, rec


def _delays(rec, length=1000):
    tx = (length + ETH_HLEN) * 8 // 10  # ns at 10 Gbit/s for the Ethernet frame
    return [t - skb.created - tx for t, skb in rec.arrivals]


def test_constant_delay_is_exact():
    _w, _d, rec = _run("netem delay 20ms", 50, 1_000_000)
    assert set(_delays(rec)) == {20_000_000}


@pytest.mark.parametrize(
    ("dist", "std"),
    [("normal", 10e6), ("uniform", 2 * 10e6 / 12**0.5), ("pareto", None), ("paretonormal", None)],
)
def test_delay_jitter_distributions(dist, std):
    spec = f"netem delay 50ms 10ms distribution {dist}"
    _w, _d, rec = _run(spec, 4000, 1_000_000)
    d = _delays(rec)
    assert len(d) == 4000
    # Mean within 2 % of the delay (4000 samples, spread 10 ms: the standard error is 0.3 %);
    # the queue behind a 10 Gbit/s wire adds at most a few µs.
    assert statistics.fmean(d) == pytest.approx(50e6, rel=0.02)
    if std is not None:
        assert statistics.pstdev(d) == pytest.approx(std, rel=0.05)
    if dist == "uniform":
        assert min(d) >= 40e6 and max(d) < 60e6 + 10_000
    if dist == "pareto":
        assert statistics.median(d) < statistics.fmean(d)  # right-skewed
        assert min(d) > 50e6 - 0.6 * 10e6  # bounded below at mean - 0.58 std


def test_delay_correlation_makes_successive_delays_alike():
    _w, _d, rec = _run("netem delay 50ms 10ms 75%", 3000, 1_000_000)
    by_send = sorted(rec.arrivals, key=lambda a: a[1].created)
    d = [t - s.created for t, s in by_send]
    lag1 = statistics.correlation(d[:-1], d[1:])
    assert lag1 > 0.5


def test_random_loss_fraction():
    n = 20000
    _world, dev, rec = _run("netem loss random 10%", n, 10_000)
    lost = dev.qdisc.drop_reasons["netem_loss"]
    assert len(rec.arrivals) + lost == n
    # 3 standard deviations of a binomial(20000, 0.1) fraction: 0.0064.
    assert lost / n == pytest.approx(0.10, abs=0.0064)


def test_gilbert_elliott_stationary_loss():
    n = 50000
    p, r, one_h, one_k = 0.05, 0.20, 0.50, 0.01
    _w, dev, rec = _run(
        f"netem loss gemodel {p * 100}% {r * 100}% {one_h * 100}% {one_k * 100}%", n, 5_000
    )
    pi_bad = p / (p + r)
    expect = (1 - pi_bad) * one_k + pi_bad * one_h  # 0.108
    lost = dev.qdisc.drop_reasons["netem_loss"]
    assert lost / n == pytest.approx(expect, rel=0.07)
    assert len(rec.arrivals) == n - lost


def test_gemodel_with_only_p_is_bernoulli():
    n = 20000
    _w, dev, _rec = _run("netem loss gemodel 3%", n, 5_000)
    assert dev.qdisc.drop_reasons["netem_loss"] / n == pytest.approx(0.03, abs=0.004)


def test_duplicate_fraction_and_conservation():
    n = 10000
    world, dev, rec = _run("netem delay 1ms duplicate 20%", n, 100_000)
    extra = len(rec.arrivals) - n
    # binomial(10000, 0.2): 3 sigma = 0.012
    assert extra / n == pytest.approx(0.20, abs=0.012)
    assert len({id(s) for _, s in rec.arrivals}) == len(rec.arrivals)  # real new packets
    assert world.ledger.sent == n + extra
    assert dev.qdisc.ops.duplicated == extra


def test_duplicates_over_the_limit_and_reset_keep_conservation():
    world, dev, _rec = make_world("netem delay 100ms duplicate 50% limit 20", rate=LINK)
    for _ in range(40):
        dev.xmit(packet(world, dev, 1000))
    q = dev.qdisc
    assert q.qlen == 20 and len(q.ops.tfifo) == 20
    assert q.drop_reasons["netem_limit"] > 0
    world.check_conservation()
    q.reset()
    assert q.qlen == 0 and q.backlog == 0
    world.run()
    world.check_conservation()


def test_corrupt_flips_one_payload_bit():
    world, dev, rec = make_world("netem corrupt 100%", rate=LINK)
    payload = bytes(range(64))
    for _ in range(20):
        dev.xmit(packet(world, dev, 64, payload=payload))
    dev.xmit(packet(world, dev, 64))  # no payload: only counted
    world.run()
    for _, skb in rec.arrivals[:20]:
        diff = sum(bin(a ^ b).count("1") for a, b in zip(skb.payload, payload, strict=True))
        assert diff == 1
    assert dev.qdisc.ops.corrupted == 21
    world.check_conservation()


def test_rate_adds_serialisation_delay():
    # 1250 B are a 1264 B frame: 10.112 ms at 1 Mbit/s; a burst leaves netem that far apart.
    world, dev, rec = make_world("netem rate 1mbit", rate="1gbit")
    for _ in range(5):
        dev.xmit(packet(world, dev, 1250))
    world.run()
    times = [t - 10_112 for t, _ in rec.arrivals]  # minus 10.112 µs on the 1 Gbit/s wire
    assert times == [10_112_000 * k for k in range(1, 6)]
    world.check_conservation()


def test_reorder_sends_a_fraction_immediately():
    n = 4000
    _w, dev, rec = _run("netem delay 10ms reorder 25%", n, 100_000)
    d = _delays(rec)
    immediate = sum(1 for x in d if x < 1_000_000)
    assert immediate / n == pytest.approx(0.25, abs=0.025)
    assert [s.created for _, s in rec.arrivals] != sorted(s.created for _, s in rec.arrivals)
    assert dev.qdisc.requeues == immediate


def test_ecn_marks_instead_of_losing_ect_packets():
    world, dev, rec = make_world("netem loss 100% ecn", rate=LINK)
    for _ in range(5):
        dev.xmit(packet(world, dev, 100, ecn=INET_ECN_ECT_0))
    dev.xmit(packet(world, dev, 100))  # not ECT: lost
    world.run()
    assert [s.ecn for _, s in rec.arrivals] == [INET_ECN_CE] * 5
    assert dev.qdisc.drop_reasons == {"netem_loss": 1}
    world.check_conservation()


def test_parse_and_show():
    _w, dev, _ = make_world("pfifo")
    q = create_qdisc("netem delay 100ms 10ms 25% loss 0.5 duplicate 1% limit 50", dev)
    assert q.limit == 50
    assert q.describe().endswith("limit 50 delay 100ms  10ms 25% loss 0.5% duplicate 1%")
    assert create_qdisc("netem", dev).describe().endswith("limit 1000")
    for bad in (
        "netem reorder 10%",
        "netem delay 10ms gap 5",
        "netem delay 10ms distribution normal",
        "netem delay 10ms 1ms distribution gamma",
        "netem loss weird 1%",
        "netem frobnicate",
        "netem loss 150%",
    ):
        with pytest.raises(UserError):
            create_qdisc(bad, dev)
