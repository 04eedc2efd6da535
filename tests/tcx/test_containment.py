"""A faulty tcx program: strict stops with one diagnostic, contain skips it as if detached."""

from __future__ import annotations

import pytest

from qdisclab.errors import ExtensionFault
from qdisclab.net import World
from qdisclab.skb import IPPROTO_UDP, SkBuff, skb_consume
from qdisclab.tcx import TC_ACT_UNSPEC, TCX_NEXT, TCX_PASS, Tcx


def _world(policy: str, prog):
    w = World(seed=3, policy=policy)
    a, b = w.add_host("A"), w.add_host("B")
    w.connect(a, b, "1gbit", "1ms")
    w.build_routes()
    got = []

    class Sink:
        def receive(self, skb):
            got.append(skb)
            skb_consume(skb)

    b.register_protocol(IPPROTO_UDP, Sink())
    dev = next(iter(a.devices.values()))
    tcx = Tcx.of(dev)
    marks = []

    def first(ctx):
        marks.append("first")
        return TCX_NEXT

    def second(ctx):
        marks.append("second")
        return TCX_NEXT

    tcx.egress.attach(tcx.load(first, name="first"))
    tcx.egress.attach(tcx.load(prog, name="faulty"))
    tcx.egress.attach(tcx.load(second, name="second"))
    books = w.flow_books("f")

    def send(n):
        for i in range(n):
            skb = SkBuff(500, a.addr, b.addr, 1000 + i, 9, IPPROTO_UDP, w.now, books)
            books.book_sent(skb)
            a.output(skb)
        w.run()

    return w, send, got, marks


def raises(ctx):
    raise KeyError("no such flow")


def returns_none(ctx):
    if ctx.sport == 1000:
        return TCX_PASS
    return None


@pytest.mark.no_conservation_check  # strict stops mid-run on purpose
@pytest.mark.parametrize(
    ("prog", "fragment"),
    [(raises, "raised KeyError: 'no such flow'"), (returns_none, "returned None, not a TCX_*")],
)
def test_strict_stops_with_the_program_hook_packet_and_problem(prog, fragment):
    _w, send, _got, _marks = _world("strict", prog)
    with pytest.raises(ExtensionFault) as info:
        send(3)
    fault = info.value
    assert fault.kind == "tcx program faulty" and fault.callback.endswith("egress")
    assert (
        fragment in fault.problem and "proto 17 len 514" in fault.packet
    )  # the frame: 500 + ETH_HLEN


@pytest.mark.parametrize("prog", [raises, returns_none])
def test_contain_skips_the_program_as_if_detached_and_books_balance(prog):
    w, send, got, marks = _world("contain", prog)
    send(5)
    [(_where, kind, text)] = w.faults
    assert kind == "tcx:faulty" and "tcx program faulty" in text
    assert len(got) == 5  # every packet delivered; the faulty one skipped from the fault on
    # Each program around the faulty one ran once per packet it saw: the one before it
    # is not run again for the faulting packet; the one after it runs for that packet
    # (the chain goes on after the fault) and for every later one. returns_none passes
    # the first packet itself, so "second" never sees that one.
    assert marks.count("first") == 5
    assert marks.count("second") == (5 if prog is raises else 4)
    w.check_conservation()


def writes_len(ctx):
    ctx.len = 1
    return TCX_PASS


def writes_len_through_skb(ctx):
    ctx.skb.len = 1
    return TCX_PASS


def writes_sport(ctx):
    ctx.sport = 7
    return TCX_PASS


@pytest.mark.no_conservation_check  # strict stops mid-run on purpose
@pytest.mark.parametrize(
    ("prog", "fragment"),
    [
        (writes_len, "ctx.len is read-only to a tc program"),
        (writes_sport, "ctx.sport is read-only to a tc program"),
        (writes_len_through_skb, "wrote skb.len (514 -> 1): read-only to a tc program"),
    ],
)
def test_writing_len_or_a_flow_key_is_a_fault_naming_the_field(prog, fragment):
    _w, send, _got, _marks = _world("strict", prog)
    with pytest.raises(ExtensionFault) as info:
        send(1)
    assert info.value.kind == "tcx program faulty"
    assert info.value.problem.startswith(fragment), info.value.problem


def test_a_contained_len_write_is_undone_so_the_books_balance():
    w, send, got, _marks = _world("contain", writes_len_through_skb)
    send(3)
    assert [kind for _where, kind, _text in w.faults] == ["tcx:faulty"]
    assert [s.len for s in got] == [500, 500, 500]  # as sent (the receiver pulled ETH_HLEN)
    w.check_conservation()


def _classic_world(policy: str):
    """A's egress: a NEXT program, then classic filters: one that raises, one that counts."""
    w, send, got, _marks = _world(policy, lambda ctx: TCX_NEXT)
    dev = next(iter(w.node("A").devices.values()))
    tcx = Tcx.of(dev)
    tcx.add_qdisc("clsact")
    seen = []

    def broken(ctx):
        raise ValueError("bad match")

    tcx.egress.add_filter(broken, prio=1, handle=1)
    tcx.egress.add_filter(lambda ctx: seen.append(ctx.sport) or TC_ACT_UNSPEC, prio=2, handle=1)
    return w, send, got, seen, tcx


@pytest.mark.no_conservation_check  # strict stops mid-run on purpose
def test_a_classic_filter_that_raises_is_its_own_fault_under_strict():
    _w, send, _got, _seen, _tcx = _classic_world("strict")
    with pytest.raises(ExtensionFault) as info:
        send(1)
    assert info.value.kind == "tc filter prio 1 handle 1"
    assert info.value.callback.endswith("egress")
    assert info.value.problem == "raised ValueError: bad match"


def test_a_contained_classic_filter_is_deleted_and_the_next_filter_runs():
    w, send, got, seen, tcx = _classic_world("contain")
    send(3)
    assert [kind for _where, kind, _text in w.faults] == ["filter:prio 1 handle 1"]
    assert [(f.prio, f.handle) for f in tcx.egress.classic] == [(2, 1)]
    assert seen == [1000, 1001, 1002] and len(got) == 3
    w.check_conservation()
