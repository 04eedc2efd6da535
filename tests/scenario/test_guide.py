"""Every command in docs/guide.md runs (in order, in a temp dir) and succeeds."""

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

GUIDE = Path(__file__).resolve().parents[2] / "docs" / "guide.md"
BLOCK = re.compile(r"```(\w+)([^\n]*)\n(.*?)```", re.S)


def steps():
    out = []
    for lang, info, body in BLOCK.findall(GUIDE.read_text()):
        title = re.search(r'title="([^"]+)"', info)
        if title:
            out.append(("file", title.group(1), body))
        elif lang == "console":
            for line in body.splitlines():
                if line.startswith("$ "):
                    out.append(("cmd", line[2:], ""))
    return out


def test_guide_has_commands():
    kinds = [s[0] for s in steps()]
    assert kinds.count("cmd") >= 10 and kinds.count("file") == 7


def test_guide_commands_run(tmp_path):
    import os

    env = dict(os.environ)
    src = str(Path(__file__).resolve().parents[2] / "src")
    env["PYTHONPATH"] = src + os.pathsep + env.get("PYTHONPATH", "")
    qdisclab = f"{shlex_quote(sys.executable)} -m qdisclab"
    for kind, what, body in steps():
        if kind == "file":
            (tmp_path / what).write_text(body)
            continue
        if what.startswith("tcpdump") and shutil.which("tcpdump") is None:
            continue
        cmd = re.sub(r"^qdisclab\b", qdisclab, what)
        cmd = re.sub(r"^python\b", shlex_quote(sys.executable), cmd)
        proc = subprocess.run(cmd, shell=True, cwd=tmp_path, env=env, capture_output=True,
                              text=True, timeout=300)  # fmt: skip
        assert proc.returncode == 0, f"{what}\n{proc.stdout}\n{proc.stderr}"
        if what.startswith("qdisclab sweep") and "results.db" in what:
            last = proc.stdout
    assert "4 already done, 0 ok" in last  # the second sweep resumed with nothing left
    assert len(list((tmp_path / "report").glob("*.png"))) == 5  # 4 metrics + ping RTT
    assert (tmp_path / "rtt-vs-throughput.png").stat().st_size > 5000  # the notebook section
    assert (tmp_path / "run1" / "throughput.png").stat().st_size > 5000
    assert (tmp_path / "cc-run" / "cwnd.png").stat().st_size > 5000
    flows = {
        row.split(",")[0] for row in (tmp_path / "cc-run" / "cwnd.csv").read_text().split()[1:]
    }
    assert flows == {"aimd", "cubic"}


def shlex_quote(s):
    import shlex

    return shlex.quote(s)


if __name__ == "__main__":
    pytest.main([__file__])
