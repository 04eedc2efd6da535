import itertools

from tests.tcp.helpers import two_hosts

from qdisclab.tcp import TcpStack


def _sock():
    w, a, b = two_hosts()
    TcpStack.of(b).listen(80)
    return w, TcpStack.of(a).connect(b.addr, 80, "s", cc="reno")


def test_rfc6298_gains_and_linux_floor():
    _, sk = _sock()
    sk.rtt_estimator(1_000_000)  # first sample R: SRTT=R, RTTVAR=R/2, RTO=R+4*R/2
    assert sk.srtt_us >> 3 == 1_000_000
    assert sk.rto == 3_000_000_000
    sk.rtt_estimator(2_000_000)  # SRTT=7/8+1/8*2, RTTVAR=3/4*0.5+1/4*1
    assert sk.srtt_us >> 3 == 1_125_000
    assert sk.mdev_us == 2_500_000
    assert sk.rto == 3_625_000_000
    _, sk = _sock()
    for _ in range(50):
        sk.snd_una += 1
        sk.rtt_estimator(100_000)
    # Linux floors 4*RTTVAR at 200 ms: RTO = SRTT + 200 ms.
    assert sk.rto == 300_000_000


def test_rto_backoff_doubles():
    w, a, b = two_hosts(delay="5ms")
    TcpStack.of(b).listen(80)
    times = []

    class Rec:
        def event(self, sk, name, *args):
            if name == "rto":
                times.append(sk.sched.now)

    sk = TcpStack.of(a).connect(b.addr, 80, "s", cc="reno", sock_ops=Rec())
    w.run(200_000_000)
    b.devices["eth0"].set_down()  # every segment is lost from now on
    sk.send(100_000)
    w.run(8_000_000_000)
    gaps = [t2 - t1 for t1, t2 in itertools.pairwise(times)]
    assert len(gaps) >= 3
    first = times[0] - 200_000_000
    assert 200_000_000 <= first <= 260_000_000  # srtt ~10 ms + 200 ms floor
    for g1, g2 in itertools.pairwise(gaps):
        assert abs(g2 / g1 - 2) < 0.01
