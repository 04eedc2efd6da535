"""Acceptance: the BPF FQ (flow map, DRR lists, rbtree of throttled flows) is as fair as fq."""

from __future__ import annotations

import json

from bpf_attach import builtin, run_json


def test_bpf_fq_on_fairness_matches_builtin_fq(tmp_path):
    # Six CUBIC flows with one-way access delays from 1 to 80 ms: a FIFO gives the short
    # ones most of the link, fair queueing evens them out.
    runs = {}
    for qdisc, objects in (("fq", ()), ("bpf:fq.bpf.o", ("fq.bpf.o",))):
        loaded = builtin(tmp_path, "fairness", qdisc, objects, duration="8s", window_start="3s")
        runs[qdisc] = json.loads(run_json(loaded))
    python, bpf = runs["fq"]["summary"], runs["bpf:fq.bpf.o"]["summary"]
    bottleneck = next(q for q in runs["bpf:fq.bpf.o"]["qdiscs"] if q["kind"] == "bpf_fq")
    assert bottleneck["packets"] > 10_000
    assert python["jain"] > 0.99  # fq itself is fair here, so the comparison means something
    assert abs(bpf["jain"] - python["jain"]) <= 0.01
    total = python["throughput_mbps_total"]
    assert abs(bpf["throughput_mbps_total"] - total) <= 0.01 * total
    for run in runs.values():
        books = run["conservation"]
        assert (
            books["sent"]
            == books["delivered"] + sum(books["dropped"].values()) + books["in_flight"]
        )
