"""Namespaces and devices live mode creates are always removed, even after SIGKILL."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import pytest

from qdisclab.live import LiveLab
from qdisclab.live.netns import ADDR_B, owned_name, owner_pid

CHILD = """
import sys, time
from qdisclab.live import LiveLab
lab = LiveLab()
lab.open()
print(lab.ns_a, lab.ns_b, flush=True)
time.sleep(60)
"""


def test_names_carry_the_prefix_and_the_owner():
    name = owned_name("a")
    assert name.startswith("qdl-") and owner_pid(name) == os.getpid()
    assert owner_pid("veth0") is None and owner_pid("qdl-abc-a") is None


@pytest.mark.root
def test_lab_joins_two_namespaces_and_removes_them(live_host, ours):
    with LiveLab() as lab:
        assert sorted(ours()) == sorted([lab.ns_a, lab.ns_b])
        addrs = lab.run_in("b", ["ip", "-o", "addr", "show", "dev", lab.dev_b]).stdout
        assert ADDR_B in addrs
        # nothing forwards between the TUN fds yet, so a ping cannot get through
        ping = lab.run_in("a", ["ping", "-c", "1", "-W", "0.3", ADDR_B], check=False)
        assert ping.returncode != 0
    assert ours() == []


@pytest.mark.root
def test_packet_lab_has_a_middle_namespace_and_removes_all_three(live_host, ours):
    with LiveLab("packet") as lab:
        assert sorted(ours()) == sorted([lab.ns_a, lab.ns_b, lab.ns_m])
        links = lab.run_in(lab.ns_m, ["ip", "-o", "link", "show"]).stdout
        assert "-xa@" in links and "-xb@" in links and lab.fd_a >= 0 and lab.fd_b >= 0
        offloads = lab.run_in("a", ["ethtool", "-k", lab.dev_a]).stdout
        assert "tcp-segmentation-offload: off" in offloads
    assert ours() == []


def _start_child() -> tuple[subprocess.Popen, list[str]]:
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    line = child.stdout.readline()
    if not line:
        child.kill()
        pytest.fail(f"child could not open a lab: {child.stderr.read()}")
    return child, line.split()


@pytest.mark.root
def test_sigkilled_owner_is_swept_by_the_next_start(live_host, ours):
    child, names = _start_child()
    child.kill()  # SIGKILL: no handler, no atexit
    child.wait(timeout=10)
    assert sorted(ours(child.pid)) == sorted(names), "the killed child's namespaces stay..."
    with LiveLab():
        assert ours(child.pid) == [], "...until the next start sweeps them"
    assert ours() == []


@pytest.mark.root
def test_sigterm_removes_the_lab(live_host, ours):
    child, names = _start_child()
    assert sorted(ours(child.pid)) == sorted(names)
    child.send_signal(signal.SIGTERM)
    assert child.wait(timeout=20) == 128 + signal.SIGTERM
    assert ours(child.pid) == []
