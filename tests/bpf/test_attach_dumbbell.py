"""Acceptance: the BPF FIFO at the dumbbell's bottleneck is indistinguishable from pfifo."""

from __future__ import annotations

import json

import pytest
from bpf_attach import dumbbell, run_json

from qdisclab.scenario.loader import ScenarioError


def test_bpf_fifo_matches_pfifo_flow_for_flow(tmp_path):
    python = run_json(dumbbell(tmp_path, "pfifo limit 60"))
    bpf = run_json(dumbbell(tmp_path, "bpf:fifo.bpf.o limit 60", ("fifo.bpf.o",)))
    result = json.loads(bpf)
    bottleneck = next(q for q in result["qdiscs"] if q["kind"] == "bpf_fifo")
    assert bottleneck["drops"] > 0, "the limit must bite, or the comparison shows little"
    # Byte-identical apart from the kind the bottleneck's qdisc registered under.
    assert bpf.replace('"bpf_fifo"', '"pfifo"') == python


def test_bpf_path_is_relative_to_the_scenario_and_checked(tmp_path):
    with pytest.raises(ScenarioError, match=r"qdisc_a.*nothere.bpf.o.*does not exist"):
        dumbbell(tmp_path, "bpf:nothere.bpf.o")


def test_bpf_prio_with_pfifo_children_matches_the_builtin_prio(tmp_path):
    # init creates three pfifo children by name (a __str argument); enqueue and
    # dequeue reach them as (sch, classid), the classful kfuncs' kernel form.
    python = run_json(dumbbell(tmp_path, "prio"))
    bpf = run_json(dumbbell(tmp_path, "bpf:prio.bpf.o", ("prio.bpf.o",)))
    result = json.loads(bpf)
    children = [q for q in result["qdiscs"] if q["parent"].startswith("8001:")]
    assert [q["kind"] for q in children] == ["pfifo"] * 3
    assert sum(q["packets"] for q in children) > 0
    assert bpf.replace('"bpf_prio"', '"prio"') == python
