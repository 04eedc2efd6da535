"""A classifier program that fails is the filter's fault, not the qdisc's that called it.

Under strict the run stops with one diagnostic naming the filter, the packet
and where it is attached; under contain the filter is detached (the packet
goes on as if it did not match), the calling prio keeps running, and the
fault is listed with the run's faults.
"""

from __future__ import annotations

import json

import pytest
from qdisc_helpers import Recorder, packet

from qdisclab.cli import main
from qdisclab.errors import ExtensionFault
from qdisclab.net import World
from qdisclab.sched import TC_H_MAKE, TcFilter, create_qdisc
from qdisclab.skb import IPPROTO_UDP
from scenario.test_errors import GOOD  # tests/ is on the path, as for every test package


def boom(skb):
    if skb.dport == 2000:
        raise KeyError("no band for this port")
    return 0


def _prio_world(policy: str, *programs):
    world = World(seed=1, policy=policy)
    a, b = world.add_host("A"), world.add_host("B")
    dev = world.connect(a, b, "1gbit", "1ms").a
    world.build_routes()
    rec = Recorder(world)
    b.register_protocol(IPPROTO_UDP, rec)
    q = dev.set_qdisc(create_qdisc("prio", dev, handle=0x10000))
    for prio, program in enumerate(programs, start=1):
        q.filters.add(TcFilter(prio=prio, classid=0, program=program))
    return world, dev, q, rec


@pytest.mark.no_conservation_check  # strict stops at the fault, abandoning the packet
def test_strict_blames_the_filter_with_its_packet_and_attachment_not_prio():
    world, dev, _q, _rec = _prio_world("strict", boom)
    with pytest.raises(ExtensionFault) as info:
        dev.xmit(packet(world, dev))
    fault = info.value
    assert fault.kind == "tc filter boom"
    assert fault.callback == f"{dev.name} parent 1: prio 1"
    assert fault.problem == "raised KeyError: 'no band for this port'"
    assert ":1000 -> " in fault.packet and ":2000 proto 17" in fault.packet
    assert "prio.enqueue" not in str(fault)


def test_contain_detaches_the_filter_and_the_prio_and_later_filters_go_on():
    band3 = []

    def to_band3(skb):
        band3.append(skb.sport)
        return TC_H_MAKE(0x10000, 3)

    world, dev, q, rec = _prio_world("contain", boom, to_band3)
    for _ in range(4):
        dev.xmit(packet(world, dev))
    world.run()
    [(where, kind, text)] = world.faults
    assert (where, kind) == (dev.name, "filter:boom") and "tc filter boom" in text
    assert dev.qdisc is q and q.fault is None  # prio itself is not at fault
    assert [f.label for f in q.filters] == ["to_band3"] and [f.label for f in q.filters.faulty] == [
        "boom"
    ]
    assert len(band3) == 4 and q.children[3].packets == 4  # the next filter classified them all
    assert len(rec.arrivals) == 4
    world.check_conservation()


@pytest.mark.no_conservation_check
def test_a_program_returning_a_non_int_is_a_filter_fault_naming_what_it_returned():
    world, dev, _q, _rec = _prio_world("strict", lambda skb: "1:1")
    with pytest.raises(ExtensionFault, match=r"tc filter <lambda>\..* prio 1: returned '1:1', "
                       r"not a classid"):  # fmt: skip
        dev.xmit(packet(world, dev))


# The scenario of the error tests, its bottleneck a prio with one classifier program.
SCENARIO = GOOD.replace(
    'qdisc_a = "pfifo limit 10"',
    'qdisc_a = "prio"\n\n[[link.filter]]\nclassid = "8001:1"\nprogram = "classify.py:boom"',
)
assert "program" in SCENARIO

CLASSIFIER = """
def boom(skb):
    raise ZeroDivisionError("classifier bug")
"""


@pytest.mark.parametrize(
    "policy", [pytest.param("strict", marks=pytest.mark.no_conservation_check), "contain"]
)
def test_the_cli_reports_a_filter_fault_once(tmp_path, capsys, policy):
    (tmp_path / "classify.py").write_text(CLASSIFIER)
    (tmp_path / "s.toml").write_text(SCENARIO)
    code = main(["run", str(tmp_path / "s.toml"), "--json", "--policy", policy])
    out, err = capsys.readouterr()
    if policy == "strict":
        lines = err.strip().splitlines()
        assert code == 1 and len(lines) == 1, err
        assert lines[0].startswith("qdisclab: fault: tc filter boom.eth0 parent 8001: prio 1: raised "
                                   "ZeroDivisionError: classifier bug [skb ")  # fmt: skip
        return
    assert code == 0, err
    faults = json.loads(out)["faults"]
    assert [f[1] for f in faults] == ["filter:boom"]
    assert "tc filter boom" in faults[0][2]
