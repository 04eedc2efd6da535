"""The command line: help, the default run, determinism, one-line errors with exit 2."""

from __future__ import annotations

import json
import re
import subprocess
import sys

from qdisclab.cli import main


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "qdisclab", *args], capture_output=True, text=True, timeout=300
    )


def test_help_is_clean():
    result = run_cli("--help")
    assert result.returncode == 0
    assert "run" in result.stdout and "bench" in result.stdout
    assert "Traceback" not in result.stderr


def test_same_seed_same_bytes_different_seed_different_output():
    first = run_cli("run", "--json", "--duration", "300ms", "--seed", "7")
    second = run_cli("run", "--json", "--duration", "300ms", "--seed", "7")
    other = run_cli("run", "--json", "--duration", "300ms", "--seed", "8")
    assert first.returncode == 0, first.stderr

    def without_wall_time(out):  # wall_s is the one field that is not a function of the seed
        return re.sub(r'\n  "wall_s": [0-9.]+', "", out)

    assert without_wall_time(first.stdout) == without_wall_time(second.stdout)
    assert without_wall_time(first.stdout) != without_wall_time(other.stdout)
    data = json.loads(first.stdout)
    assert data["wall_s"] > 0
    assert data["seed"] == 7
    # the default dumbbell has four data flows (their ACK streams are booked as "<flow>.r")
    data_flows = [f["flow"] for f in data["flows"] if not f["flow"].endswith(".r")]
    assert data_flows == ["S1->D1", "S2->D2", "S3->D3", "S4->D4"]
    books = data["conservation"]
    assert books["sent"] == books["delivered"] + sum(books["dropped"].values()) + books["in_flight"]


def test_default_run_prints_a_table_of_flows():
    result = run_cli("run", "--duration", "200ms")
    assert result.returncode == 0, result.stderr
    for flow in ("S1->D1", "S4->D4"):
        assert flow in result.stdout
    assert "conservation" in result.stdout


def test_user_errors_are_one_line_and_exit_2(capsys):
    for argv, fragment in [
        (["run", "--duration", "5 fortnights"], "unknown unit"),
        (["run", "no-such-scenario"], "unknown scenario 'no-such-scenario'"),
        (["run", "--policy", "lenient"], "unknown ownership policy"),
    ]:
        assert main(argv) == 2
        err = capsys.readouterr().err.strip()
        assert fragment in err
        assert "Traceback" not in err
        assert len(err.splitlines()) <= 2  # one logical line (rich may wrap long lines)


def test_bench_quick_json_has_the_documented_keys():
    result = run_cli("bench", "--json", "--quick", "--only", "core")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    for key in ("reference_events_per_s", "engine_events_per_s", "engine_ratio", "hops_per_s",
                "hops_ratio", "bytes_per_queued_packet"):  # fmt: skip
        assert key in data and data[key] > 0
    assert data["bytes_per_queued_packet"] < 400
