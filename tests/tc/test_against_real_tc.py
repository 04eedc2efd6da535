"""qdisclab's tc against the real one: the same lines through iproute2 6.1 on Linux 6.18 and qdisclab.

Runs where the real pair is at hand (root, ``unshare``, ``tc`` 6.1, a 6.18
kernel, veth): each script runs in a fresh network namespace (gone when the
process ends) on a veth, and in qdisclab on a dummy device; every line's
output and exit code must be the same. A veth root shows ``refcnt 3`` where
a dummy device shows 2, so that number is set aside. Elsewhere the test skips
and says why; tests/tc/test_tc_filters.py and test_tc_exact.py hold the same
outputs as fixed texts.
"""

from __future__ import annotations

import os
import platform
import re
import shlex
import shutil
import subprocess

import pytest
from tests.tc.kernel_cases import CASES

from qdisclab.net.tc import TcHost

SCRIPTS = {
    'qdisc_json': [
        'tc -j qdisc show dev a0',
        'tc qdisc add dev a0 root handle 1: pfifo',
        'tc -j qdisc show dev a0',
        'tc -s -j qdisc show dev a0',
        'tc qdisc del dev a0 root',
        'tc qdisc add dev a0 root handle 1: bfifo limit 3000',
        'tc -j qdisc show dev a0',
        'tc qdisc del dev a0 root',
        'tc qdisc add dev a0 root handle 1: pfifo_fast',
        'tc -j qdisc show dev a0',
        'tc -s -j qdisc show dev a0',
        'tc qdisc del dev a0 root',
        'tc qdisc add dev a0 root handle 1: tbf rate 10mbit burst 10kb lat 50ms',
        'tc -j qdisc show dev a0',
        'tc -d -j qdisc show dev a0',
        'tc -s -j qdisc show dev a0',
        'tc qdisc del dev a0 root',
        'tc qdisc add dev a0 root handle 1: tbf rate 512Kibit buffer 1600 limit 3000 peakrate 2.5mbit mtu 1600 overhead 4 linklayer atm',
        'tc -j qdisc show dev a0',
        'tc -d -j qdisc show dev a0',
        'tc qdisc del dev a0 root',
        'tc qdisc add dev a0 root handle 1: tbf rate 20000 burst 1400 limit 900',
        'tc -j qdisc show dev a0',
        'tc qdisc show dev a0',
        'tc qdisc del dev a0 root',
        'tc qdisc add dev a0 root handle 1: htb default 20',
        'tc -j qdisc show dev a0',
        'tc -d -j qdisc show dev a0',
        'tc -s -j qdisc show dev a0',
        'tc -s qdisc show dev a0',
        'tc class add dev a0 parent 1: classid 1:1 htb rate 10mbit',
        'tc class add dev a0 parent 1:1 classid 1:10 htb rate 2mbit ceil 6mbit',
        'tc qdisc add dev a0 parent 1:10 handle 10: pfifo limit 50',
        'tc -j class show dev a0',
        'tc -j qdisc show dev a0',
        'tc qdisc add dev a0 ingress',
        'tc -j qdisc show dev a0',
        'tc -p -j qdisc show dev a0',
        'tc -d qdisc show dev a0',
    ],
    'u32_dump': [
        'tc qdisc add dev a0 root handle 1: htb default 20',
        'tc class add dev a0 parent 1: classid 1:10 htb rate 2mbit ceil 6mbit',
        'tc class add dev a0 parent 1: classid 1:20 htb rate 1mbit',
        'tc filter add dev a0 parent 1: protocol ip prio 1 u32 match ip dport 80 0xffff flowid 1:10',
        'tc filter add dev a0 parent 1: protocol ip prio 1 u32 match ip sport 22 0xffff classid 1:20',
        'tc filter add dev a0 parent 1: protocol ip prio 2 u32 match ip src 10.0.0.0/8 match ip protocol 6 0xff flowid 1:10',
        'tc filter add dev a0 parent 1: protocol ip prio 3 u32 match ip dst 192.168.1.0/24 match ip dport 443 0xffff flowid 1:20',
        'tc filter add dev a0 parent 1: u32 match ip dst 1.2.3.4 flowid 1:20',
        'tc filter add dev a0 parent 1: prio 5 u32 match ip tos 0x10 0xff flowid 1:20',
        'tc filter show dev a0',
        'tc -s filter show dev a0',
        'tc filter show dev a0 parent 1: prio 1',
        'tc filter show dev a0 pref 2',
        'tc filter show dev a0 protocol ip',
    ],
    'pretty_and_delete': [
        'tc qdisc add dev a0 root handle 1: htb default 20',
        'tc class add dev a0 parent 1: classid 1:10 htb rate 2mbit ceil 6mbit',
        'tc filter add dev a0 parent 1: protocol ip prio 1 u32 match ip dport 80 0xffff flowid 1:10',
        'tc filter add dev a0 parent 1: protocol ip prio 1 u32 match ip sport 22 0xffff classid 1:20',
        'tc filter add dev a0 parent 1: protocol ip prio 2 u32 match ip src 10.0.0.0/8 match ip protocol 6 0xff flowid 1:10',
        'tc -j filter show dev a0',
        'tc -p filter show dev a0',
        'tc -j filter show dev a0 pref 2',
        'tc filter add dev a0 parent 1: protocol ip prio 2 handle 800::900 u32 match ip dst 1.1.1.1 flowid 1:10',
        'tc filter add dev a0 parent 1: protocol ip prio 2 handle 801::900 u32 match ip dst 1.1.1.1 flowid 1:10',
        'tc filter add dev a0 parent 1: protocol ip prio 2 handle 801::900 u32 match ip dst 1.1.1.2 flowid 1:10',
        'tc filter add dev a0 parent 1: protocol ip prio 1 handle 801::901 u32 match ip dst 1.1.1.2 flowid 1:10',
        'tc filter add dev a0 parent 1: protocol ipv6 prio 1 u32 match ip dst 1.1.1.2 flowid 1:10',
        'tc filter show dev a0',
        'tc filter del dev a0 parent 1: pref 2 handle 801::900 u32',
        'tc filter del dev a0 parent 1: pref 2 handle 801::900 u32',
        'tc filter del dev a0 parent 1: pref 2 handle 801::900',
        'tc filter del dev a0 parent 1: pref 7',
        'tc filter del dev a0 parent 1: pref 2 protocol ipv6',
        'tc filter del dev a0 parent 1: pref 2 protocol ip',
        'tc filter show dev a0',
        'tc filter del dev a0 parent 1: pref 1 handle 800::800',
        'tc filter del dev a0 parent 1: handle 800::801 u32',
        'tc filter del dev a0 parent 1: pref 1 handle 800::801',
        'tc filter show dev a0',
        'tc filter del dev a0 parent 1: pref 1 handle 800: u32',
        'tc filter show dev a0',
    ],
    'filter_errors': [
        'tc filter show dev a0',
        'tc filter add dev a0 parent 1: protocol ip prio 1 u32 match ip dport 80 0xffff flowid 1:10',
        'tc qdisc add dev a0 root handle 1: htb default 20',
        'tc filter del dev a0 parent 1:',
        'tc filter del dev a0 parent 1: pref 1',
        'tc filter add dev a0 parent 1: protocol ip prio 1 u32 match ip dport 80 0xffff flowid 1:10',
        'tc filter add dev a0 parent 1: protocol ip prio 2 u32 match ip dport 81 0xffff flowid 1:10',
        'tc filter add dev a0 parent 1: protocol ip prio 3 u32 match ip sport 80 0xffff match ip dport 80 0xffff match ip dst 10.0.0.1/32 flowid 10',
        'tc filter add dev a0 parent 1: protocol ip prio 4 u32 match ip dport 80 0xff00 classid 1:30',
        'tc filter show dev a0',
        'tc filter del dev a0 parent 1: pref 2 handle 801::800 u32',
        'tc filter show dev a0 pref 2',
        'tc filter add dev a0 parent 1: protocol ip prio 2 u32 match ip dport 81 0xffff flowid 1:10',
        'tc filter show dev a0 pref 2',
        'tc filter del dev a0 parent 1: pref 1 u32',
        'tc filter del dev a0 parent 1:',
        'tc filter show dev a0',
        'tc filter add dev a0 parent 1: protocol ip prio 2 u32 match ip dport 81 0xffff flowid 1:10',
        'tc filter show dev a0',
        'tc filter del dev a0',
        'tc filter show dev a0',
        'tc filter add dev a0 parent 1: protocol ip prio 2 u32 match ip dport 81 0xffff flowid 1:10',
        'tc filter del dev a0 root',
        'tc filter show dev a0',
        'tc filter add dev a0 parent 1: protocol ip prio 2 u32 match ip dport 81 0xffff',
        'tc filter add dev a0 parent 5: protocol ip prio 2 u32 match ip dport 81 0xffff flowid 1:1',
        'tc filter add dev a0 parent 1: protocol ip prio 2 u32 match ip dport 81 flowid 1:1',
        'tc filter add dev a0 parent 1: protocol ip prio 2 u32 match ip foo 81 0xffff flowid 1:1',
        'tc filter add dev a0 parent 1: protocol ip prio 2 u32 match tcp dport 81 0xffff flowid 1:1',
        'tc filter add dev a0 parent 1: protocol ip prio 2 fw classid 1:1',
        'tc filter add dev a0 parent 1: protocol ip prio 2 foo classid 1:1',
        'tc filter add dev a0 parent 1: protocol ip prio 2 u32 flowid 1:1',
        'tc filter show dev a0',
        'tc filter add dev a0 protocol ip prio 2 u32 match ip dport 5 0xffff flowid 1:1',
        'tc filter show dev a0',
        'tc qdisc replace dev a0 root handle 2: pfifo',
        'tc filter add dev a0 parent 2: protocol ip prio 2 u32 match ip dport 5 0xffff flowid 1:1',
    ],
    'handles': [
        'tc qdisc add dev a0 root handle 1: htb default 20',
        'tc filter add dev a0 parent 1: u32 match ip dst 1.2.3.4 flowid 1:20',
        'tc filter add dev a0 parent 1: u32 match ip dst 1.2.3.5 flowid 1:20',
        'tc filter add dev a0 parent 1: protocol ip prio 3 handle 802::a u32 match ip dst 1.2.3.6 flowid 1:20',
        'tc filter add dev a0 parent 1: protocol ip prio 3 handle ::b u32 match ip dst 1.2.3.6 flowid 1:20',
        'tc filter add dev a0 parent 1: protocol ip prio 3 u32 match ip dst 1.2.3.7 flowid 1:21',
        'tc filter replace dev a0 parent 1: protocol ip prio 3 handle 802::a u32 match ip dst 9.9.9.9 flowid 1:22',
        'tc filter change dev a0 parent 1: protocol ip prio 3 handle 802::c u32 match ip dst 9.9.9.9 flowid 1:22',
        'tc filter change dev a0 parent 1: protocol ip prio 3 handle 802::b u32 match ip dst 8.8.8.8 classid 1:23',
        'tc filter replace dev a0 parent 1: protocol ip prio 3 u32 match ip dst 7.7.7.7 classid 1:23',
        'tc filter show dev a0',
        'tc filter show dev a0 parent 1:',
        'tc filter show',
        'tc filter add parent 1: u32 match ip dst 1.2.3.4 flowid 1:20',
        'tc filter add dev a0 root u32 match ip dst 1.2.3.4 flowid 1:20',
        'tc filter del dev a0 parent 1: prio 49151',
        'tc filter show dev a0 parent 1: prio 49152',
        'tc qdisc add dev a0 ingress',
        'tc filter add dev a0 parent ffff: protocol ip prio 1 u32 match ip src 10.0.0.0/8 flowid :1',
        'tc filter add dev a0 ingress protocol ip prio 1 u32 match ip src 10.0.0.0/8 flowid :1',
        'tc filter show dev a0 parent ffff:',
        'tc filter show dev a0 ingress',
        'tc filter add dev a0 parent 1: protocol ip prio 7 u32 match ip dst 1.2.3.4 match ip src 5.6.7.8/16 match ip sport 80 0xffff match ip tos 0x10 0xff match ip dsfield 0x20 0xfc flowid 1:20',
        'tc filter add dev a0 parent 1: protocol ip prio 8 u32 match ip protocol 17 0xff match ip dport 53 0xffff match ip sport 1000 0xff00 flowid 1:20',
        'tc filter show dev a0 parent 1: prio 7',
        'tc filter show dev a0 parent 1: prio 8',
        'tc filter add dev a0 parent 1: protocol ip prio 9 u32 match ip dst 1.2.3.4 flowid 1:20 foo',
        'tc filter add dev a0 parent 1: protocol ip prio 9 u32 match ip dst 1.2.3.4/33 flowid 1:20',
        'tc filter add dev a0 parent 1: protocol ip prio 9 u32 match ip dst 1.2.3 flowid 1:20',
        'tc filter add dev a0 parent 1: protocol ip prio 9 u32 match ip dport 70000 0xffff flowid 1:20',
        'tc filter add dev a0 parent 1: protocol ip prio 9 u32 match ip dst 1.2.3.4 flowid 1:xyz',
        'tc filter add dev a0 parent 1: protocol ip prio 9 u32 match ip dst 1.2.3.4 flowid',
        'tc filter add dev a0 parent 1: protocol foo prio 9 u32 match ip dst 1.2.3.4 flowid 1:1',
        'tc filter add dev a0 parent 1: protocol ip prio x9 u32 match ip dst 1.2.3.4 flowid 1:1',
        'tc filter add dev a0 parent 1: protocol ip prio 9 handle zz u32 match ip dst 1.2.3.4 flowid 1:1',
        'tc filter add dev a0 parent 1: protocol ip prio 9 handle 5 u32 match ip dst 1.2.3.4 flowid 1:1',
        'tc filter add dev a0 parent 1: protocol ip prio 9 u32 help',
    ],
    'blocks': [
        'tc qdisc add dev a0 root handle 1: tbf rate 1mbit burst 10k lat 10ms',
        'tc filter add dev a0 parent 1: protocol ip prio 1 u32 match ip dport 80 0xffff flowid 1:1',
        'tc qdisc del dev a0 root',
        'tc qdisc add dev a0 root handle 1: pfifo_fast',
        'tc filter add dev a0 parent 1: protocol ip prio 1 u32 match ip dport 80 0xffff flowid 1:1',
        'tc qdisc del dev a0 root',
        'tc qdisc add dev a0 root handle 1: htb',
        'tc filter add dev a0 parent 1: protocol ip prio 1 u32 match ip dport 80 0xffff flowid 1:1',
        'tc filter add dev a0 parent 1: protocol ip prio 2 u32 match ip dport 80 0xffff flowid 1:1',
        'tc filter add dev a0 parent 1: protocol ip prio 3 u32 match ip dport 80 0xffff flowid 1:1',
        'tc filter del dev a0 parent 1: prio 2',
        'tc filter add dev a0 parent 1: protocol ip prio 4 u32 match ip dport 80 0xffff flowid 1:1',
        'tc filter del dev a0 parent 1:',
        'tc filter add dev a0 parent 1: protocol ip prio 4 u32 match ip dport 80 0xffff flowid 1:1',
        'tc filter add dev a0 parent 1: protocol ip prio 4 u32 match ip dport 80 0xffff flowid 1:1 help',
        'tc -j filter show dev a0',
        'tc -j filter show',
        'tc filter show dev a0 parent 1: pref 4 protocol ip',
        'tc filter show dev a0 parent 7:',
        'tc filter show dev a0 parent 1:7',
        'tc class show dev a0',
        'tc -s -j class show dev a0',
    ],
    'last_node': [
        'tc qdisc add dev a0 root handle 1: htb default 20',
        'tc class add dev a0 parent 1: classid 1:10 htb rate 1mbit',
        'tc filter add dev a0 parent 1: protocol ip prio 1 u32 match ip dport 80 0xffff flowid 1:10',
        'tc filter del dev a0 parent 1: prio 1 handle 800::800 u32',
        'tc filter show dev a0',
        'tc filter del dev a0 parent 1: prio 1',
        'tc filter add dev a0 parent 1: protocol ip prio 1 u32 match ip dport 80 0xffff flowid 1:10',
        'tc filter add dev a0 parent 1: protocol ip prio 2 u32 match ip dport 80 0xffff flowid 1:10',
        'tc filter del dev a0 parent 1: prio 1 handle 800::800 u32',
        'tc filter show dev a0',
        'tc filter show dev a0 parent 1:10',
        'tc filter add dev a0 parent 1: protocol ip prio 4 u32 match ip dst 1.2.3 flowid 1:10',
        'tc filter show dev a0 parent 1: prio 4',
        'tc filter add dev a0 parent 1: protocol ip prio 6 u32 order 7 match ip dport 80 0xffff flowid 1:10',
        'tc filter show dev a0 parent 1: prio 6',
        'tc filter add dev a0 parent 1: protocol ip prio 6 handle 1:0:5 u32 match ip dport 80 0xffff flowid 1:10',
        'tc filter add dev a0 parent 1: protocol ip prio 6 handle ::1000 u32 match ip dport 80 0xffff flowid 1:10',
        'tc filter add dev a0 parent 1: protocol ip prio 6 handle 805:1:5 u32 match ip dport 80 0xffff flowid 1:10',
        'tc filter del dev a0 parent 1: protocol ip prio 6 handle 805::5 u32',
        'tc filter add dev a0 parent 1: protocol ip prio 6 handle 805:: u32 match ip dport 80 0xffff flowid 1:10',
        'tc filter add dev a0 parent 1: protocol ip prio 6 handle 805: u32 match ip dport 80 0xffff flowid 1:10',
        'tc filter change dev a0 parent 1: protocol ip prio 6 handle 805::7 u32 flowid 1:11',
        'tc filter show dev a0 parent 1: prio 6',
        'tc filter get dev a0 parent 1: protocol ip prio 6 handle 805::7 u32',
        'tc qdisc del dev a0 root',
        'tc filter add dev a0 protocol ip prio 6 u32 match ip dport 80 0xffff flowid 1:10',
        'tc filter del dev a0',
        'tc filter show dev a0',
    ],
    'errors_and_get': [
        'tc qdisc add dev a0 root handle 1: htb',
        'tc filter add dev a0 parent 1: protocol ip prio 1 u32 match ip dport 80 0xffff flowid 1:1',
        'tc filter change dev a0 parent 1: u32 match ip dport 80 0xffff flowid 1:1',
        'tc filter replace dev a0 parent 1: u32 match ip dport 81 0xffff flowid 1:1',
        'tc filter change dev a0 parent 1: prio 9 u32 match ip dport 80 0xffff flowid 1:1',
        'tc filter add dev a0 parent 1: protocol all prio 2 u32 match ip dport 80 0xffff flowid 1:1',
        'tc filter del dev a0 parent 1: protocol ip',
        'tc filter get dev a0 parent 1: protocol ip prio 1 handle 800::900 u32',
        'tc filter get dev a0 parent 1: protocol ip prio 1 u32',
        'tc filter get dev a0 parent 1: protocol ip prio 7 handle 800::800 u32',
        'tc filter show dev a0',
        'tc filter show dev a0 foo',
        'tc filter foo dev a0',
    ],
}  # fmt: skip


