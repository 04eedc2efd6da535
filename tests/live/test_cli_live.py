"""``qdisclab live`` on the command line: JSON keys, and one clear line when it cannot run."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest

from qdisclab.cli.cmd_live import parse_loss
from qdisclab.errors import UserError


def run_cli(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "qdisclab", "live", *args], capture_output=True,
                          text=True, timeout=60, env=env)  # fmt: skip


def test_loss_accepts_percent_and_fraction():
    assert parse_loss("0.1%") == pytest.approx(0.001) and parse_loss("0.02") == 0.02
    with pytest.raises(UserError, match="below 100%"):
        parse_loss("100%")


def test_missing_tools_are_named_on_one_line_with_exit_2(tmp_path):
    env = {**os.environ, "PATH": str(tmp_path)}  # nothing on PATH: no ip, iperf3, ping
    result = run_cli("--duration", "1s", env=env)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr
    for tool in ("ip", "iperf3", "ping"):
        assert tool in lines[0].replace(",", " ").split()


def test_bad_option_is_one_line_with_exit_2():
    result = run_cli("--load", "ftp")
    assert result.returncode == 2 and "--load must be one of iperf3, none" in result.stderr
    result = run_cli("--streams", "0")
    assert result.returncode == 2 and "--streams must be 1 to 128 (found 0)" in result.stderr


@pytest.mark.root
def test_command_runs_in_namespace_a_through_the_path(live_tools):
    result = run_cli("--command", "ping -n -c 3 -i 0.2 192.0.2.2", "--delay", "5ms",
                     "--qdisc", "pfifo limit 10")  # fmt: skip
    assert result.returncode == 0, result.stderr
    rtts = [float(x) for x in re.findall(r"time=([\d.]+) ms", result.stdout)]
    assert len(rtts) == 3 and min(rtts) >= 10.0  # both 5 ms delay lines, every time
    assert "qdisc pfifo 8001:" in result.stdout and "limit 10p" in result.stdout


@pytest.mark.root
def test_command_exit_status_is_passed_on(live_tools):
    result = run_cli("--command", "sh -c 'exit 3'", "--duration", "5s")
    assert result.returncode == 3
