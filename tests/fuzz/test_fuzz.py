"""The fuzzer in CI: a fixed seed, a bounded number of cases, each under a wall-clock guard.

A longer run is ``python scripts/fuzz.py --cases 2000``.
"""

from __future__ import annotations

import pytest

from .generate import SCENARIO, Case
from .runner import (
    BAD_EXIT,
    BAD_MESSAGE,
    HANG,
    OK,
    TRACEBACK,
    UNBALANCED,
    generate,
    judge,
    run_all,
    run_case,
)

CI_CASES = 40
CI_GUARD_S = 30.0


def test_the_same_seed_draws_the_same_cases():
    first = [c.describe() for c in generate(15, seed=3)]
    assert first == [c.describe() for c in generate(15, seed=3)]
    assert first != [c.describe() for c in generate(15, seed=4)]


@pytest.mark.slow
def test_fuzz_cases_hold_the_property():
    bad = []
    for outcome in run_all(generate(CI_CASES), CI_GUARD_S, jobs=2):
        if outcome.verdict != OK:
            bad.append(f"{outcome.verdict}: {outcome.case.describe()}\n{outcome.stderr[-600:]}")
    assert not bad, "\n\n".join(bad)


RUN = Case(["run", SCENARIO, "--json"])
BALANCED = '{"conservation": {"sent": 5, "delivered": 3, "dropped": {"qdisc": 1}, "in_flight": 1}}'


@pytest.mark.parametrize(
    ("case", "code", "stdout", "stderr", "verdict"),
    [
        (RUN, 0, BALANCED, "", OK),
        (RUN, 0, BALANCED.replace('"in_flight": 1', '"in_flight": 0'), "", UNBALANCED),
        (RUN, 0, "not json", "", UNBALANCED),
        (RUN, 2, "", f"qdisclab: error: {SCENARIO}:3: run.duration: found 'x'\n", OK),
        (RUN, 2, "", "qdisclab: error: --duration: bad time 'x'\n", OK),
        (RUN, 2, "", "qdisclab: error: something without the file\n", BAD_MESSAGE),
        (RUN, 2, "", f"qdisclab: error: {SCENARIO}: one\nand another line\n", BAD_MESSAGE),
        (RUN, 1, "", "Traceback (most recent call last):\n  File ...\nValueError: x\n", TRACEBACK),
        (RUN, 1, "", "", BAD_EXIT),
        (RUN, 1, "", "qdisclab: fault: tcx program p.eth0 egress: returned None\n", OK),
        (RUN, 1, "", "qdisclab: fault: one\nand another line\n", BAD_EXIT),
        (RUN, -9, "", "", BAD_EXIT),
        (Case(["check", "q.py"]), 1, "FAIL ...", "", OK),
    ],
)
def test_the_judge_tells_each_failure_apart(case, code, stdout, stderr, verdict):
    assert judge(case, code, stdout, stderr) == verdict


def test_the_guard_stops_a_hang():
    sleeper = b"import time\ntime.sleep(60)\n"
    scenario = (
        b'[run]\nduration = "10ms"\n[[node]]\nname = "A"\n[[extension]]\nclass = "slow.py:X"\n'
    )
    case = Case(["run", SCENARIO], {SCENARIO: scenario, "slow.py": sleeper})
    outcome = run_case(case, guard_s=1.0)
    assert outcome.verdict == HANG and outcome.code is None
    assert outcome.seconds < 30


def test_a_real_traceback_is_caught(monkeypatch):
    # as if the CLI had a bug: the child calls main() as `python -m qdisclab` does
    case = Case(["run", SCENARIO, "--json"], {SCENARIO: b'[[node]]\nname = "A"\n'})
    import qdisclab.cli

    def broken(_argv):
        raise RuntimeError("a bug")

    monkeypatch.setattr(qdisclab.cli, "main", broken)  # inherited by the forked child
    outcome = run_case(case, guard_s=10.0)
    assert outcome.verdict == TRACEBACK and "RuntimeError: a bug" in outcome.stderr
