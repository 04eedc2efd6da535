import errno
import math

import pytest
from tests.tcp.fake_sock import FakeSock
from tests.tcp.helpers import bulk, two_hosts

from qdisclab.errors import ENOTSUPP, KernelError
from qdisclab.tcp import CongestionOps, TcpStack, register_cc, unregister_cc, update_cc
from qdisclab.tcp.congestion import (
    CA_ACK_SLOWPATH,
    tcp_reno_cong_avoid,
    tcp_reno_ssthresh,
    tcp_reno_undo_cwnd,
)


def _cls(name="t_ok", **members):
    base = {"name": name, "ssthresh": lambda self, sk: 2, "undo_cwnd": lambda self, sk: 2,
            "cong_avoid": lambda self, sk, a, n: None}  # fmt: skip
    base.update(members)
    base = {k: v for k, v in base.items() if v is not None}
    return type("T", (CongestionOps,), base)


@pytest.mark.parametrize(
    ("kw", "err"),
    [
        ({"ssthresh": None}, errno.EINVAL),
        ({"undo_cwnd": None}, errno.EINVAL),
        ({"cong_avoid": None}, errno.EINVAL),
        ({"get_info": lambda self, sk, e, a, i: 0}, ENOTSUPP),
        ({"name": "x" * 16}, errno.EINVAL),
        ({"name": ""}, errno.EINVAL),
        ({"flags": 0x100}, errno.EINVAL),
        ({"name": "reno"}, errno.EEXIST),
    ],
)
def test_registration_errors(kw, err):
    with pytest.raises(KernelError) as exc:
        register_cc(_cls(**kw))
    assert exc.value.errno == err


def test_register_update_unregister():
    register_cc(_cls("t_upd"))
    with pytest.raises(KernelError) as exc:
        update_cc("t_upd", _cls("t_other"))
    assert exc.value.errno == errno.EINVAL
    update_cc("t_upd", _cls("t_upd"))
    unregister_cc("t_upd")
    with pytest.raises(KernelError) as exc:
        unregister_cc("t_upd")
    assert exc.value.errno == errno.ENOENT


def test_reno_helpers():
    sk = FakeSock(snd_cwnd=21, prior_cwnd=30)
    assert tcp_reno_ssthresh(sk) == 10
    assert tcp_reno_undo_cwnd(sk) == 30


@pytest.mark.parametrize(("p", "secs"), [(0.01, 20), (0.001, 20), (0.0001, 40)])
def test_reno_mathis(p, secs):
    """Goodput under random data-direction loss is within 20 % of Mathis et al.

    Before PRR counted new data in ``prr_out`` the sender kept growing in-flight through
    recovery and delivered ~10x the formula; the in-flight check guards that too.
    """
    w, a, b = two_hosts(rate="1gbit", delay="10ms", loss=p, qdisc="pfifo limit 10000")
    f = bulk(w, a, b, "reno")
    w.run(secs * 1_000_000_000)
    sk = f.sk
    got = f.goodput_bps(secs // 4 * 1_000_000_000, secs * 1_000_000_000)
    rtt = sk.stats.summary()["rtt_p50_ms"] / 1000
    mathis = 1448 * 8 / rtt * math.sqrt(3 / (2 * p))
    assert abs(got / mathis - 1) < 0.2, (got, mathis)
    assert sk.stats.fast_retrans > 10
    # Bounded pipe: never more in flight than a few windows (the bug had thousands).
    assert sk.max_packets_out < 4 * max(sk.stats.cwnd)


def test_slow_start_doubles_per_rtt():
    w, a, b = two_hosts(rate="1gbit", delay="50ms", qdisc="pfifo limit 10000")
    f = bulk(w, a, b, "reno")
    w.run(700_000_000)
    st = f.sk.stats
    # The handshake ends at 1 RTT (100 ms); data round k is acked around (k+1) RTT after the SYN.
    for k in range(1, 5):
        t = (k + 1) * 100_000_000 + 50_000_000
        idx = max(i for i, ts in enumerate(st.t) if ts <= t)
        assert abs(st.cwnd[idx] / (10 * 2**k) - 1) < 0.15, (k, st.cwnd[idx])


def test_in_ack_event_reaches_a_cc_that_has_it_and_follows_a_switch():
    """tcp_in_ack_event: every ACK the sender processes calls the CC's in_ack_event
    (CA_ACK_SLOWPATH set); after a switch the new CC's members decide, not the old's."""
    seen = []

    def in_ack_event(self, sk, flags):
        seen.append(flags)

    register_cc(_cls("t_ackev", cong_avoid=lambda self, sk, a, n: tcp_reno_cong_avoid(sk, a, n),
                     in_ack_event=in_ack_event))  # fmt: skip
    register_cc(_cls("t_plain", cong_avoid=lambda self, sk, a, n: tcp_reno_cong_avoid(sk, a, n)))
    w, a, b = two_hosts()
    srv = TcpStack.of(b).listen(80)
    sk = TcpStack.of(a).connect(b.addr, 80, "f", cc="t_plain")
    sk.send(200 * 1448)
    w.run(300_000_000)
    assert seen == [] and sk.bytes_acked > 0  # t_plain has no in_ack_event
    sk.set_congestion_control("t_ackev")
    acked_before = sk.bytes_acked
    sk.send(200 * 1448)
    w.run(600_000_000)
    assert srv.accepted[0].bytes_received == 400 * 1448
    assert sk.bytes_acked > acked_before and len(seen) >= 200 // 2  # delayed ACKs: one per two
    assert all(flags & CA_ACK_SLOWPATH for flags in seen)
    sk.set_congestion_control("t_plain")
    calls = len(seen)
    sk.send(100 * 1448)
    w.run(900_000_000)
    assert len(seen) == calls and srv.accepted[0].bytes_received == 500 * 1448
