"""``qdisclab check``: finds each broken example with a reproducing trace, passes good qdiscs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from qdisclab.check import (
    ACCOUNTING,
    KFUNC,
    LIMIT,
    OWNERSHIP,
    RATE,
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
from qdisclab.ops import SkbList
from qdisclab.sched import NET_XMIT_CN, NET_XMIT_SUCCESS, Opt, QdiscOps, builtin_qdisc_kinds

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
    ("success_after_drop.py", ACCOUNTING, "", "enqueue returned NET_XMIT_SUCCESS but dropped"),
    ("overflow_leak.py", OWNERSHIP, "", "still owning an skb"),
    ("off_by_one_limit.py", LIMIT, "", "qlen 1001 exceeds sch.limit 1000"),
    ("shaper_no_watchdog.py", STUCK, "", "dequeue returns None and no watchdog is armed"),
]


@pytest.mark.no_conservation_check  # check abandons the world of a faulty qdisc on purpose
@pytest.mark.parametrize(
    ("name", "category", "errno", "fragment"), CASES, ids=[c[0] for c in CASES]
)
def test_check_finds_each_broken_example_at_default_options_with_a_trace_that_reproduces(
    name, category, errno, fragment
):
    [result] = check_file(str(BROKEN / name))  # default options, default example budget
    assert not result.ok
    [finding] = result.findings
    assert finding.category == category and fragment in finding.message, finding
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


@pytest.mark.no_conservation_check
@pytest.mark.parametrize("name", ["overflow_leak.py", "off_by_one_limit.py"])
def test_overflow_bugs_need_a_full_queue_and_a_burst_sized_from_the_default_limit(name):
    [result] = check_file(str(BROKEN / name))
    [finding] = result.findings
    [*_, last] = parse_trace(finding.trace)
    [cls], _ = load_qdisc_classes(str(BROKEN / name))
    limit = cls.options["limit"].default
    assert last[0] == "burst" and last[1] > limit  # the burst that overflows the default limit
    # One packet fewer than the failing burst, and nothing is wrong yet.
    short = ("burst", limit, *last[2:])
    assert replay(Target(cls), [short]).finding is None


@pytest.mark.no_conservation_check
def test_a_shaper_without_watchdog_is_caught_even_though_time_would_release_it():
    [cls], _ = load_qdisc_classes(str(BROKEN / "shaper_no_watchdog.py"))
    run = replay(Target(cls), parse_trace(["burst(count=4, len=1000, flows=1)",
                                           "advance(5ms)"]))  # fmt: skip
    assert run.finding is not None and run.finding.category == STUCK
    # The same shaper, woken by the watchdog, passes the same trace.
    [good], _ = load_qdisc_classes(str(GOOD / "shaper.py"))
    assert replay(Target(good), parse_trace(run.finding.trace)).finding is None


@pytest.mark.no_conservation_check  # check abandons the world of a faulty qdisc on purpose
def test_cli_exit_status_json_and_coverage_for_a_broken_and_a_clean_qdisc(capsys):
    assert main(["check", str(BROKEN / "stuck.py"), "--examples", "20"]) == 1
    out = capsys.readouterr().out
    assert "stuck" in out and "enqueue(len=" in out
    assert main(["check", str(BROKEN / "missing_init.py:MissingInit"), "--json"]) == 1
    [row] = json.loads(capsys.readouterr().out)
    assert row["findings"][0]["errno"] == "EINVAL" and row["class"] == "MissingInit"
    assert main(["check", str(GOOD / "edf.py:Edf"), "--examples", "10", "--max-ops", "6",
                 "--json"]) == 0  # fmt: skip
    [row] = json.loads(capsys.readouterr().out)
    assert row["ok"] is True and row["coverage"]["sequences"] == 10
    assert row["coverage"]["max_qlen"] == row["coverage"]["limit"] == 1000
    assert main(["check", "--builtin", "pfifo", "--options", "limit 30", "--examples", "5"]) == 0
    out = capsys.readouterr().out
    assert "ok Pfifo (pfifo limit 30)" in out
    assert "largest qlen 30, backlog" in out and "against sch.limit 30" in out
    assert "never reached: the watchdog (never armed)" in out


def test_missing_file_or_class_and_bad_max_ops_are_one_line_user_errors(capsys, tmp_path):
    assert main(["check", str(tmp_path / "nope.py")]) == 2
    assert main(["check", f"{BROKEN / 'leak.py'}:Nope"]) == 2
    assert main(["check", str(BROKEN / "leak.py"), "--max-ops", "0"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 3 and "does not exist" in err[0] and "has no class 'Nope'" in err[1]
    assert "--max-ops must be at least 1" in err[2]


@pytest.mark.no_conservation_check  # check abandons the world of a faulty qdisc on purpose
def test_contain_policy_reports_the_contained_fault():
    [result] = check_file(str(BROKEN / "leak.py"), examples=30, policy="contain")
    [finding] = result.findings
    assert finding.category == OWNERSHIP and "contained fault" in finding.message


class _Fifo(QdiscOps):
    """A correct fifo the tests below break one way each."""

    id = "t_fifo"
    options = {"limit": Opt("count", 50, "packets")}

    def init(self, sch, opt):
        self.q = SkbList()
        sch.limit = opt.get("limit") or 50

    def enqueue(self, skb, sch, to_free):
        if sch.qlen >= sch.limit:
            return sch.drop(skb, to_free)
        self.q.push_back(skb)
        return NET_XMIT_SUCCESS

    def dequeue(self, sch):
        return self.q.pop_front()

    def reset(self, sch):
        while (skb := self.q.pop_front()) is not None:
            sch.kfree_skb(skb)

    def destroy(self, sch):
        pass


def test_the_correct_fifo_passes():
    assert check_target(Target(_Fifo), examples=15, max_ops=15).ok


@pytest.mark.no_conservation_check
def test_congestion_notified_without_a_drop_is_an_accounting_finding():
    class CnWithoutDrop(_Fifo):
        id = "t_cn"

        def enqueue(self, skb, sch, to_free):
            self.q.push_back(skb)
            return NET_XMIT_CN if sch.qlen >= 3 else NET_XMIT_SUCCESS  # says it dropped: did not

    [finding] = check_target(Target(CnWithoutDrop), examples=30).findings
    assert finding.category == ACCOUNTING and "NET_XMIT_CN" in finding.message
    assert "no packet was dropped" in finding.message


@pytest.mark.no_conservation_check
def test_a_shaper_over_its_configured_rate_is_a_rate_finding():
    [shaper], _ = load_qdisc_classes(str(GOOD / "shaper.py"))

    class DoubleRate(shaper):
        id = "t_double_rate"

        def refill(self, now):  # bug: tokens arrive at twice the configured rate
            self.rate *= 2
            try:
                super().refill(now)
            finally:
                self.rate //= 2

    options = ["rate", "1mbit", "burst", "3000"]
    [finding] = check_target(Target(DoubleRate, options), examples=25, max_ops=15).findings
    assert finding.category == RATE and "rate 1000000 bit/s, burst 3000b" in finding.message
    assert check_target(Target(shaper, options), examples=25, max_ops=15).ok  # configured rate


@pytest.mark.no_conservation_check
def test_the_same_seed_gives_the_same_report_and_another_seed_searches_elsewhere():
    ref = str(BROKEN / "double_enqueue.py")
    first = check_file(ref, examples=50, seed=4)[0].findings[0]
    again = check_file(ref, examples=50, seed=4)[0].findings[0]
    assert first.as_dict() | {"packet": ""} == again.as_dict() | {"packet": ""}
    a = check_target(Target(_Fifo), examples=12, seed=1).coverage.as_dict()
    b = check_target(Target(_Fifo), examples=12, seed=2).coverage.as_dict()
    assert a == check_target(Target(_Fifo), examples=12, seed=1).coverage.as_dict()
    assert a["packets"] != b["packets"]


def test_coverage_says_what_was_reached_and_what_never_was():
    shaped = check_file(str(GOOD / "shaper.py"), examples=15, max_ops=15)[0].coverage
    assert shaped.watchdog_armed > 0 and shaped.limit_reached()
    assert "sch.watchdog_schedule()" in shaped.kfuncs
    assert {"enqueue", "dequeue", "init", "reset", "destroy"} <= shaped.callbacks
    assert shaped.never_reached() == []
    fifo = check_target(Target(_Fifo), examples=15, max_ops=15).coverage
    assert fifo.never_reached() == ["the watchdog (never armed)"]
    assert fifo.drops["qdisc"] > 0 and fifo.max_qlen == 50
    # No burst fills a limit of 100000 packets: the line says so plainly.
    huge = check_target(Target(_Fifo, ["limit", "100000"]), examples=3).coverage
    assert huge.sequences == 3 and not huge.limit_reached()
    assert "never reached: the limit (largest qlen " in huge.line()
    assert "the drop path (the qdisc dropped no packet)" in huge.line()


def test_netem_counts_a_peeked_packet_against_its_limit_as_the_kernel_does():
    # 101 packets: the idle device takes one, 100 fill the limit; peek parks the head.
    trace = ["burst(count=101, len=576, flows=1)", "peek()", "enqueue(len=1500, flow=0)"]
    run = replay(Target.from_spec("netem limit 100"), parse_trace(trace))
    assert run.finding is None, run.finding
    assert run.lines[-1].endswith("-> NET_XMIT_DROP")


# Built-in kinds that need options get a valid default spec.
SPECS = {
    "tbf": "tbf rate 1mbit burst 5k limit 20k",
    "htb": "htb default 10 class 1:10 rate 2mbit ceil 5mbit class 1:20 rate 1mbit",
    "red": "red limit 100000 avpkt 1000 ecn",
    "netem": "netem delay 10ms 5ms loss 5% duplicate 5% reorder 10%",
}


@pytest.mark.parametrize("kind", builtin_qdisc_kinds())
def test_check_passes_every_builtin_qdisc(kind):
    result = check_target(Target.from_spec(SPECS.get(kind, kind)), examples=25, seed=3, max_ops=15)
    assert result.ok, [(f.category, f.message, f.trace) for f in result.findings]


@pytest.mark.parametrize(
    ("ref", "options"),
    [("edf.py", ""), ("shaper.py", ""), ("shaper.py", "rate 2mbit burst 3000 limit 20"),
     ("sfq.py", ""), ("sfq.py", "limit 20 perturb 10ms")],
)  # fmt: skip
def test_check_passes_the_example_qdiscs(ref, options):
    [result] = check_file(str(GOOD / ref), examples=25, options=options, max_ops=15)
    assert result.ok, result.findings
    assert result.coverage.limit_reached()


def test_edf_sends_the_earliest_deadline_first():
    [cls], _ = load_qdisc_classes(str(GOOD / "edf.py:Edf"))
    trace = [
        "enqueue(len=100, flow=0)",  # best effort: now + 20ms; the idle device takes it at once
        "enqueue(len=100, flow=0)",  # best effort: now + 20ms
        "enqueue(len=200, flow=1, prio=7)",  # control: now + 1ms
        "enqueue(len=300, flow=2, tstamp=now+5ms)",  # EDT: 5ms
        "dequeue()", "dequeue()", "dequeue()",
    ]  # fmt: skip
    run = replay(Target(cls), parse_trace(trace))
    assert run.finding is None
    assert [line.split(" -> ")[1] for line in run.lines[4:]] == [
        "skb(len=200, flow=1)", "skb(len=300, flow=2)", "skb(len=100, flow=0)"
    ]  # fmt: skip


def test_the_example_scenario_runs():
    assert main(["run", str(GOOD / "edf-dumbbell.toml"), "--duration", "1s"]) == 0
