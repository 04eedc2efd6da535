"""``qdisclab tc --batch-json -``: cases written after the kernel's tc-testing qdisc cases.

Each case is one batch: set-up, the command under test, a verify command and
teardown; the expected exit codes and texts are what iproute2 6.1 on Linux
6.18 prints (checked on this project's machine for pfifo, bfifo, pfifo_fast,
tbf and htb; the other kinds against iproute2's q_*.c and net/sched).
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from qdisclab.net.tc import TcHost, run_batch_json

SETUP = ["ip link add dev d0 type dummy", "ip link set dev d0 up"]


def run(lines: list[str]) -> list[dict]:
    return list(run_batch_json([*SETUP, *lines, "#reset"]))[len(SETUP) : -1]


CASES = [
    # (name, command under test, its exit, verify command, text the verify prints)
    ("pfifo default limit is txqueuelen", "qdisc add dev d0 handle 1: root pfifo", 0,
     "qdisc show dev d0", "qdisc pfifo 1: root refcnt 2 limit 1000p\n"),
    ("pfifo limit 1k is 1024 packets", "qdisc add dev d0 root handle 1: pfifo limit 1k", 0,
     "qdisc show dev d0", "qdisc pfifo 1: root refcnt 2 limit 1024p\n"),
    ("pfifo limit 0 is kept", "qdisc add dev d0 root handle 1: pfifo limit 0", 0,
     "qdisc show dev d0", "qdisc pfifo 1: root refcnt 2 limit 0p\n"),
    ("bfifo default limit is txqueuelen * (mtu + 14)", "qdisc add dev d0 root handle 1: bfifo", 0,
     "qdisc show dev d0", "qdisc bfifo 1: root refcnt 2 limit 1514000b\n"),
    ("pfifo_fast shows its priomap", "qdisc add dev d0 root handle 1: pfifo_fast", 0,
     "qdisc show dev d0",
     "qdisc pfifo_fast 1: root refcnt 2 bands 3 priomap 1 2 2 2 1 2 0 0 1 1 1 1 1 1 1 1\n"),
    ("prio short priomap", "qdisc add dev d0 root handle 1: prio bands 4 priomap 3 3", 0,
     "qdisc show dev d0",
     "qdisc prio 1: root refcnt 2 bands 4 priomap 3 3 2 2 1 2 0 0 1 1 1 1 1 1 1 1\n"),
    ("tbf lat round-trips", "qdisc add dev d0 root handle 1: tbf rate 10mbit burst 10kb lat 50ms", 0,
     "qdisc show dev d0", "qdisc tbf 1: root refcnt 2 rate 10Mbit burst 10Kb lat 50ms \n"),
    ("tbf ticks round 1600 to 1599",
     "qdisc add dev d0 root handle 1: tbf rate 512Kibit buffer 1600 limit 3000 peakrate 2.5mbit mtu 1600",
     0, "qdisc show dev d0",
     "qdisc tbf 1: root refcnt 2 rate 524288bit burst 1599b peakrate 2500Kbit minburst 1600b lat 21.4ms \n"),
    ("tbf atm cells, overhead, mpu",
     "qdisc add dev d0 root handle 1: tbf rate 10mbit burst 10kb/8 latency 50ms mpu 64 overhead 4 linklayer atm",
     0, "-d qdisc show dev d0",
     "qdisc tbf 1: root refcnt 2 rate 10Mbit burst 11341b/1 mpu 64b lat 49.1ms overhead 4 linklayer atm \n"),
    ("htb defaults from the device", "qdisc add dev d0 root handle 1: htb def 20", 0,
     "qdisc show dev d0",
     "qdisc htb 1: root refcnt 2 r2q 10 default 0x20 direct_packets_stat 0 direct_qlen 1000\n"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("name", "cmd", "code", "verify", "text"), CASES, ids=[c[0] for c in CASES]
)
def test_case(name, cmd, code, verify, text):
    rows = run([cmd, verify, "qdisc del dev d0 root"])
    assert (rows[0]["exit"], rows[0]["stderr"]) == (code, "")
    assert rows[1]["stdout"] == text
    assert rows[2]["exit"] == 0


ERRORS = [
    ("qdisc add dev d0 root pfifo limit -5", 1, 'pfifo: Illegal value for "limit": "-5"\n'),
    ("qdisc add dev d0 root pfifo limit 100p", 1, 'pfifo: Illegal value for "limit": "100p"\n'),
    ("qdisc add dev d0 root pfifo limit", 255, 'Command line is not complete. Try option "help"\n'),
    ("qdisc add dev d0 handle zz root pfifo", 255, 'Error: argument "zz" is wrong: invalid qdisc ID\n'),
    ("qdisc add dev d0 root foo", 2, "Error: Specified qdisc kind is unknown.\n"),
    ("qdisc add dev d9 root pfifo", 1, 'Cannot find device "d9"\n'),
    ("qdisc add dev d0 root pfifo_fast bands 3", 255, "qdisc 'pfifo_fast' does not support option parsing\n"),
    ("qdisc del dev d0 root", 2, "Error: Cannot delete qdisc with handle of zero.\n"),
    ("qdisc change dev d0 root pfifo", 2, "Error: Qdisc not found. To create specify NLM_F_CREATE flag.\n"),
]  # fmt: skip


@pytest.mark.parametrize(("cmd", "code", "err"), ERRORS, ids=[e[0] for e in ERRORS])
def test_errors(cmd, code, err):
    row = run([cmd])[0]
    assert (row["exit"], row["stderr"]) == (code, err)


def test_kernel_semantics_on_an_existing_root():
    rows = run([
        "qdisc add dev d0 root handle 1: htb",
        "qdisc change dev d0 root handle 1: htb default 10",
        "qdisc add dev d0 root handle 2: pfifo",
        "qdisc replace dev d0 root handle 1: pfifo",
        "qdisc add dev d0 root handle 1: htb",
        "qdisc add dev d0 root pfifo limit 5",
        "qdisc show dev d0",
    ])  # fmt: skip
    assert [r["exit"] for r in rows] == [0, 2, 2, 2, 2, 0, 0]
    assert rows[1]["stderr"] == "Error: Change operation not supported by specified qdisc.\n"
    assert rows[2]["stderr"] == "Error: NLM_F_REPLACE needed to override.\n"
    assert rows[3]["stderr"] == "Error: Invalid qdisc name: must match existing qdisc.\n"
    assert rows[4]["stderr"] == "Error: Exclusivity flag on, cannot modify.\n"
    # add without a handle, of another kind: a new qdisc grafted over the root
    assert rows[6]["stdout"] == "qdisc pfifo 8001: root refcnt 2 limit 5p\n"


def test_auto_handles_count_on_across_the_host_and_skip_used_ones():
    rows = run([
        "qdisc add dev d0 root pfifo",
        "qdisc replace dev d0 root bfifo limit 7",  # a new kind: a new qdisc, the next handle
        "qdisc replace dev d0 root handle 8003: pfifo",
        "qdisc add dev d0 parent 8003:1 pfifo",  # pfifo is classless: refused, no step
        "qdisc replace dev d0 root tbf rate 1mbit burst 10k",  # refused by tc: no counter step
        "qdisc replace dev d0 root tbf rate 1mbit burst 10k limit 10k",
        "qdisc show dev d0",
    ])  # fmt: skip
    assert rows[3]["stderr"] == "Error: Parent qdisc is not classful.\n"
    assert rows[4]["exit"] == 1
    assert rows[-1]["stdout"] == "qdisc tbf 8004: root refcnt 2 rate 1Mbit burst 10Kb lat 0us \n"


def test_htb_classes_filters_and_class_show():
    host = TcHost()
    for line in [*SETUP,
                 "tc qdisc add dev d0 root handle 1: htb default 20",
                 "tc class add dev d0 parent 1: classid 1:1 htb rate 100mbit",
                 "tc class add dev d0 parent 1:1 classid 1:10 htb rate 2mbit ceil 6mbit",
                 "tc class add dev d0 parent 1:1 classid 1:20 htb rate 1mbit"]:  # fmt: skip
        assert host.run(line).exit == 0, line
    warn = host.run("tc class change dev d0 parent 1: classid 1:1 htb rate 200mbit")
    assert warn.exit == 0
    assert warn.stderr == "Warning: sch_htb: quantum of class 10001 is big. Consider r2q change.\n"
    assert host.run("tc class del dev d0 classid 1:1").stderr == "Error: HTB class in use.\n"
    shown = host.run("tc class show dev d0").stdout
    assert (
        "class htb 1:10 parent 1:1 prio 0 rate 2Mbit ceil 6Mbit burst 1600b cburst 1599b \n"
        in shown
    )
    flt = (
        "tc filter add dev d0 parent 1: protocol ip prio 1 u32 match ip dport 80 0xffff flowid 1:10"
    )
    assert host.run(flt).exit == 0
    # The user's handles are the handles: the filter's 1:10 reaches class 1:10.
    from qdisclab.skb import IPPROTO_TCP, SkBuff

    root = host.device("d0").qdisc
    classes = root.ops.classes
    books = host.world.flow_books("web")
    for dport in (80, 22, 22):
        skb = SkBuff(1000, 1, 2, 5000, dport, IPPROTO_TCP, 0, books)
        books.book_sent(skb)
        root.enqueue(skb)
    assert classes[0x10010].leaf.qlen == 1  # the filter's class
    assert classes[0x10020].leaf.qlen == 2  # the default class
    assert root.ops.direct_pkts == 0
    root.reset()


def test_tbf_at_10mbit_passes_full_frames_at_the_kernel_rate():
    """1514-byte frames through tbf rate 10mbit: 10e6 / (1514 * 8) frames per second.

    That is what Linux's tbf gives (psched_l2t_ns of the whole Ethernet frame);
    counting only the IP packet would let 0.93 % more through.
    """
    from tests.sched.qdisc_helpers import Recorder, packet

    from qdisclab.net import World

    world = World(seed=3)
    a, b = world.add_host("A"), world.add_host("B")
    dev = world.connect(a, b, "100mbit", "1ms").a
    world.build_routes()
    rec = Recorder(world)
    b.register_protocol(17, rec)
    host = TcHost(world, a)
    assert host.run("tc qdisc replace dev eth0 root tbf rate 10mbit burst 15k limit 60k").exit == 0
    for i in range(4000):  # 1500-byte packets at 20 Mbit/s for 2.4 s
        world.sched.call_at(i * 600_000, lambda _a: dev.xmit(packet(world, dev)), None)
    world.run(2_400_000_000)
    steady = [t for t, _ in rec.arrivals if t > 400_000_000]
    frames_per_s = (len(steady) - 1) * 1e9 / (steady[-1] - steady[0])
    kernel = 10e6 / (1514 * 8)
    assert frames_per_s == pytest.approx(kernel, rel=0.003)
    assert frames_per_s < 10e6 / (1500 * 8) * 0.995  # not the IP-length rate
    world.check_conservation()


def test_cli_batch_json_round_trip():
    lines = "\n".join(
        [*SETUP, "qdisc add dev d0 root handle 1: pfifo", "#reset", "qdisc show dev d0", ""]
    )
    proc = subprocess.run(
        [sys.executable, "-m", "qdisclab", "tc", "--batch-json", "-"],
        input=lines, capture_output=True, text=True, check=False,
    )  # fmt: skip
    rows = [json.loads(line) for line in proc.stdout.splitlines()]
    assert proc.returncode == 0 and len(rows) == 5
    assert rows[3] == {"line": 4, "cmd": "#reset", "exit": 0, "stdout": "", "stderr": ""}
    assert rows[4]["exit"] == 1 and rows[4]["stderr"] == 'Cannot find device "d0"\n'
