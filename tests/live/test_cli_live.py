"""``qdisclab live`` on the command line: JSON keys, and one clear line when it cannot run."""

from __future__ import annotations

import json
import os
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


@pytest.mark.root
def test_json_has_the_documented_keys(live_tools):
    result = run_cli("--qdisc", "fq_codel", "--rate", "20mbit", "--delay", "1ms",
                     "--duration", "2s", "--json")  # fmt: skip
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert {"throughput_mbps", "ping_rtt_ms", "qdisc", "retransmits", "cc"} <= set(data)
    assert set(data["ping_rtt_ms"]) >= {"p50", "p90", "p99", "max"}
    assert data["ping_rtt_ms"]["p50"] >= 2.0  # two 1 ms delay lines per round trip
    assert data["qdisc"]["kind"] == "fq_codel" and data["cc"] == "cubic"
    assert 10 < data["throughput_mbps"] <= 20


@pytest.mark.root
def test_text_output_prints_tc_stats_and_the_table(live_tools):
    result = run_cli("--qdisc", "pfifo limit 50", "--duration", "1s", "--load", "none")
    assert result.returncode == 0, result.stderr
    assert "qdisc pfifo 8001:" in result.stdout and " Sent " in result.stdout
    assert "ping RTT p50 ms" in result.stdout
