"""The guide's "Shape real traffic" commands run as root (``shell`` blocks, in order).

The files the guide defines earlier (``title=`` blocks) are written first, so
its user qdisc can be named with ``--extension``.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

GUIDE = Path(__file__).resolve().parents[2] / "docs" / "guide.md"
BLOCK = re.compile(r"```(\w+)([^\n]*)\n(.*?)```", re.S)
SECTION = "## Shape real traffic"


def live_commands() -> list[str]:
    text = GUIDE.read_text()
    section = text[text.index(SECTION) :]
    section = section.split("\n## ", 1)[0]
    return [line[2:] for lang, _info, body in BLOCK.findall(section) if lang == "shell"
            for line in body.splitlines() if line.startswith("$ ")]  # fmt: skip


def test_the_section_has_its_commands():
    commands = live_commands()
    assert len(commands) >= 5 and all(c.startswith("qdisclab ") for c in commands)
    assert any("--compare" in c for c in commands) and any("--json" in c for c in commands)


@pytest.mark.root
def test_shape_real_traffic_commands_run(tmp_path, live_tools):
    for _lang, info, body in BLOCK.findall(GUIDE.read_text()):
        title = re.search(r'title="([^"]+)"', info)
        if title:
            (tmp_path / title.group(1)).write_text(body)
    env = dict(os.environ)
    env["PYTHONPATH"] = str(GUIDE.parents[1] / "src") + os.pathsep + env.get("PYTHONPATH", "")
    qdisclab = f"{shlex.quote(sys.executable)} -m qdisclab"
    for command in live_commands():
        cmd = re.sub(r"^qdisclab\b", qdisclab, command)
        proc = subprocess.run(cmd, shell=True, cwd=tmp_path, env=env, capture_output=True,
                              text=True, timeout=60)  # fmt: skip
        assert proc.returncode == 0, f"{command}\n{proc.stdout}\n{proc.stderr}"
        if "--json" in command:  # the documented keys
            data = json.loads(proc.stdout)
            assert {"throughput_mbps", "ping_rtt_ms", "qdisc", "retransmits", "cc"} <= set(data)
            assert set(data["ping_rtt_ms"]) >= {"p50", "p90", "p99", "max"}
            assert data["qdisc"]["kind"] == "fq_codel" and data["cc"] == "cubic"
            assert data["ping_rtt_ms"]["p50"] >= 10.0  # two 5 ms delay lines per round trip
            assert 0 < data["throughput_mbps"] <= 10.0
        elif "pfifo limit 100" in command:  # tc -s statistics and the result table
            assert "qdisc pfifo 8001:" in proc.stdout and " Sent " in proc.stdout
            assert "ping RTT p50 ms" in proc.stdout and "goodput Mbit/s" in proc.stdout
        if "--compare" in command:
            assert "simulated" in proc.stdout and "live" in proc.stdout
        if "tiny_fifo" in command:
            assert "qdisc tiny_fifo 8001:" in proc.stdout
