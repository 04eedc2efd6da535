"""Output checked byte for byte against iproute2 6.1 on Linux 6.18 (this project's machine).

Every expected text here was printed by the real ``tc`` for the same command
lines (on a veth, whose root shows ``refcnt 3``; a dummy device shows 2);
each case runs as one ``qdisclab tc --batch-json -`` batch.
"""

from __future__ import annotations

from qdisclab.net.tc import run_batch_json

SETUP = ["ip link add dev d0 type dummy", "ip link set dev d0 up"]


def run(lines: list[str]) -> list[dict]:
    return list(run_batch_json([*SETUP, *lines]))[len(SETUP) :]


HTB_TREE = [
    "qdisc add dev d0 root handle 1: htb default 20",
    "class add dev d0 parent 1: classid 1:1 htb rate 10mbit",
    "class add dev d0 parent 1:1 classid 1:10 htb rate 2mbit ceil 6mbit",
    "qdisc add dev d0 parent 1:10 handle 10: pfifo limit 50",
]


def test_htb_ctokens_are_tc_ticks_of_whole_microseconds():
    # cburst 1600 at 6 Mbit/s is 2133.33 us; tc keeps 2133 us, 33328 ticks (not 33333).
    out = run([*HTB_TREE, "-s class show dev d0"])[-1]["stdout"]
    assert out == (
        "class htb 1:10 parent 1:1 leaf 10: prio 0 rate 2Mbit ceil 6Mbit burst 1600b cburst 1599b \n"
        " Sent 0 bytes 0 pkt (dropped 0, overlimits 0 requeues 0) \n"
        " backlog 0b 0p requeues 0\n"
        " lended: 0 borrowed: 0 giants: 0\n"
        " tokens: 100000 ctokens: 33328\n"
        "\n"
        "class htb 1:1 root rate 10Mbit ceil 10Mbit burst 1600b cburst 1600b \n"
        " Sent 0 bytes 0 pkt (dropped 0, overlimits 0 requeues 0) \n"
        " backlog 0b 0p requeues 0\n"
        " lended: 0 borrowed: 0 giants: 0\n"
        " tokens: 20000 ctokens: 20000\n"
        "\n"
    )


def test_htb_class_details():
    out = run([*HTB_TREE, "-d class show dev d0"])[-1]["stdout"]
    assert out == (
        "class htb 1:10 parent 1:1 leaf 10: prio 0 quantum 25000 rate 2Mbit ceil 6Mbit linklayer "
        "ethernet burst 1600b/1 mpu 0b cburst 1599b/1 mpu 0b level 0 \n"
        "class htb 1:1 root rate 10Mbit ceil 10Mbit linklayer ethernet burst 1600b/1 mpu 0b "
        "cburst 1600b/1 mpu 0b level 7 \n"
    )


def test_tbf_bucket_is_the_kernels_time_for_the_burst():
    # sch_tbf converts the burst bytes at the rate (psched_l2t_ns): 1599b, lat 1.07ms.
    rows = run([
        "qdisc add dev d0 root handle 1: tbf rate 10Mibit burst 1600 limit 3000",
        "qdisc show dev d0",
    ])  # fmt: skip
    assert (
        rows[1]["stdout"] == "qdisc tbf 1: root refcnt 2 rate 10485Kbit burst 1599b lat 1.07ms \n"
    )
