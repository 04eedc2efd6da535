"""Scenarios speak tc: a node's ``tc = [...]`` runs through qdisclab tc's parser, in order."""

from __future__ import annotations

import pytest

from qdisclab.errors import UserError
from qdisclab.scenario.build import build
from qdisclab.scenario.loader import load_text

SCENARIO = """
[run]
duration = "2s"

[[node]]
name = "A"
tc = [
  "qdisc add dev eth0 root handle 1: htb default 20",
  "class add dev eth0 parent 1: classid 1:1 htb rate 6mbit",
  "class add dev eth0 parent 1:1 classid 1:10 htb rate 2mbit ceil 6mbit",
  "class add dev eth0 parent 1:1 classid 1:20 htb rate 1mbit ceil 6mbit",
  "filter add dev eth0 parent 1: protocol ip prio 1 u32 match ip dport 5001 0xffff flowid 1:10",
]

[[node]]
name = "B"

[[link]]
a = "A"
b = "B"
rate = "100mbit"
delay = "5ms"

[[flow]]
type = "udp-cbr"
src = "A"
dst = "B"
name = "web"
dport = 5001
rate = "5mbit"

[[flow]]
type = "udp-cbr"
src = "A"
dst = "B"
name = "bulk"
dport = 5002
rate = "5mbit"
"""


def _world(text: str):
    ctx = build(load_text(text, "s.toml"))
    return ctx.world


def test_tc_lines_build_the_tree_the_filter_reaches_class_1_10():
    world = _world(SCENARIO)
    root = world.node("A").devices["eth0"].qdisc
    assert root.kind == "htb" and root.handle == 0x10000
    world.run(2_000_000_000)
    classes = root.ops.classes
    web, bulk = classes[0x10010].leaf, classes[0x10020].leaf
    assert web.packets > 0 and bulk.packets > 0
    # 5 + 5 Mbit/s into a 6 Mbit/s parent: both get at least their rate, web (2 mbit) more
    assert web.bytes > bulk.bytes
    text = world.tc_stats()
    assert "qdisc htb 1: dev eth0 root refcnt 2 r2q 10 default 0x20 direct_packets_stat 0" in text


def test_an_error_names_file_line_node_and_command():
    bad = SCENARIO.replace("htb rate 1mbit ceil 6mbit", "htb rate 1mbit ceil 6mbit colour red")
    with pytest.raises(UserError) as exc:
        _world(bad)
    text = str(exc.value)
    assert text.startswith("s.toml:11: node[0].tc[3]: found ")
    assert "class add dev eth0 parent 1:1 classid 1:20" in text
    assert text.endswith('node A: tc exited 1: What is "colour"?')


def test_a_filter_classid_must_name_a_qdisc_of_the_device():
    text = """
[[node]]
name = "A"
[[node]]
name = "B"
[[link]]
a = "A"
b = "B"
qdisc_a = "htb default 20 class 1:10 rate 1mbit class 1:20 rate 1mbit"
[[link.filter]]
classid = "1:10"
match = { dport = 80 }
"""
    with pytest.raises(UserError, match=r"no qdisc 1: on A/eth0 \(its qdiscs: 8001:\)"):
        _world(text)