def _real_tc_missing() -> str:
    if os.geteuid() != 0:
        return "root"
    for tool in ("tc", "ip", "unshare"):
        if shutil.which(tool) is None:
            return f"the {tool} tool"
    version = subprocess.run(["tc", "-V"], capture_output=True, text=True).stdout
    if "iproute2-6.1" not in version:
        return f"iproute2 6.1 (found {version.strip() or 'none'})"
    if not platform.release().startswith("6.18"):
        return f"Linux 6.18 (found {platform.release()})"
    probe = subprocess.run(["unshare", "-n", "ip", "link", "add", "a0", "type", "veth", "peer", "name", "b0"],
                           capture_output=True, text=True)  # fmt: skip
    return "" if probe.returncode == 0 else f"veth devices in a namespace ({probe.stderr.strip()})"


MISSING = _real_tc_missing()
_REFCNT = re.compile(r'(refcnt"?:? ?)3')


def real(lines: list[str]) -> list[str]:
    script = "ip link add a0 type veth peer name b0 && ip link set a0 up || exit 99\n"
    for line in lines:
        script += f"echo '@@@'; {line} 2>&1; echo \"@@@ $?\"\n"
    proc = subprocess.run(["unshare", "-n", "sh", "-c", script], capture_output=True, text=True,
                          timeout=120, check=True)  # fmt: skip
    parts = proc.stdout.split("@@@\n")[1:]
    return [_REFCNT.sub(r"\g<1>2", part) for part in parts]


