"""``qdisclab check`` on a congestion control, a tcx program and a compiled BPF qdisc."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from qdisclab.check import EXCEPTION, LOAD, OWNERSHIP, REGISTRATION, RESULT, check_file
from qdisclab.check.cc import check_congestion_control, run_events
from qdisclab.check.tcx_program import check_tcx_program
from qdisclab.cli import main
from qdisclab.tcp.cc.bbr import Bbr
from qdisclab.tcp.cc.cubic import Cubic
from qdisclab.tcp.cc.dctcp import Dctcp
from qdisclab.tcp.cc.reno import Reno
from qdisclab.tcp.congestion import CongestionOps, lookup_cc
from qdisclab.tcx import TCX_DROP, TCX_NEXT, TCX_PASS

ROOT = Path(__file__).resolve().parents[2]
BPF = ROOT / "examples" / "bpf"

CONTROLS = """
from qdisclab.tcp.congestion import tcp_reno_cong_avoid, tcp_reno_ssthresh
from tests.tcp.test_cc_containment import RaisesAfter100, ZeroCwnd  # the containment tests' own


class SsthreshOne(RaisesAfter100):
    name = "t_chk_ss1"

    def cong_avoid(self, sk, ack, acked):
        tcp_reno_cong_avoid(sk, ack, acked)

    def ssthresh(self, sk):
        return max(sk.snd_cwnd // 8, 1)  # bug: the floor is 2


class UndoTooFar(SsthreshOne):
    name = "t_chk_undo"

    def ssthresh(self, sk):
        return tcp_reno_ssthresh(sk)

    def undo_cwnd(self, sk):
        return sk.snd_cwnd * 10  # bug: "restores" a window the flow never had
"""


@pytest.fixture
def controls(tmp_path):
    path = tmp_path / "controls.py"
    path.write_text(CONTROLS)
    return path


@pytest.mark.no_conservation_check  # strict stops the flow where the fault is
@pytest.mark.parametrize(
    ("name", "category", "callback", "fragment"),
    [
        ("RaisesAfter100", EXCEPTION, "cong_avoid", "raised ValueError: bug after 100 ACKs"),
        ("ZeroCwnd", RESULT, "cong_avoid", "set snd_cwnd = 0: cwnd must stay an int >= 1"),
        ("SsthreshOne", RESULT, "ssthresh", "ssthresh must stay >= 2"),
        ("UndoTooFar", RESULT, "undo_cwnd", "more than the largest window the flow had"),
    ],
)
def test_each_faulty_congestion_control_is_caught_with_a_short_event_trace(
    controls, name, category, callback, fragment
):
    [result] = check_file(f"{controls}:{name}")
    [finding] = result.findings
    assert (finding.category, finding.callback) == (category, callback), finding
    assert fragment in finding.message
    assert 1 <= len(finding.trace) <= 3, finding.trace
    assert lookup_cc(result.name) is None  # check registered it only while checking


def test_a_congestion_control_registration_refuses_is_a_registration_finding():
    class NoUndo(CongestionOps):
        name = "t_chk_noundo"

        def ssthresh(self, sk):
            return 2

        def cong_avoid(self, sk, ack, acked):
            pass

    [finding] = check_congestion_control(NoUndo, examples=1).findings
    assert finding.category == REGISTRATION and finding.errno == "EINVAL"
    assert "undo_cwnd" in finding.message


@pytest.mark.parametrize("cls", [Reno, Cubic, Dctcp, Bbr], ids=lambda c: c.name)
def test_the_builtin_congestion_controls_pass(cls):
    result = check_congestion_control(cls, examples=30)
    assert result.ok, result.findings
    assert lookup_cc(cls.name) is cls  # still registered, untouched


def test_the_event_plan_reaches_the_flow():
    class CountsLosses(CongestionOps):
        name = "t_chk_count"
        losses = 0

        def ssthresh(self, sk):
            CountsLosses.losses += 1
            return max(sk.snd_cwnd // 2, 2)

        def cong_avoid(self, sk, ack, acked):
            sk.snd_cwnd += 1

        def undo_cwnd(self, sk):
            return sk.snd_cwnd

    from qdisclab.tcp.congestion import register_cc, unregister_cc

    register_cc(CountsLosses)
    try:
        assert run_events(CountsLosses, [("link", 5_000_000, 10_000_000)]) is None
        assert CountsLosses.losses == 0  # no event: no loss on a fifo that never fills
        assert run_events(CountsLosses, [("drop", 30)]) is None
        assert CountsLosses.losses == 1  # one dropped segment: one reduction
    finally:
        unregister_cc("t_chk_count")


@pytest.mark.no_conservation_check
def test_cli_checks_a_congestion_control_file_and_prints_json(controls, capsys):
    assert main(["check", f"{controls}:ZeroCwnd", "--json", "--examples", "20"]) == 1
    [row] = json.loads(capsys.readouterr().out)
    assert row["congestion_control"] == "t_zerocwnd" and row["ok"] is False
    assert row["findings"][0]["callback"] == "cong_avoid"


PROGRAMS = """
from qdisclab.tcx import TCX_DROP, TCX_NEXT, TCX_PASS


def raises(ctx):
    if ctx.len > 1000:
        raise KeyError("no such flow")
    return TCX_NEXT


def returns_none(ctx):
    return None if ctx.mark else TCX_PASS


def reserved_code(ctx):
    return 5 if ctx.dport == 443 else TCX_NEXT


def fine(ctx):
    return TCX_DROP if ctx.dport == 22 else TCX_NEXT


class Counter:
    def __init__(self):
        self.seen = 0

    def __call__(self, ctx):
        self.seen += 1
        return TCX_NEXT
"""


@pytest.fixture
def programs(tmp_path):
    path = tmp_path / "progs.py"
    path.write_text(PROGRAMS)
    return path


@pytest.mark.no_conservation_check
@pytest.mark.parametrize(
    ("name", "category", "fragment"),
    [
        ("raises", EXCEPTION, "raised KeyError"),
        ("returns_none", RESULT, "returned None, not a TCX_* verdict"),
        ("reserved_code", RESULT, "returned 5, not a TCX_* verdict"),
    ],
)
def test_each_faulty_tcx_program_is_caught_on_a_packet_that_shows_it(
    programs, name, category, fragment
):
    [result] = check_file(f"{programs}:{name}")
    [finding] = result.findings
    assert finding.category == category and fragment in finding.message, finding
    assert name in finding.kind and "egress" in finding.callback
    [packet] = finding.trace  # one packet is enough, and shrinking finds it
    assert packet.startswith("packet(")
    if name == "raises":
        assert "len=1500" in packet  # only a long packet raises


@pytest.mark.parametrize("name", ["fine", "Counter"])
def test_a_well_behaved_program_passes(programs, name):
    [result] = check_file(f"{programs}:{name}", examples=40)
    assert result.ok, result.findings


def test_a_program_passed_directly_passes_or_fails_by_its_verdicts():
    assert check_tcx_program(lambda ctx: TCX_PASS, "pass", examples=5).ok
    assert check_tcx_program(lambda ctx: TCX_DROP, "drop", examples=5).ok
    assert not check_tcx_program(lambda ctx: "pass", "str", examples=5).ok


# The corpus's must-fail BPF qdiscs that load: each found at run time, as a Python one would be.
# object -> (kind, callback, what the diagnostic says, source the line is from)
MUST_FAIL = {
    "leak_on_branch": ("bpf_leak", "enqueue", "leak", "leak_on_branch.bpf.c:", "reference-leak"),
    "insert_twice": ("bpf_twice", "enqueue", "double insertion", "list_queue.h:", "double-release"),
    "dequeue_unowned": (
        "bpf_peek", "dequeue", "does not own", "dequeue_unowned.bpf.c:", "return-range"
    ),
}  # fmt: skip


@pytest.mark.no_conservation_check
@pytest.mark.parametrize("name", sorted(MUST_FAIL))
def test_each_must_fail_bpf_qdisc_is_found_by_both_layers(name):
    kind, callback, what, source, rule = MUST_FAIL[name]
    [result] = check_file(str(BPF / "must_fail" / f"{name}.bpf.o"))
    refused, finding = result.findings  # the verifier's refusal, then what running it did
    assert refused.category == LOAD and f"({rule})" in refused.message
    assert "refused by the verifier" in refused.message and source.rstrip(":") in refused.message
    assert (finding.category, finding.kind, finding.callback) == (OWNERSHIP, kind, callback)
    assert what in finding.message and source in finding.message and "insn " in finding.message
    assert len(finding.trace) <= 3


def test_the_bpf_qdisc_refused_at_load_is_a_load_finding_naming_it(capsys):
    ref = str(BPF / "must_fail" / "kfunc_not_allowed.bpf.o")
    [result] = check_file(ref)
    [finding] = result.findings
    assert finding.category == LOAD and "kfunc_not_allowed.bpf.o" in finding.message
    assert "bpf_qdisc_watchdog_schedule" in finding.message and "not allowed in reset" in (
        finding.message
    )
    assert main(["check", ref]) == 1
    assert "load" in capsys.readouterr().out


def test_the_bpf_fifo_passes_as_pfifo_does():
    [result] = check_file(str(BPF / "fifo.bpf.o"), examples=4, max_ops=4, options="limit 100")
    assert result.ok, result.findings
    assert result.coverage.limit == 100 and result.coverage.limit_reached()
    assert {"enqueue", "dequeue"} <= result.coverage.callbacks


def test_a_missing_bpf_object_or_options_for_a_program_are_user_errors(capsys, tmp_path, programs):
    assert main(["check", str(tmp_path / "nope.bpf.o")]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert main(["check", f"{programs}:fine", "--options", "limit 5"]) == 2
    assert "is not a qdisc" in capsys.readouterr().err


def test_tcx_next_is_a_valid_verdict():
    assert check_tcx_program(lambda ctx: TCX_NEXT, "next", examples=3).ok


@pytest.mark.parametrize("name", ["fq", "prio"])
def test_the_bpf_fq_and_prio_pass(name):
    # fq keeps throttled flows in an rbtree; prio creates pfifo children by name.
    [result] = check_file(str(BPF / f"{name}.bpf.o"), examples=4, max_ops=4)
    assert result.ok, result.findings
    assert {"init", "enqueue", "dequeue"} <= result.coverage.callbacks


def test_tcx_coverage_counts_the_drawn_sequences_not_the_shrinking_replays():
    calls = []

    def counting(ctx):
        calls.append(ctx.len)
        return TCX_PASS

    result = check_tcx_program(counting, "counting", examples=6)
    assert result.ok and result.coverage.sequences == 6
    assert sum(result.coverage.counts.values()) == len(calls) > 0  # one verdict per run

    bad = check_tcx_program(lambda ctx: "pass", "str", examples=6)
    assert not bad.ok and bad.coverage.sequences == 1  # the first sequence failed, then shrank


# -- compiled congestion controls and tc programs: the same checkers as their Python twins --


@pytest.mark.parametrize(("name", "kind"), [("dctcp", "bpf_dctcp"), ("cubic", "bpf_cubic")])
def test_a_bpf_congestion_control_object_is_checked_as_a_congestion_control(name, kind):
    [result] = check_file(str(BPF / f"{name}.bpf.o"), examples=3)
    assert result.ok, result.findings
    assert (result.what, result.name) == ("congestion_control", kind)
    assert result.coverage.sequences == 3 and sum(result.coverage.counts.values()) > 0
    assert lookup_cc(kind) is None  # registered only while checked, as a Python one


def test_each_tc_program_of_an_object_is_checked_at_its_own_hook():
    results = check_file(str(BPF / "tc_count_mark.bpf.o"), examples=3)
    assert [(r.what, r.cls_name) for r in results] == [
        ("tcx_program", "count_ingress"), ("tcx_program", "mark_egress")
    ]  # fmt: skip
    for r in results:
        assert r.ok, r.findings
        assert set(r.coverage.counts) == {"TCX_NEXT"}  # both count or mark, then pass it on
    # each runs at one hook only (its section's direction): one verdict per packet sent
    assert results[0].coverage.counts == results[1].coverage.counts
    [one] = check_file(f"{BPF / 'tc_count_mark.bpf.o'}:count_ingress", examples=2)
    assert one.name == "tc_count_mark.bpf.o:count_ingress" and one.ok


@pytest.mark.no_conservation_check  # strict stops at the fault
def test_the_out_of_bounds_tc_program_is_found_by_both_layers():
    [result] = check_file(str(BPF / "must_fail" / "packet_oob.bpf.o"), examples=20)
    refused, finding = result.findings
    assert refused.category == LOAD and "(packet-bounds)" in refused.message
    assert refused.kind == "tcx program drop_tcp_unchecked"
    assert finding.category == EXCEPTION and finding.callback == "eth0 ingress"
    assert "out-of-bounds read" in finding.message and "packet_oob.bpf.c:19:" in finding.message
    [packet] = finding.trace
    assert "proto=tcp" in packet or "proto=udp" in packet


def test_cli_check_on_a_congestion_control_object_refuses_qdisc_options(capsys):
    assert main(["check", str(BPF / "dctcp.bpf.o"), "--options", "limit 5"]) == 2
    assert "holds no Qdisc_ops" in capsys.readouterr().err
    assert main(["check", str(BPF / "dctcp.bpf.o"), "--examples", "2", "--json"]) == 0
    [row] = json.loads(capsys.readouterr().out)
    assert row["congestion_control"] == "bpf_dctcp" and row["ok"] is True


# -- --policy contain: the fault is contained as in a scenario, the run goes on, then reported --


@pytest.mark.parametrize(
    ("name", "category", "fragment"),
    [
        ("RaisesAfter100", EXCEPTION, "raised ValueError: bug after 100 ACKs"),
        ("ZeroCwnd", RESULT, "set snd_cwnd = 0"),
    ],
)
def test_contain_detaches_a_faulty_congestion_control_and_reports_it(
    controls, name, category, fragment
):
    [result] = check_file(f"{controls}:{name}", examples=20, policy="contain")
    [finding] = result.findings
    assert (finding.category, finding.callback) == (category, "cong_avoid"), finding
    assert finding.message.startswith("contained fault: ") and fragment in finding.message
    assert "went on with reno, the books balance" in finding.message
    assert finding.kind == f"tcp_congestion_ops {result.name}"
    assert 1 <= len(finding.trace) <= 3


def test_contain_still_reports_what_containment_does_not_cover(controls):
    # ssthresh 1 is no fault the stack contains: the check's own invariant reports it
    [finding] = check_file(f"{controls}:SsthreshOne", examples=20, policy="contain")[0].findings
    assert finding.category == RESULT and "ssthresh must stay >= 2" in finding.message


@pytest.mark.parametrize(
    ("name", "category", "fragment"),
    [("raises", EXCEPTION, "raised KeyError"), ("returns_none", RESULT, "returned None")],
)
def test_contain_skips_a_faulty_tcx_program_and_reports_it(programs, name, category, fragment):
    [result] = check_file(f"{programs}:{name}", policy="contain")
    [finding] = result.findings
    assert finding.category == category and fragment in finding.message, finding
    assert finding.message.startswith("contained fault: ") and "skipped" in finding.message
    assert finding.kind == f"tcx program {name}" and finding.callback == "eth0 egress"
    assert len(finding.trace) == 1  # one packet shows it, as under strict


def test_contain_on_a_bpf_tc_program_and_the_cli(capsys):
    ref = str(BPF / "must_fail" / "packet_oob.bpf.o")
    [result] = check_file(ref, examples=20, policy="contain")
    refused, finding = result.findings
    assert refused.category == LOAD
    assert finding.category == EXCEPTION and finding.message.startswith("contained fault: ")
    assert main(["check", ref, "--policy", "contain", "--examples", "20"]) == 1
    out = capsys.readouterr().out
    assert "contained fault: raised BpfFault" in out and "the books balance" in out
