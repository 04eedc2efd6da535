"""Every command-line error path: one line on stderr, exit 2, never a traceback.

Usage errors come from click; the installed typer may vendor its own copy of
click (``typer._click``), so these tests go through the real entry point and
fail if a typer or click release changes where its exceptions live.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

import qdisclab.cli as cli
from qdisclab.cli import main


@pytest.fixture(autouse=True)
def _in_empty_dir(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # relative names below must not exist


def one_error_line(capsys) -> str:
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert "Traceback" not in err
    assert lines[0].startswith("qdisclab: error: "), err
    return lines[0]


@pytest.mark.parametrize(
    ("argv", "fragment"),
    [
        (["nosuch"], "No such command 'nosuch'"),
        (["run", "--badopt"], "No such option: --badopt"),
        (["run", "--seed", "abc"], "Invalid value for '--seed'"),
        (["run", "--seed"], "Option '--seed' requires an argument"),
        (["run", "a.toml", "b.toml"], "unexpected extra argument"),
        (["sweep"], "Missing argument"),
        (["sweep", "udp-dumbbell", "--seeds", "two"], "Invalid value for '--seeds'"),
        (["sweep", "udp-dumbbell", "--workers", "1.5"], "Invalid value for '--workers'"),
        (["report"], "Missing argument"),
        (["check"], "Missing argument"),
        (["check", "q.py", "--examples", "x"], "Invalid value for '--examples'"),
        (["bench", "--only"], "Option '--only' requires an argument"),
        (["kfuncs", "--nosuch"], "No such option"),
        (["show-scenario", "a", "b"], "unexpected extra argument"),
    ],
)
def test_usage_errors_are_click_one_liners(capsys, argv, fragment):
    assert main(argv) == 2
    assert fragment in one_error_line(capsys)


@pytest.mark.parametrize(
    ("argv", "fragment"),
    [
        (["run", "--duration", "5 fortnights"], "unknown unit"),
        (["run", "--duration", "0s"], "--duration must be positive"),
        (["run", "--duration", "1e999999999s"], "out of range"),
        (["run", "--policy", "lenient"], "unknown ownership policy"),
        (["run", "no-such-scenario"], "unknown scenario 'no-such-scenario'"),
        (["run", "missing.toml"], "cannot read scenario file 'missing.toml'"),
        (["run", "udp-dumbbell", "--set", "novalue"], "--set expects KEY=VALUE"),
        (["run", "udp-dumbbell", "--set", "run=5"], "run: found 5"),
        (["run", "udp-dumbbell", "--set", "link.bottleneck.rate.x=1"], "'rate' is '100mbit', not a table"),
        (["run", "udp-dumbbell", "--set", "nosuch.key=1"], "unknown section 'nosuch'"),
        (["run", "udp-dumbbell", "--set", "flow.9.rate=1mbit"], "index 9 out of range"),
        (["sweep", "udp-dumbbell", "--seeds", "0"], "--seeds must be at least 1"),
        (["sweep", "udp-dumbbell", "--grid", "novalues"], "--grid expects KEY=V1,V2"),
        (["report", "no-such.db"], "no results database at 'no-such.db'"),
        (["check", "no-such.py"], "file 'no-such.py' does not exist"),
        (["check", "q.py", "--policy", "off"], "--policy must be strict or contain"),
        (["check", "q.py", "--examples", "0"], "--examples must be at least 1"),
        (["show-scenario", "nosuch"], "unknown scenario 'nosuch'"),
    ],
)  # fmt: skip
def test_command_errors_are_one_line(capsys, argv, fragment):
    assert main(argv) == 2
    assert fragment in one_error_line(capsys)


@pytest.mark.parametrize("module", ["click.exceptions", "typer._click.exceptions"])
def test_both_clicks_usage_errors_are_handled(capsys, monkeypatch, module):
    """An older typer raises click's own exceptions, a newer one its vendored copy's."""
    exceptions = pytest.importorskip(module)

    def raising_app(**_kwargs):
        raise exceptions.UsageError("No such command 'x'.")

    monkeypatch.setattr(cli, "build_app", lambda command=None: raising_app)
    assert main(["x"]) == 2
    assert one_error_line(capsys) == "qdisclab: error: No such command 'x'."


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["nosuch"], "No such command 'nosuch'"),
        (["run", "--badopt"], "No such option: --badopt"),
        (["run", "--seed", "abc"], "Invalid value for '--seed'"),
    ],
)
def test_the_installed_entry_point_prints_one_line_and_exits_2(args, fragment):
    result = subprocess.run([sys.executable, "-m", "qdisclab", *args], capture_output=True,
                            text=True, timeout=120)  # fmt: skip
    assert result.returncode == 2, result.stderr
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and fragment in lines[0], result.stderr


def test_no_arguments_prints_the_help_and_succeeds(capsys):
    assert main([]) == 0
    out = capsys.readouterr().out
    assert "Usage" in out and "run" in out and "sweep" in out
