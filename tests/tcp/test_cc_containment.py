"""A faulty congestion control: strict stops with one diagnostic, contain falls back to reno."""

from __future__ import annotations

import pytest

from qdisclab.errors import ExtensionFault
from qdisclab.net import World
from qdisclab.tcp import TcpStack
from qdisclab.tcp.apps import BulkSender
from qdisclab.tcp.congestion import (
    CongestionOps,
    register_cc,
    tcp_reno_cong_avoid,
    tcp_reno_ssthresh,
    tcp_reno_undo_cwnd,
    unregister_cc,
)


class RaisesAfter100(CongestionOps):
    name = "t_raise100"

    def init(self, sk):
        self.acks = 0

    def ssthresh(self, sk):
        return tcp_reno_ssthresh(sk)

    def cong_avoid(self, sk, ack, acked):
        self.acks += 1
        if self.acks > 100:
            raise ValueError("bug after 100 ACKs")
        tcp_reno_cong_avoid(sk, ack, acked)

    def undo_cwnd(self, sk):
        return tcp_reno_undo_cwnd(sk)


class ZeroCwnd(RaisesAfter100):
    name = "t_zerocwnd"

    def cong_avoid(self, sk, ack, acked):
        self.acks += 1
        sk.snd_cwnd = 0 if self.acks == 50 else sk.snd_cwnd + 1


@pytest.fixture(autouse=True)
def _registered():
    for cls in (RaisesAfter100, ZeroCwnd):
        register_cc(cls)
    yield
    for cls in (RaisesAfter100, ZeroCwnd):
        unregister_cc(cls.name)


def _run(cc: str, policy: str):
    w = World(seed=1, policy=policy)
    a, b = w.add_host("A"), w.add_host("B")
    w.connect(a, b, "100mbit", "5ms", qdisc="pfifo limit 1000")
    w.build_routes()
    TcpStack.of(a)
    TcpStack.of(b)
    flow = BulkSender(a, b, 5001, "f1", cc)
    w.run(2_000_000_000)
    return w, flow


@pytest.mark.no_conservation_check  # strict stops mid-run on purpose
@pytest.mark.parametrize(
    ("cc", "callback", "fragment"),
    [
        ("t_raise100", "cong_avoid", "raised ValueError: bug after 100 ACKs"),
        ("t_zerocwnd", "cong_avoid", "set snd_cwnd = 0: cwnd must stay an int >= 1"),
    ],
)
def test_strict_stops_with_the_kind_callback_socket_and_problem(cc, callback, fragment):
    with pytest.raises(ExtensionFault) as info:
        _run(cc, "strict")
    fault = info.value
    assert fault.kind == f"tcp_congestion_ops {cc}" and fault.callback == callback
    assert fragment in fault.problem and fault.packet == "socket f1"


@pytest.mark.parametrize("cc", ["t_raise100", "t_zerocwnd"])
def test_contain_falls_back_to_reno_and_the_run_finishes_with_the_fault_recorded(cc):
    w, flow = _run(cc, "contain")
    [(where, kind, text)] = w.faults
    assert (where, kind) == ("f1", cc) and "cong_avoid" in text
    assert flow.sk.icsk_ca_ops.name == "reno" and flow.sk.snd_cwnd >= 2
    assert flow.sk.bytes_acked > 10_000_000  # kept sending after the fallback
    w.check_conservation()


def test_builtins_and_policy_off_run_unwrapped():
    from qdisclab.tcp.cc_guard import cc_class_for
    from qdisclab.tcp.congestion import lookup_cc

    reno = lookup_cc("reno")
    assert cc_class_for(reno, "strict") is reno
    assert cc_class_for(RaisesAfter100, "off") is RaisesAfter100
    guarded = cc_class_for(RaisesAfter100, "strict")
    assert issubclass(guarded, RaisesAfter100) and guarded.name == "t_raise100"


def test_a_user_subclass_of_a_builtin_runs_guarded_and_behaves_as_the_builtin():
    # Built-ins may be compiled: a user class deriving from one must still instantiate,
    # run through the guard, and change nothing but the name.
    from qdisclab.tcp.cc.cubic import Cubic

    class TunedCubic(Cubic):
        name = "t_tuned_cubic"

    register_cc(TunedCubic)
    try:
        _, tuned = _run("t_tuned_cubic", "strict")
    finally:
        unregister_cc("t_tuned_cubic")
    _, builtin = _run("cubic", "strict")
    ops = tuned.sk.icsk_ca_ops
    assert isinstance(ops, TunedCubic) and type(ops) is not TunedCubic  # the guarded class
    assert (tuned.sk.bytes_acked, tuned.sk.snd_cwnd, tuned.sk.total_retrans) == (
        builtin.sk.bytes_acked,
        builtin.sk.snd_cwnd,
        builtin.sk.total_retrans,
    )
    assert tuned.sk.bytes_acked > 10_000_000


def _bbr_draws(seed: int) -> tuple[list[int], object]:
    from qdisclab.ops import lookup
    from qdisclab.tcp.congestion import bpf_get_prandom_u32

    w = World(seed=seed)
    a, b = w.add_host("A"), w.add_host("B")
    w.connect(a, b, "100mbit", "5ms")
    w.build_routes()
    TcpStack.of(a)
    TcpStack.of(b)
    flow = BulkSender(a, b, 5001, "f1", "bbr")
    w.run(300_000_000)
    assert lookup("bpf_get_prandom_u32", "tcp_congestion_ops").func is bpf_get_prandom_u32
    assert flow.sk.icsk_ca_ops.rng is None and flow.sk.cc_rng is not None  # BBR drew from it
    return [bpf_get_prandom_u32(flow.sk) for _ in range(5)], flow.sk


def test_cc_random_kfunc_is_a_stream_of_the_run_seed_and_bbr_draws_from_it():
    first, _ = _bbr_draws(1)
    again, _ = _bbr_draws(1)
    other, _ = _bbr_draws(2)
    assert first == again and first != other
