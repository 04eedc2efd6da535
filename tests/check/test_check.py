"""``qdisclab check``: finds each broken example with a reproducing trace, passes good qdiscs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from qdisclab.check import (
    KFUNC,
    OWNERSHIP,
    REGISTRATION,
    STUCK,
    Target,
    check_file,
    check_target,
    load_qdisc_classes,
    parse_trace,
    replay,
)
from qdisclab.cli import main
from qdisclab.sched import builtin_qdisc_kinds

ROOT = Path(__file__).resolve().parents[2]
BROKEN = ROOT / "examples" / "broken"
GOOD = ROOT / "examples" / "qdiscs"

# (file, category, errno, message fragment)
CASES = [
    ("leak.py", OWNERSHIP, "", "enqueue returned while still owning its skb (leak"),
    ("double_enqueue.py", OWNERSHIP, "", "still queued in a collection (double insertion"),
    ("forged_dequeue.py", OWNERSHIP, "", "dequeue returned an skb it does not own"),
    (
        "drop_in_dequeue.py",
        KFUNC,
        "",
        "sch.drop() (kfunc bpf_qdisc_skb_drop) is allowed only in enqueue, not in dequeue; in dequeue use sch.kfree_skb()",
    ),
    ("missing_init.py", REGISTRATION, "EINVAL", "mandatory member 'init' is missing"),
    ("unsupported_op.py", REGISTRATION, "ENOTSUPP", "is not supported by Qdisc_ops"),
    ("stuck.py", STUCK, "", "dequeue returns None and no watchdog is armed"),
]


@pytest.mark.no_conservation_check  # check abandons the world of a faulty qdisc on purpose
@pytest.mark.parametrize(
    ("name", "category", "errno", "fragment"), CASES, ids=[c[0] for c in CASES]
)
def test_check_finds_each_broken_example_with_a_trace_that_reproduces(
    name, category, errno, fragment
):
    [result] = check_file(str(BROKEN / name), examples=100)
    assert not result.ok
    [finding] = result.findings
    assert finding.category == category and fragment in finding.message
    assert finding.errno == errno
    if category == REGISTRATION:
        return
    # The trace is short (shrunk) and replaying its printed lines gives the same failure.
    assert 1 <= len(finding.trace) <= 3, finding.trace
    [cls], _ = load_qdisc_classes(str(BROKEN / name))
    again = replay(Target(cls), parse_trace(finding.trace)).finding
    assert again is not None
    assert (again.category, again.message, again.callback) == (
        finding.category, finding.message, finding.callback
    )  # fmt: skip
    assert again.trace == finding.trace


@pytest.mark.no_conservation_check  # check abandons the world of a faulty qdisc on purpose
def test_cli_exit_status_and_json_for_a_broken_and_a_clean_qdisc(capsys):
    assert main(["check", str(BROKEN / "stuck.py"), "--examples", "200"]) == 1
    out = capsys.readouterr().out
    assert "stuck" in out and "enqueue(len=" in out and "dequeue() -> None" in out
    assert main(["check", str(BROKEN / "missing_init.py:MissingInit"), "--json"]) == 1
    [row] = json.loads(capsys.readouterr().out)
    assert row["findings"][0]["errno"] == "EINVAL" and row["class"] == "MissingInit"
    assert main(["check", str(GOOD / "edf.py:Edf"), "--examples", "30", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)[0]["ok"] is True


def test_missing_file_or_class_is_a_one_line_user_error(capsys, tmp_path):
    assert main(["check", str(tmp_path / "nope.py")]) == 2
    assert main(["check", f"{BROKEN / 'leak.py'}:Nope"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2 and "does not exist" in err[0] and "has no class 'Nope'" in err[1]


@pytest.mark.no_conservation_check  # check abandons the world of a faulty qdisc on purpose
def test_no_hypothesis_directory_is_written_into_the_cwd(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    check_file(str(BROKEN / "forged_dequeue.py"), examples=30)
    assert not (tmp_path / ".hypothesis").exists()


@pytest.mark.no_conservation_check  # check abandons the world of a faulty qdisc on purpose
def test_contain_policy_reports_the_contained_fault():
    [result] = check_file(str(BROKEN / "leak.py"), examples=30, policy="contain")
    [finding] = result.findings
    assert finding.category == OWNERSHIP and "contained fault" in finding.message


@pytest.mark.no_conservation_check  # check abandons the world of a faulty qdisc on purpose
def test_accounting_checks_catch_a_lying_return_code():
    from qdisclab.ops import SkbList
    from qdisclab.sched import NET_XMIT_SUCCESS, QdiscOps

    class SaysQueued(QdiscOps):
        id = "t_liar"

        def init(self, sch, opt):
            self.q = SkbList()

        def enqueue(self, skb, sch, to_free):
            if skb.len > 1000:
                sch.drop(skb, to_free)  # dropped, yet reports success
                return NET_XMIT_SUCCESS
            self.q.push_back(skb)
            return NET_XMIT_SUCCESS

        def dequeue(self, sch):
            return self.q.pop_front()

        def reset(self, sch):
            while (skb := self.q.pop_front()) is not None:
                sch.kfree_skb(skb)

        def destroy(self, sch):
            pass

    result = check_target(Target(SaysQueued), examples=100)
    [finding] = result.findings
    assert finding.category == "accounting" and "NET_XMIT_SUCCESS but dropped" in finding.message
    [line] = finding.trace
    [op] = parse_trace([line])
    assert op[0] == "enqueue" and op[1] > 1000


# Built-in kinds that need options get a valid default spec.
SPECS = {
    "tbf": "tbf rate 1mbit burst 5k limit 20k",
    "htb": "htb default 10 class 1:10 rate 2mbit ceil 5mbit class 1:20 rate 1mbit",
    "red": "red limit 100000 avpkt 1000 ecn",
    "netem": "netem delay 10ms 5ms loss 5% duplicate 5% reorder 10%",
}


@pytest.mark.parametrize("kind", builtin_qdisc_kinds())
def test_check_passes_every_builtin_qdisc(kind):
    result = check_target(Target.from_spec(SPECS.get(kind, kind)), examples=80, seed=3)
    assert result.ok, [(f.category, f.message, f.trace) for f in result.findings]


@pytest.mark.parametrize(
    ("ref", "options"), [("edf.py", ""), ("shaper.py", "rate 2mbit burst 3000 limit 20")]
)
def test_check_passes_the_example_qdiscs(ref, options):
    [result] = check_file(str(GOOD / ref), examples=150, options=options)
    assert result.ok, result.findings


def test_edf_sends_the_earliest_deadline_first():
    [cls], _ = load_qdisc_classes(str(GOOD / "edf.py:Edf"))
    trace = [
        "enqueue(len=100, flow=0)",  # best effort: now + 20ms
        "enqueue(len=200, flow=1, prio=7)",  # control: now + 1ms
        "enqueue(len=300, flow=2, tstamp=now+5ms)",  # EDT: 5ms
        "dequeue()", "dequeue()", "dequeue()",
    ]  # fmt: skip
    run = replay(Target(cls), parse_trace(trace))
    assert run.finding is None
    assert [line.split(" -> ")[1] for line in run.lines[3:]] == [
        "skb(len=200, flow=1)", "skb(len=300, flow=2)", "skb(len=100, flow=0)"
    ]  # fmt: skip


def test_the_example_scenario_runs():
    assert main(["run", str(GOOD / "edf-dumbbell.toml"), "--duration", "1s"]) == 0


@pytest.mark.no_conservation_check  # check abandons the world of a faulty qdisc on purpose
def test_check_catches_net_xmit_success_returned_after_a_drop_at_default_options():
    [result] = check_file(str(BROKEN / "success_after_drop.py"))
    [finding] = result.findings
    assert finding.category == "accounting"
    assert "enqueue returned NET_XMIT_SUCCESS but dropped the skb" in finding.message
    assert finding.trace[-1].startswith("enqueue(") and len(finding.trace) == 5  # 4 fill the limit
