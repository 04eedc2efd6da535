import errno

import pytest
from tests.tcp.helpers import two_hosts

from qdisclab.errors import KernelError
from qdisclab.tcp import TcpStack
from qdisclab.tcp.apps import FiniteTransfer, RequestResponse
from qdisclab.tcp.sock import TCP_CLOSE, TCP_ESTABLISHED


def test_handshake_mss_and_transfer_completes_with_conservation():
    w, a, b = two_hosts()
    t = FiniteTransfer(a, b, 80, 1_000_000, "x", cc="reno")
    w.run(3_000_000_000)
    assert t.sk.mss_cache == 1448
    assert t.fct_ns is not None and t.fct_ns > 40_000_000  # > 2 RTT (handshake + data)
    assert t.sk.state == TCP_CLOSE
    assert t.listener.accepted[0].bytes_received == 1_000_000
    books = w.check_conservation()
    assert books["in_flight"] == 0


def test_full_mss_segment_is_1500_bytes():
    w, a, b = two_hosts()
    sizes = []
    dev = a.devices["eth0"]
    # tc egress sees the Ethernet frame (as on Linux); the IP packet is its length minus mac_len
    dev.egress_hook = lambda skb: sizes.append(skb.len - skb.mac_len) or 0
    t = FiniteTransfer(a, b, 80, 100_000, "x")
    w.run(1_000_000_000)
    assert max(sizes) == 1500 and t.fct_ns is not None


def test_transfer_survives_loss_and_retransmits():
    w, a, b = two_hosts(loss=0.02)
    t = FiniteTransfer(a, b, 80, 2_000_000, "x", cc="cubic")
    w.run(20_000_000_000)
    assert t.listener.accepted[0].bytes_received == 2_000_000
    assert t.sk.stats.retrans > 0
    w.check_conservation()


def test_request_response_latency_is_about_one_rtt():
    w, a, b = two_hosts(delay="5ms")
    rr = RequestResponse(a, b, 80, 100, 1000, 5, "rr")
    w.run(2_000_000_000)
    assert len(rr.latencies) == 5
    for lat in rr.latencies:
        assert 10_000_000 <= lat < 12_000_000


def test_set_congestion_control_enoent_and_switch():
    w, a, b = two_hosts()
    TcpStack.of(b).listen(80)
    sk = TcpStack.of(a).connect(b.addr, 80, "s", cc="reno")
    w.run(100_000_000)
    assert sk.state == TCP_ESTABLISHED
    with pytest.raises(KernelError) as exc:
        sk.set_congestion_control("nope")
    assert exc.value.errno == errno.ENOENT
    sk.set_congestion_control("cubic")
    assert sk.icsk_ca_ops.name == "cubic"


def test_sock_ops_hooks_are_called():
    class Rec:
        def __init__(self):
            self.events = []

        def event(self, sk, name, *args):
            self.events.append(name)
            return 3000 if name == "timeout_init" else None

    w, a, b = two_hosts()
    TcpStack.of(b).listen(80)
    rec = Rec()
    sk = TcpStack.of(a).connect(b.addr, 80, "s", sock_ops=rec)
    assert sk.rto == 3_000_000_000
    sk.send(50_000)
    w.run(500_000_000)
    for name in ("timeout_init", "connect", "active_established", "rtt", "state_change"):
        assert name in rec.events
