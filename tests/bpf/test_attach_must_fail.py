"""The corpus's must-fail BPF qdiscs at run time: caught under strict, contained under contain.

The load-time verifier refuses these objects before they run
(tests/bpf/test_verifier_corpus.py); here their kinds are attached with
``qdisc_kind(..., verify=False)`` so the run-time ownership checker, the second layer, is
what meets them.
"""

from __future__ import annotations

import json
import shutil

import pytest
from bpf_attach import dumbbell, run_json
from bpf_corpus import EXAMPLES

from qdisclab.bpf.bpf_qdisc import qdisc_kind
from qdisclab.bpf.objects import load_object
from qdisclab.ops.ownership import OwnershipViolation
from qdisclab.scenario.loader import ScenarioError
from qdisclab.sched.registry import register_qdisc

# object -> (kind, callback, program, what the diagnostic says, source the line is from)
RUNTIME = {
    "leak_on_branch": ("bpf_leak", "enqueue", "leak_enqueue", "leak", "leak_on_branch.bpf.c:"),
    "insert_twice": ("bpf_twice", "enqueue", "twice_enqueue", "double insertion", "list_queue.h:"),
    "dequeue_unowned": (
        "bpf_peek", "dequeue", "peek_dequeue", "does not own", "dequeue_unowned.bpf.c:"
    ),
}  # fmt: skip


def _scenario(tmp_path, name, verify=True):
    if not verify:  # the run-time checker's own test: attach the kind past the verifier first
        shutil.copy(EXAMPLES / f"must_fail/{name}.bpf.o", tmp_path)
        register_qdisc(qdisc_kind(load_object(tmp_path / f"{name}.bpf.o"), verify=False))
    return dumbbell(tmp_path, f"bpf:{name}.bpf.o", (f"must_fail/{name}.bpf.o",), duration="1s")


@pytest.mark.no_conservation_check  # strict stops the run where the fault is
@pytest.mark.parametrize("name", sorted(RUNTIME))
def test_strict_names_program_callback_insn_line_and_skb(tmp_path, name):
    kind, callback, program, what, source = RUNTIME[name]
    with pytest.raises(OwnershipViolation) as caught:
        run_json(_scenario(tmp_path, name, verify=False))
    err = caught.value
    assert (err.kind, err.callback) == (kind, callback)
    text = str(err)
    assert f"{program}: " in text and what in text
    assert "insn " in text and source in text
    assert "skb 10." in text and "flow S" in text  # the packet, with its flow


@pytest.mark.parametrize("name", sorted(RUNTIME))
def test_contain_finishes_with_balanced_books(tmp_path, name):
    kind, callback, program, _, _ = RUNTIME[name]
    result = json.loads(run_json(_scenario(tmp_path, name, verify=False), policy="contain"))
    [(dev, faulty_kind, fault)] = result["faults"]
    assert (dev, faulty_kind) == ("eth0", kind)
    assert fault.startswith(f"{kind}.{callback}: {program}: ") and "insn " in fault
    bottleneck = next(q for q in result["qdiscs"] if q["node"] == "R1" and q["dev"] == "eth0")
    assert bottleneck["kind"] == "pfifo"  # grafted in place of the detached instance
    books = result["conservation"]
    dropped = sum(books["dropped"].values())
    assert books["sent"] == books["delivered"] + dropped + books["in_flight"]
    assert books["dropped"].get("fault", 0) >= 1  # what it held was freed as fault drops
    assert sum(f["goodput_mbps"] for f in result["tcp"]) > 0  # the fallback carried traffic


def test_kfunc_outside_its_allow_list_is_refused_at_load(tmp_path):
    # As the kernel's verifier: the object does not load, whichever policy runs it.
    with pytest.raises(ScenarioError) as caught:
        _scenario(tmp_path, "kfunc_not_allowed")
    text = str(caught.value)
    assert "wd_reset (reset): insn " in text
    assert "bpf_qdisc_watchdog_schedule" in text and "only in dequeue, enqueue" in text
    assert "kfunc_not_allowed.bpf.c:37:" in text
