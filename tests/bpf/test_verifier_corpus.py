"""The load-time verifier on the committed corpus: every good program loads, every must-fail does not.

The good programs are whatever examples/bpf holds outside must_fail/ (a new
corpus object is checked without editing this file); each must-fail object
is listed with the program, the rule and the source line the refusal names.
Times are printed by ``qdisclab bpf verify --static`` (never asserted).
"""

from __future__ import annotations

import pytest
from bpf_attach import dumbbell, run_json
from bpf_corpus import EXAMPLES, OBJECTS

from qdisclab.bpf.objects import load_object
from qdisclab.bpf.verifier.adapter import targets
from qdisclab.bpf.verifier.objects import (
    ObjectRejected,
    check_object,
    verify_object,
    verify_target,
)
from qdisclab.cli import main
from qdisclab.errors import ExtensionFault
from qdisclab.scenario.loader import ScenarioError

GOOD = [p for p in OBJECTS if "must_fail" not in p.parts]

# object -> (program refused, rule, source text and line of the refusal)
MUST_FAIL = {
    "leak_on_branch": (
        "leak_enqueue", "reference-leak", "if (skb->len > 1000) @ leak_on_branch.bpf.c:18"
    ),
    "insert_twice": (
        "twice_enqueue", "double-release", "skb = bpf_kptr_xchg(&p->skb, skb); @ list_queue.h:25"
    ),
    "dequeue_unowned": (
        "peek_dequeue", "return-range", "skb = p->skb; /* BUG: the node (and so the queue) still "
        "owns it */ @ dequeue_unowned.bpf.c:36",
    ),
    "kfunc_not_allowed": (
        "wd_reset", "kfunc-allow-list", "bpf_qdisc_watchdog_schedule(sch, bpf_ktime_get_ns() + "
        "1000000, 0); @ kfunc_not_allowed.bpf.c:37",
    ),
    "packet_oob": (
        "drop_tcp_unchecked", "packet-bounds", "return ip[9] == 6 ? TCX_DROP : TCX_NEXT; /* BUG: "
        "no data_end check */ @ packet_oob.bpf.c:19",
    ),
}  # fmt: skip


@pytest.mark.parametrize("path", GOOD, ids=lambda p: p.stem)
def test_every_good_corpus_program_is_accepted(path):
    obj = load_object(path)
    verdicts = verify_object(obj, stop_at_first=False)
    refused = [v.error.report() for v in verdicts if v.error is not None]
    assert not refused, "\n\n".join(refused)
    # every program of the object was verified at its attach point
    assert {v.target.program.name for v in verdicts} == set(obj.programs)
    assert all(v.stats is not None and v.stats.insns_processed > 0 for v in verdicts)


def test_the_must_fail_list_covers_the_corpus():
    assert {p.name.removesuffix(".bpf.o") for p in OBJECTS if "must_fail" in p.parts} == set(
        MUST_FAIL
    )


@pytest.mark.parametrize("name", sorted(MUST_FAIL))
def test_must_fail_program_is_refused_at_load_with_rule_and_source_line(name):
    program, rule, source = MUST_FAIL[name]
    obj = load_object(EXAMPLES / "must_fail" / f"{name}.bpf.o")
    with pytest.raises(ObjectRejected) as caught:
        check_object(obj)
    err = caught.value.verdict.error
    assert caught.value.verdict.target.program.name == program
    assert err.rule == rule, err.report()
    assert err.source == source, err.report()
    line = str(caught.value)
    assert "\n" not in line and program in line and f"({rule})" in line and source in line
    # every other program of the object is fine: the refusal is about that one program
    others = [t for t in targets(obj) if t.program.name != program]
    assert all(v.accepted for v in verify_object_targets(obj, others))


def verify_object_targets(obj, chosen):
    return [verify_target(obj, t) for t in chosen]


def test_verify_static_prints_log_tail_and_summary_and_exits_1(capsys):
    path = EXAMPLES / "must_fail" / "leak_on_branch.bpf.o"
    assert main(["bpf", "verify", "--static", str(path)]) == 1
    out = capsys.readouterr().out
    # the kernel's log: instructions with registers, the source line as "; text @ file:LINE"
    assert "; if (skb->len > 1000) @ leak_on_branch.bpf.c:18" in out
    assert "(95) exit" in out and "R9=trusted_ptr_sk_buff(ref_obj_id=1)" in out
    assert "Unreleased reference id=1 alloc_insn=0" in out
    assert "rule: reference-leak" in out and "path: insn 3: taken" in out
    assert out.rstrip().endswith("rejected by qdisclab's verifier")


def test_verify_static_accepts_fq_with_one_line_per_program(capsys):
    path = EXAMPLES / "fq.bpf.o"
    assert main(["bpf", "verify", "--static", str(path)]) == 0
    lines = capsys.readouterr().out.splitlines()
    members = ("enqueue", "dequeue", "init", "reset", "destroy")
    for member in members:
        assert any(f"(Qdisc_ops.{member}): accepted: processed " in line for line in lines)
    assert lines[-1].endswith("accepted by qdisclab's verifier")


def test_verify_static_of_an_object_that_does_not_load_is_a_user_error(capsys):
    bad = EXAMPLES.parents[1] / "tests/bpf/objects/unknown_kfunc.bpf.o"
    assert main(["bpf", "verify", "--static", str(bad)]) == 2
    assert "bpf_qdisc_teleport" in capsys.readouterr().err


@pytest.mark.no_conservation_check  # nothing runs
@pytest.mark.parametrize("policy", ["strict", "contain"])
def test_a_run_refuses_an_object_the_verifier_refuses(tmp_path, policy):
    loaded = dumbbell(tmp_path, "bpf:leak_on_branch.bpf.o", ("must_fail/leak_on_branch.bpf.o",))
    with pytest.raises(ScenarioError) as caught:
        run_json(loaded, policy=policy)
    text = str(caught.value)
    assert "\n" not in text and "qdisc_a" in text
    assert "verifier refused leak_enqueue (Qdisc_ops.enqueue)" in text
    assert "(reference-leak)" in text and "leak_on_branch.bpf.c:18" in text
    assert "--policy off" in text


@pytest.mark.no_conservation_check  # the checker stops the run where the fault is
def test_policy_off_loads_the_object_unverified_under_the_run_time_checker(tmp_path):
    loaded = dumbbell(
        tmp_path, "bpf:leak_on_branch.bpf.o", ("must_fail/leak_on_branch.bpf.o",), duration="1s"
    )
    with pytest.raises(ExtensionFault) as caught:  # loaded, then caught leaking at run time
        run_json(loaded, policy="off")
    assert caught.value.callback == "enqueue" and "leak" in str(caught.value)


def test_qdisclab_run_exits_2_naming_program_rule_and_line(tmp_path, capsys):
    scenario = tmp_path / "leak.toml"
    good = (EXAMPLES / "dumbbell_fifo.toml").read_text()
    scenario.write_text(good.replace("bpf:fifo.bpf.o", "bpf:leak_on_branch.bpf.o"))
    (tmp_path / "leak_on_branch.bpf.o").write_bytes(
        (EXAMPLES / "must_fail/leak_on_branch.bpf.o").read_bytes()
    )
    assert main(["run", str(scenario), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert "leak_enqueue" in err and "(reference-leak)" in err and "leak_on_branch.bpf.c:18" in err
