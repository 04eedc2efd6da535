"""Acceptance: compiled tc programs are mprog programs: order, flags, links, faults."""

from __future__ import annotations

import shutil

import pytest
from bpf_attach import dumbbell, run_json
from bpf_corpus import EXAMPLES, obj

from qdisclab.bpf.bpf_tcx import load_tc_program, tcx_program
from qdisclab.bpf.errors import BpfLoadError
from qdisclab.errors import ExtensionFault, UserError
from qdisclab.mprog import BPF_TCX_EGRESS, BPF_TCX_INGRESS
from qdisclab.net import World
from qdisclab.scenario.model import TcxSpec
from qdisclab.skb import ETH_HLEN, IPPROTO_TCP, IPPROTO_UDP, SkBuff, skb_consume
from qdisclab.tcx import TCX_PASS, Tcx

STAT_PACKETS, STAT_BYTES, STAT_TCP, STAT_MARKED = range(4)
MARK_LARGE = 0x2A


def _world(policy: str = "strict"):
    w = World(seed=3, policy=policy)
    a, b = w.add_host("A"), w.add_host("B")
    w.connect(a, b, "1gbit", "1ms")
    w.build_routes()
    got: list[SkBuff] = []

    class Sink:
        def receive(self, skb):
            got.append(skb)
            skb_consume(skb)

    b.register_protocol(IPPROTO_UDP, Sink())
    b.register_protocol(IPPROTO_TCP, Sink())
    books = w.flow_books("f")

    def send(sizes, protocol=IPPROTO_UDP, payload=None):
        for i, size in enumerate(sizes):
            skb = SkBuff(size, a.addr, b.addr, 1000 + i, 9, protocol, w.now, books,
                         payload=payload)  # fmt: skip
            books.book_sent(skb)
            a.output(skb)
        w.run()

    return w, a, b, send, got


def _stat(prog, index: int) -> int:
    value = prog.bound.map("tc_stats").lookup(index)
    return int.from_bytes(value, "little")


def test_bpf_program_attached_before_a_python_program_runs_first():
    _, a, _, send, got = _world()
    tcx = Tcx.of(next(iter(a.devices.values())))
    seen = []

    def python_prog(ctx):  # sees what the BPF program did, if it ran first
        seen.append((ctx.len, ctx.mark, ctx.priority))
        return TCX_PASS  # stops the chain: a program after it would not run

    py = tcx.load(python_prog, name="python")
    tcx.egress.attach(py)
    mark = tcx_program(obj("tc_count_mark"), "tcx/egress")
    bpf = load_tc_program(tcx, mark)
    tcx.egress.attach(bpf, before=py)
    assert bpf.expected_attach_type == BPF_TCX_EGRESS
    assert [p.name for p in tcx.egress.programs] == ["mark_egress", "python"]
    assert tcx.egress.query().prog_ids == (bpf.id, py.id)
    send([1200, 300, 1400])
    frames = [n + ETH_HLEN for n in (1200, 300, 1400)]  # the tc hook sees the frame
    assert seen == [(frames[0], MARK_LARGE, 0), (frames[1], 0, 6), (frames[2], MARK_LARGE, 0)]
    assert _stat(mark, STAT_MARKED) == 2 and len(got) == 3
    # Attached after the PASS, it never runs: the counter stays where it was.
    tcx.egress.detach(bpf)
    tcx.egress.attach(bpf, after=py)
    send([1500])
    assert _stat(mark, STAT_MARKED) == 2 and seen[-1] == (1500 + ETH_HLEN, 0, 0)


def test_bpf_program_through_a_link_and_on_ingress_counts_every_packet():
    _, _, b, send, got = _world()
    tcx = Tcx.of(next(iter(b.devices.values())))
    count = tcx_program(obj("tc_count_mark"), "count_ingress")
    prog = load_tc_program(tcx, count)
    assert prog.expected_attach_type == BPF_TCX_INGRESS
    link = tcx.ingress.link(prog)
    header = bytes([0x45]) + bytes(8) + bytes([IPPROTO_TCP]) + bytes(10)  # an IPv4 TCP header
    send([100, 200])  # simulated packets carry no bytes: data == data_end, no header read
    send([60], IPPROTO_TCP, payload=header)
    counted = [_stat(count, i) for i in (STAT_PACKETS, STAT_BYTES, STAT_TCP)]
    assert counted == [3, 360 + 3 * ETH_HLEN, 1]
    link.detach()
    send([100])
    assert _stat(count, STAT_PACKETS) == 3 and len(got) == 4


@pytest.mark.no_conservation_check  # strict stops mid-run on purpose
def test_out_of_bounds_packet_read_is_caught_under_strict():
    _, a, _, send, _ = _world("strict")
    tcx = Tcx.of(next(iter(a.devices.values())))
    # Made unverified: the run-time layer must catch what the verifier refuses at load.
    oob = tcx_program(obj("must_fail/packet_oob"), verify=False)
    tcx.egress.attach(load_tc_program(tcx, oob))
    with pytest.raises(ExtensionFault) as caught:
        send([100])
    text = str(caught.value)
    assert caught.value.kind == "tcx program drop_tcp_unchecked"
    assert "drop_tcp_unchecked: insn " in text and "out-of-bounds read of 1 bytes" in text
    assert "packet_oob.bpf.c:19:" in text  # the source line, from BTF line info
    assert "skb 10." in text  # and the packet


def test_out_of_bounds_packet_read_is_contained_under_contain():
    world, a, _, send, got = _world("contain")
    dev = next(iter(a.devices.values()))
    tcx = Tcx.of(dev)
    tcx.egress.attach(load_tc_program(tcx, tcx_program(obj("must_fail/packet_oob"), verify=False)))
    send([100, 200, 300])
    [(_dev, _name, fault)] = world.faults
    assert "out-of-bounds read" in fault and "packet_oob.bpf.c:19:" in fault
    assert len(got) == 3  # the packets went on
    send([400])
    assert len(got) == 4 and len(world.faults) == 1  # skipped from then on, as if detached


def test_a_refused_tc_program_never_loads_from_a_scenario_unless_the_policy_is_off(tmp_path):
    shutil.copy(EXAMPLES / "must_fail/packet_oob.bpf.o", tmp_path / "packet_oob.bpf.o")
    program = "bpf:packet_oob.bpf.o:tcx/ingress"
    for policy in ("strict", "contain"):
        loaded = dumbbell(tmp_path, "pfifo", duration="1s")
        loaded.scenario.tcx.append(TcxSpec(dev="R1:eth0", direction="egress", program=program))
        with pytest.raises(UserError, match=r"verifier refused drop_tcp_unchecked.*packet_oob"):
            run_json(loaded, policy=policy)
    with pytest.raises(BpfLoadError, match="verifier refused"):
        tcx_program(obj("must_fail/packet_oob"))
    loaded = dumbbell(tmp_path, "pfifo", duration="1s")
    loaded.scenario.tcx.append(TcxSpec(dev="R1:eth0", direction="egress", program=program))
    with pytest.raises(ExtensionFault, match="out-of-bounds read"):  # off: loads, then faults
        run_json(loaded, policy="off")


def test_tc_program_specs_are_checked():
    with pytest.raises(BpfLoadError, match="name the tc program to load"):
        tcx_program(obj("tc_count_mark"))
    with pytest.raises(BpfLoadError, match="not a tc program section"):
        tcx_program(obj("fifo"), "fifo_enqueue")