def mine(lines: list[str]) -> list[str]:
    host = TcHost()
    host.run("ip link add dev a0 type dummy")
    host.run("ip link set dev a0 up")
    out = []
    for line in lines:
        result = host.run(shlex.join(shlex.split(line)))
        out.append(f"{result.stdout}{result.stderr}@@@ {result.exit}\n")
    return out


@pytest.mark.skipif(bool(MISSING), reason=f"comparing with the real tc needs {MISSING}")
@pytest.mark.parametrize("name", sorted(SCRIPTS))
def test_same_as_real_tc(name):
    lines = SCRIPTS[name]
    for line, got, want in zip(lines, mine(lines), real(lines), strict=True):
        assert (line, got) == (line, want)


REAL_KINDS = ("fifo", "pfifo_fast", "tbf", "htb", "ingress")  # the qdiscs this kernel has
CASE_LINES = {
    f"{c[0]}: {c[1]}": [f"tc {line}".replace("d0", "a0") for line in (*c[2], c[3], c[5])
                        if not line.startswith("ip link add")]
    for c in CASES if c[0] in REAL_KINDS
}  # fmt: skip


@pytest.mark.skipif(bool(MISSING), reason=f"comparing with the real tc needs {MISSING}")
@pytest.mark.parametrize("name", sorted(CASE_LINES))
def test_kernel_cases_same_as_real_tc(name):
    lines = CASE_LINES[name]
    assert list(zip(lines, mine(lines), strict=True)) == list(zip(lines, real(lines), strict=True))
