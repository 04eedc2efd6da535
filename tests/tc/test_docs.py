"""The tc outputs the README and the guide show are what qdisclab prints, byte for byte."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BLOCK = re.compile(r"```(\w+)([^\n]*)\n(.*?)```", re.S)


def blocks(path: Path) -> list[tuple[str, str, str]]:
    return BLOCK.findall(path.read_text())


def files_of(path: Path) -> dict[str, str]:
    out = {}
    for _lang, info, body in blocks(path):
        title = re.search(r'title="([^"]+)"', info)
        if title:
            out[title.group(1)] = body
    return out


def qdisclab(args: list[str], cwd: Path) -> str:
    env = {"PYTHONPATH": str(ROOT / "src")}
    import os

    env = {**os.environ, **env}
    proc = subprocess.run([sys.executable, "-m", "qdisclab", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, check=True, timeout=300)  # fmt: skip
    return proc.stdout


def test_readme_tc_output(tmp_path):
    readme = ROOT / "README.md"
    (tmp_path / "shaping.tc").write_text(files_of(readme)["shaping.tc"])
    console = next(b for lang, _i, b in blocks(readme) if lang == "console" and "tc -s -b" in b)
    command, *shown = console.splitlines()
    assert command == "$ qdisclab tc -s -b shaping.tc"
    assert qdisclab(command.split()[2:], tmp_path) == "\n".join(shown) + "\n"


def test_guide_tc_stats_excerpt(tmp_path):
    guide = ROOT / "docs" / "guide.md"
    (tmp_path / "tc.toml").write_text(files_of(guide)["tc.toml"])
    qdisclab(["run", "tc.toml", "--out", "tc-run"], tmp_path)
    stats = (tmp_path / "tc-run" / "tc-stats.txt").read_text()
    excerpt = next(b for lang, _i, b in blocks(guide) if lang == "text" and "# A/eth0" in b)
    assert stats.startswith(excerpt)
