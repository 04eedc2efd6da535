"""Running fuzz cases, each in a forked child with a wall-clock guard, and judging them.

The property: exit 0 with balanced packet books (for ``run --json``), or exit
2 with exactly one line on stderr naming the scenario file (or the option at
fault) — never a traceback, a hang past the guard, or any other exit. ``check``
may also exit 1 (it found a problem in the qdisc, which is its job), and so may
a run whose user extension misbehaved under ``--policy strict`` (one
``qdisclab: fault:`` line, the diagnostic).

Children are forked from a process that has imported qdisclab already, so a
case costs milliseconds of start-up rather than a new interpreter, and
whatever a case registers or breaks dies with its child.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import tempfile
import time
import traceback
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import seed as hypothesis_seed

from .generate import SCENARIO, Case, any_case

DEFAULT_SEED = 20260101
DEFAULT_GUARD_S = 30.0
OK, TRACEBACK, HANG, BAD_EXIT, BAD_MESSAGE, UNBALANCED = (
    "ok", "traceback", "hang", "unexpected exit", "not one line naming the file", "unbalanced")  # fmt: skip


@dataclass
class Outcome:
    case: Case
    verdict: str
    code: int | None
    stderr: str
    seconds: float


def generate(cases: int, seed: int = DEFAULT_SEED) -> list[Case]:
    """``cases`` cases drawn by hypothesis from ``seed`` (the same list for the same seed)."""
    out: list[Case] = []

    @settings(max_examples=cases, database=None, deadline=None, phases=[Phase.generate],
              suppress_health_check=list(HealthCheck))  # fmt: skip
    @hypothesis_seed(seed)
    @given(any_case())
    def collect(case: Case) -> None:
        out.append(case)

    collect()
    return out[:cases]


def _child(case: Case, workdir: Path) -> None:
    """In the forked child: run the command line as ``python -m qdisclab`` would."""
    code = 1
    try:
        os.chdir(workdir)
        out = os.open(workdir / ".stdout", os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
        err = os.open(workdir / ".stderr", os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
        os.dup2(out, 1)
        os.dup2(err, 2)
        sys.stdout = open(1, "w", closefd=False)  # noqa: SIM115 - the child exits right after
        sys.stderr = open(2, "w", closefd=False)  # noqa: SIM115
        from qdisclab.cli import main

        try:
            code = main(case.argv)
        except SystemExit as exc:  # what sys.exit(main()) would turn into an exit status
            code = exc.code if isinstance(exc.code, int) else 1
        except BaseException:  # an uncaught exception: the interpreter prints it, exit 1
            traceback.print_exc()
            code = 1
    finally:
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        finally:
            os._exit(code if isinstance(code, int) else 1)


@dataclass
class _Running:
    case: Case
    pid: int
    tmp: tempfile.TemporaryDirectory
    started: float


def _start(case: Case) -> _Running:
    tmp = tempfile.TemporaryDirectory(prefix="qdisclab-fuzz-")
    workdir = Path(tmp.name)
    for name, data in case.files.items():
        path = workdir / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if not name.endswith("/keep"):  # "dir/keep" only makes the directory
            path.write_bytes(data)
    started = time.monotonic()
    pid = os.fork()
    if pid == 0:
        _child(case, workdir)
    return _Running(case, pid, tmp, started)


def _finish(run: _Running, status: int | None) -> Outcome:
    """Judge a child that exited with wait ``status`` (None: killed by the guard)."""
    seconds = time.monotonic() - run.started
    workdir = Path(run.tmp.name)
    stdout, stderr = _read(workdir / ".stdout"), _read(workdir / ".stderr")
    run.tmp.cleanup()
    if status is None:
        return Outcome(run.case, HANG, None, stderr, seconds)
    code = os.waitstatus_to_exitcode(status)
    return Outcome(run.case, judge(run.case, code, stdout, stderr), code, stderr, seconds)


def _poll(run: _Running, guard_s: float) -> Outcome | None:
    done, status = os.waitpid(run.pid, os.WNOHANG)
    if done:
        return _finish(run, status)
    if time.monotonic() - run.started > guard_s:
        os.kill(run.pid, signal.SIGKILL)
        os.waitpid(run.pid, 0)
        return _finish(run, None)
    return None


def run_case(case: Case, guard_s: float = DEFAULT_GUARD_S) -> Outcome:
    """Run one case in a fresh directory in a forked child; judge what it did."""
    return run_all([case], guard_s)[0]


def _read(path: Path) -> str:
    try:
        return path.read_text(errors="replace")
    except OSError:
        return ""


def judge(case: Case, code: int, stdout: str, stderr: str) -> str:
    """The verdict for one finished case (see the module doc for the property)."""
    if "Traceback (most recent call last)" in stderr:
        return TRACEBACK
    if code == 0:
        if case.argv[:1] == ["run"] and "--json" in case.argv:
            try:
                books = json.loads(stdout)["conservation"]
            except (ValueError, KeyError):
                return UNBALANCED
            dropped = sum(books["dropped"].values())
            if books["sent"] != books["delivered"] + dropped + books["in_flight"]:
                return UNBALANCED
        return OK
    if code == 1 and case.argv[:1] == ["check"]:
        return OK  # a problem found in the checked qdisc
    if code == 1:  # strict mode stopped a faulty extension: one diagnostic line
        lines = stderr.strip().splitlines()
        return OK if len(lines) == 1 and lines[0].startswith("qdisclab: fault: ") else BAD_EXIT
    if code != 2:
        return BAD_EXIT
    lines = stderr.strip().splitlines()
    if len(lines) != 1 or not lines[0].startswith("qdisclab: error: "):
        return BAD_MESSAGE
    message = lines[0].removeprefix("qdisclab: error: ")
    if case.names_file and SCENARIO not in message and not _about_the_command_line(message):
        return BAD_MESSAGE
    return OK


def _about_the_command_line(message: str) -> bool:
    """An error about an option rather than the file (it names the option instead)."""
    return message.startswith(("--", "Invalid value", "No such option", "Option ",
                               "Missing", "Got unexpected", "unknown ownership policy"))  # fmt: skip


def run_all(cases: list[Case], guard_s: float = DEFAULT_GUARD_S, progress: bool = False,
            jobs: int = 1) -> list[Outcome]:  # fmt: skip
    """Run ``cases`` with up to ``jobs`` children at once; outcomes in the cases' order."""
    outcomes: dict[int, Outcome] = {}
    running: dict[int, _Running] = {}
    queue = list(enumerate(cases))
    while queue or running:
        while queue and len(running) < jobs:
            index, case = queue.pop(0)
            running[index] = _start(case)
        for index, run in list(running.items()):
            outcome = _poll(run, guard_s)
            if outcome is None:
                continue
            del running[index]
            outcomes[index] = outcome
            if progress:
                _report(outcome, len(outcomes), len(cases))
        time.sleep(0.005)
    return [outcomes[i] for i in range(len(cases))]


def _report(outcome: Outcome, done: int, total: int) -> None:
    if outcome.verdict == OK and done % 50:
        return
    print(f"[{done}/{total}] {outcome.verdict} ({outcome.seconds:.1f}s) "
          f"{outcome.case.describe()}", file=sys.stderr, flush=True)  # fmt: skip
    if outcome.verdict != OK:
        print("    " + "\n    ".join(outcome.stderr.strip().splitlines()[-3:]),
              file=sys.stderr, flush=True)  # fmt: skip


def summary(outcomes: list[Outcome]) -> dict[str, int]:
    counts = Counter(o.verdict for o in outcomes)
    exits = Counter(o.code for o in outcomes if o.verdict == OK)
    return {"cases": len(outcomes), **{v: counts.get(v, 0) for v in
            (OK, TRACEBACK, HANG, BAD_EXIT, BAD_MESSAGE, UNBALANCED)},
            "exit 0": exits.get(0, 0), "exit 2": exits.get(2, 0), "exit 1 (check finding or strict fault)": exits.get(1, 0),
            "slowest_s": round(max((o.seconds for o in outcomes), default=0.0), 1)}  # fmt: skip
