import errno
import math

import pytest
from tests.tcp.helpers import bulk, two_hosts

from qdisclab.errors import ENOTSUPP, KernelError
from qdisclab.tcp import CongestionOps, register_cc, unregister_cc, update_cc
from qdisclab.tcp.congestion import tcp_reno_ssthresh, tcp_reno_undo_cwnd


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
    class S:
        snd_cwnd = 21
        prior_cwnd = 30

    assert tcp_reno_ssthresh(S) == 10
    assert tcp_reno_undo_cwnd(S) == 30


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
