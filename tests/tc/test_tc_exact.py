"""Output checked byte for byte against iproute2 6.1 on Linux 6.18 (this project's machine).

Every expected text here was printed by the real ``tc`` for the same command
lines (on a veth, whose root shows ``refcnt 3``; a dummy device shows 2);
each case runs as one ``qdisclab tc --batch-json -`` batch. That kernel has
no fq_codel, codel, fq, red, netem or prio: their JSON keys and units are
checked against iproute2's q_*.c print functions instead.
"""

from __future__ import annotations

import json

import pytest

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


# -- tc -j: iproute2's JSON ------------------------------------------------------------------
JSON_CASES = [
    # (set-up, show command, what real tc printed)
    ([], "-j qdisc show dev d0",
     '[{"kind":"noqueue","handle":"0:","root":true,"refcnt":2,"options":{}}]\n'),
    (["qdisc add dev d0 root handle 1: pfifo"], "-s -j qdisc show dev d0",
     '[{"kind":"pfifo","handle":"1:","root":true,"refcnt":2,"options":{"limit":1000},"bytes":0,'
     '"packets":0,"drops":0,"overlimits":0,"requeues":0,"backlog":0,"qlen":0}]\n'),
    (["qdisc add dev d0 root handle 1: bfifo limit 3000"], "-j qdisc show dev d0",
     '[{"kind":"bfifo","handle":"1:","root":true,"refcnt":2,"options":{"limit":3000}}]\n'),
    (["qdisc add dev d0 root handle 1: pfifo_fast"], "-j qdisc show dev d0",
     '[{"kind":"pfifo_fast","handle":"1:","root":true,"refcnt":2,"options":{"bands":3,'
     '"priomap":[1,2,2,2,1,2,0,0,1,1,1,1,1,1,1,1],"multiqueue":false}}]\n'),
    (["qdisc add dev d0 root handle 1: tbf rate 10mbit burst 10kb lat 50ms"], "-d -j qdisc show dev d0",
     '[{"kind":"tbf","handle":"1:","root":true,"refcnt":2,"options":{"rate":1250000,"burst":"10Kb/1",'
     '"mpu":0,"lat":50000,"linklayer":"ethernet"}}]\n'),
    (["qdisc add dev d0 root handle 1: tbf rate 512Kibit buffer 1600 limit 3000 peakrate 2.5mbit "
      "mtu 1600 overhead 4 linklayer atm"], "-j qdisc show dev d0",
     '[{"kind":"tbf","handle":"1:","root":true,"refcnt":2,"options":{"rate":65536,"burst":1801,'
     '"minburst":1801,"lat":18280,"overhead":4,"linklayer":"atm"}}]\n'),
    (["qdisc add dev d0 root handle 1: tbf rate 512Kibit buffer 1600 limit 3000 peakrate 2.5mbit "
      "mtu 1600 overhead 4 linklayer atm"], "-d -j qdisc show dev d0",
     '[{"kind":"tbf","handle":"1:","root":true,"refcnt":2,"options":{"rate":65536,"burst":"1801b/1",'
     '"mpu":0,"mtu":"1801b/1","mpu":0,"lat":18280,"overhead":4,"linklayer":"atm"}}]\n'),
    (["qdisc add dev d0 root handle 1: tbf rate 20000 burst 1400 limit 900"], "-j qdisc show dev d0",
     '[{"kind":"tbf","handle":"1:","root":true,"refcnt":2,"options":{"rate":2500,"burst":1400,'
     '"limit":900}}]\n'),
    (["qdisc add dev d0 root handle 1: htb default 20"], "-d -j qdisc show dev d0",
     '[{"kind":"htb","handle":"1:","root":true,"refcnt":2,"options":{"r2q":10,"default":"0x20",'
     '"direct_packets_stat":0,"ver":"3.17","direct_qlen":1000}}]\n'),
    (["qdisc add dev d0 root handle 1: htb"], "-j qdisc show dev d0",
     '[{"kind":"htb","handle":"1:","root":true,"refcnt":2,"options":{"r2q":10,"default":"0",'
     '"direct_packets_stat":0,"direct_qlen":1000}}]\n'),
    (["qdisc add dev d0 root handle 1: htb default 20", "qdisc add dev d0 ingress"],
     "-p -j qdisc show dev d0",
     '[ {\n        "kind": "htb",\n        "handle": "1:",\n        "root": true,\n'
     '        "refcnt": 2,\n        "options": {\n            "r2q": 10,\n'
     '            "default": "0x20",\n            "direct_packets_stat": 0,\n'
     '            "direct_qlen": 1000\n        }\n    },{\n        "kind": "ingress",\n'
     '        "handle": "ffff:",\n        "parent": "ffff:fff1",\n        "options": {}\n    } ]\n'),
    # tc 6.1's class show has no JSON: -j prints the text
    (HTB_TREE, "-j class show dev d0",
     "class htb 1:10 parent 1:1 leaf 10: prio 0 rate 2Mbit ceil 6Mbit burst 1600b cburst 1599b \n"
     "class htb 1:1 root rate 10Mbit ceil 10Mbit burst 1600b cburst 1600b \n"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("setup", "show", "text"),
    JSON_CASES,
    ids=[c[1] + " " + " ".join(c[0])[:40] for c in JSON_CASES],
)
def test_json_as_tc_prints_it(setup, show, text):
    rows = run([*setup, show])
    assert [r["exit"] for r in rows] == [0] * len(rows)
    assert rows[-1]["stdout"] == text


def test_htb_details_show_the_version():
    rows = run(["qdisc add dev d0 root handle 1: htb default 20", "-d qdisc show dev d0"])
    assert rows[1]["stdout"] == (
        "qdisc htb 1: root refcnt 2 r2q 10 default 0x20 direct_packets_stat 0 ver 3.17 "
        "direct_qlen 1000\n"
    )


def _only(rows: list[dict]) -> dict:
    return json.loads(rows[-1]["stdout"])[0]


def test_fq_codel_json_keys_and_xstats():
    # fq_codel_print_opt / fq_codel_print_xstats: times in us, memory_limit in bytes.
    q = _only(
        run(
            ["qdisc add dev d0 root handle 1: fq_codel ce_threshold 2ms", "-s -j qdisc show dev d0"]
        )
    )
    assert q["options"] == {"limit": 10240, "flows": 1024, "quantum": 1514, "target": 5000,
                            "ce_threshold": 2000, "interval": 100000, "memory_limit": 33554432,
                            "ecn": True, "drop_batch": 64}  # fmt: skip
    assert list(q)[5:] == ["bytes", "packets", "drops", "overlimits", "requeues", "backlog", "qlen",
                           "maxpacket", "drop_overlimit", "new_flow_count", "ecn_mark",
                           "new_flows_len", "old_flows_len"]  # fmt: skip


def test_red_json_has_every_flag():
    q = _only(run(["qdisc add dev d0 root handle 1: red limit 2M avpkt 1000 min 200K max 600K ecn",
                   "-s -j qdisc show dev d0"]))  # fmt: skip
    assert q["options"] == {"limit": 2097152, "min": 204800, "max": 614400, "ecn": True,
                            "harddrop": False, "adaptive": False, "nodrop": False}  # fmt: skip
    assert [q[k] for k in ("marked", "early", "pdrop", "other")] == [0, 0, 0, 0]


def test_netem_json_in_seconds_and_fractions():
    q = _only(run(["qdisc add dev d0 root handle 1: netem delay 40ms 4ms 25% loss 5% 10% rate 1mbit 4",
                   "-j qdisc show dev d0"]))  # fmt: skip
    assert q["options"] == {
        "limit": 1000,
        "delay": {"delay": 0.04, "jitter": 0.004, "correlation": 0.25},
        "loss-random": {"loss": 0.05, "correlation": 0.1},
        "rate": {"rate": 125000, "packetoverhead": 4, "cellsize": 0, "celloverhead": 0},
        "ecn": False,
        "gap": 0,
    }


def test_fq_json_rates_in_bytes_and_slack_in_ns():
    q = _only(
        run(["qdisc add dev d0 root handle 1: fq nopacing maxrate 1mbit", "-j qdisc show dev d0"])
    )
    opts = q["options"]
    assert (opts["pacing"], opts["maxrate"], opts["low_rate_threshold"]) == (False, 125000, 68750)
    assert (opts["refill_delay"], opts["timer_slack"], opts["horizon"]) == (40000, 10000, 10000000)
    assert "horizon_drop" in opts and opts["horizon_drop"] is None


def test_unknown_words_exit_255_as_tc_does():
    rows = run(["qdisc foo dev d0", "class foo dev d0", "foo", "-foo qdisc show", "qdisc show dev d0 foo",
                "class show dev d0 foo",
                "filter foo dev d0", "filter show dev d0 foo", "ip link foo"])  # fmt: skip
    assert [(r["exit"], r["stderr"]) for r in rows] == [
        (255, 'Command "foo" is unknown, try "tc qdisc help".\n'),
        (255, 'Command "foo" is unknown, try "tc class help".\n'),
        (255, 'Object "foo" is unknown, try "tc help".\n'),
        (255, 'Option "-foo" is unknown, try "tc -help".\n'),
        (255, 'What is "foo"? Try "tc qdisc help".\n'),
        (255, 'What is "foo"? Try "tc class help".\n'),
        (255, 'Command "foo" is unknown, try "tc filter help".\n'),
        (255, ' What is "foo"? Try "tc filter help"\n'),
        (255, 'Command "foo" is unknown, try "ip link help".\n'),
    ]


@pytest.mark.parametrize("key", ["parent", "leaf"])
def test_an_inline_htb_class_key_without_its_value_is_incomplete_not_a_crash(key):
    added, shown = run(
        [f"qdisc add dev d0 root htb class 1:10 rate 1mbit {key}", "qdisc show dev d0"]
    )
    assert added["exit"] == 255 and "Command line is not complete" in added["stderr"]
    assert shown["exit"] == 0 and "htb" not in shown["stdout"]  # nothing was installed


def test_red_bandwidth_0_means_the_10mbit_default_as_in_tc():
    red = "root red limit 400000 min 30000 max 90000 avpkt 1000"
    _link, zero, default, shown0, shown1 = run(
        ["ip link add dev d1 type dummy", f"qdisc add dev d0 {red} bandwidth 0",
         f"qdisc add dev d1 {red}", "-d qdisc show dev d0", "-d qdisc show dev d1"]
    )  # fmt: skip
    assert zero["exit"] == default["exit"] == 0, zero["stderr"]
    same = shown0["stdout"].replace("8001:", "H:") == shown1["stdout"].replace("8002:", "H:")
    assert "limit 400000b" in shown0["stdout"] and same
