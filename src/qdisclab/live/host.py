"""Running host tools for live mode: what is missing, and commands bounded in time.

Every command goes through ``run`` (or ``spawn`` for the ones that run
alongside the datapath), wrapped in coreutils ``timeout`` so that nothing a
live experiment starts can outlive its bound, whatever happens to qdisclab.

>>> missing_requirements(tools=("sh",), need_root=False)
[]
"""

from __future__ import annotations

import os
import shutil
import subprocess
from typing import Any

from qdisclab.errors import UserError

# The tools a full live experiment uses (iperf3 only with --load iperf3, ping only with --probe).
BASE_TOOLS = ("ip", "timeout")
PROBE_TOOL = "ping"
LOAD_TOOLS = ("iperf3", "ss")  # ss tells when the iperf3 server listens


def missing_requirements(tools: tuple[str, ...] = BASE_TOOLS, need_root: bool = True) -> list[str]:
    """What this host lacks for a live run: ``root`` and/or tool names, empty when all is there."""
    missing = []
    if need_root and os.geteuid() != 0:
        missing.append("root (network namespaces and TUN devices need CAP_NET_ADMIN)")
    missing += [tool for tool in tools if shutil.which(tool) is None]
    if need_root and not os.path.exists("/dev/net/tun"):
        missing.append("/dev/net/tun")
    return missing


def require(tools: tuple[str, ...]) -> None:
    """Raise ``UserError`` naming everything missing (root, tools), or return quietly."""
    missing = missing_requirements(tools)
    if missing:
        raise UserError(
            "live mode needs " + ", ".join(missing)
            + " (scripts/install-test-deps.sh installs iproute2, iperf3 and iputils-ping)"
        )  # fmt: skip


def bounded(argv: list[str], seconds: float, netns: str | None = None) -> list[str]:
    """``argv`` run inside ``netns`` (if given) and killed after ``seconds``."""
    inner = ["ip", "netns", "exec", netns, *argv] if netns else argv
    return ["timeout", "-k", "1", f"{seconds:.3f}", *inner]


def run(argv: list[str], seconds: float = 10.0, netns: str | None = None,
        check: bool = True) -> subprocess.CompletedProcess[str]:  # fmt: skip
    """Run a command to completion within ``seconds``; raise ``UserError`` if it fails."""
    proc = subprocess.run(
        bounded(argv, seconds, netns), capture_output=True, text=True, timeout=seconds + 5
    )
    if check and proc.returncode != 0:
        where = f" in {netns}" if netns else ""
        raise UserError(
            f"`{' '.join(argv)}`{where} failed (exit {proc.returncode}): "
            f"{(proc.stderr or proc.stdout).strip().splitlines()[-1:] or ''}"
        )
    return proc


def spawn(argv: list[str], seconds: float, netns: str | None = None,
          stdout: Any = subprocess.PIPE) -> subprocess.Popen[str]:  # fmt: skip
    """Start a command alongside the datapath, bounded to ``seconds``.

    Output goes to a pipe read when it ends, or to ``stdout`` (a file) for a
    command that prints more than a pipe holds while it runs.
    """
    return subprocess.Popen(
        bounded(argv, seconds, netns),
        stdout=stdout,
        stderr=subprocess.PIPE,
        text=True,
    )
