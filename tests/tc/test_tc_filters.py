"""``tc filter``: the u32 dump, handles, ``del`` semantics and errors as iproute2 6.1 on Linux 6.18.

The expected texts were printed by the real ``tc`` on this project's machine
for the same lines (on a veth; ``fw`` and ``matchall`` are not built into
that kernel, so theirs follow f_fw.c / f_matchall.c). Each test is one
``--batch-json`` batch; the datapath checks classify packets through the
qdisc the filters were added to.
"""

from __future__ import annotations

import json

import pytest

from qdisclab.net.tc import TcHost, run_batch_json
from qdisclab.skb import SkBuff

HTB = [
    "ip link add dev d0 type dummy",
    "qdisc add dev d0 root handle 1: htb default 20",
    "class add dev d0 parent 1: classid 1:10 htb rate 2mbit ceil 6mbit",
    "class add dev d0 parent 1: classid 1:20 htb rate 1mbit",
]
TALK = "We have an error talking to the kernel\n"


def run(lines: list[str]) -> list[dict]:
    rows = list(run_batch_json([*HTB, *lines]))
    assert [r["exit"] for r in rows[: len(HTB)]] == [0] * len(HTB)
    return rows[len(HTB) :]


FIVE = [
    "filter add dev d0 parent 1: protocol ip prio 1 u32 match ip dport 80 0xffff flowid 1:10",
    "filter add dev d0 parent 1: protocol ip prio 1 u32 match ip sport 22 0xffff classid 1:20",
    "filter add dev d0 parent 1: protocol ip prio 2 u32 match ip src 10.0.0.0/8 match ip protocol 6 0xff flowid 1:10",
    "filter add dev d0 parent 1: protocol ip prio 3 u32 match ip dst 192.168.1.0/24 match ip dport 443 0xffff flowid 1:20",
    "filter add dev d0 parent 1: u32 match ip dst 1.2.3.4 flowid 1:20",
    "filter add dev d0 parent 1: prio 5 u32 match ip tos 0x10 0xff flowid 1:20",
]  # fmt: skip
FIVE_SHOWN = "".join(line + "\n" for line in [
    'filter parent 1: protocol ip pref 1 u32 chain 0 ',
    'filter parent 1: protocol ip pref 1 u32 chain 0 fh 800: ht divisor 1 ',
    'filter parent 1: protocol ip pref 1 u32 chain 0 fh 800::800 order 2048 key ht 800 bkt 0 *flowid 1:10 not_in_hw ',
    '  match 00000050/0000ffff at 20',
    'filter parent 1: protocol ip pref 1 u32 chain 0 fh 800::801 order 2049 key ht 800 bkt 0 *flowid 1:20 not_in_hw ',
    '  match 00160000/ffff0000 at 20',
    'filter parent 1: protocol ip pref 2 u32 chain 0 ',
    'filter parent 1: protocol ip pref 2 u32 chain 0 fh 801: ht divisor 1 ',
    'filter parent 1: protocol ip pref 2 u32 chain 0 fh 801::800 order 2048 key ht 801 bkt 0 *flowid 1:10 not_in_hw ',
    '  match 0a000000/ff000000 at 12',
    '  match 00060000/00ff0000 at 8',
    'filter parent 1: protocol ip pref 3 u32 chain 0 ',
    'filter parent 1: protocol ip pref 3 u32 chain 0 fh 802: ht divisor 1 ',
    'filter parent 1: protocol ip pref 3 u32 chain 0 fh 802::800 order 2048 key ht 802 bkt 0 *flowid 1:20 not_in_hw ',
    '  match c0a80100/ffffff00 at 16',
    '  match 000001bb/0000ffff at 20',
    'filter parent 1: protocol all pref 5 u32 chain 0 ',
    'filter parent 1: protocol all pref 5 u32 chain 0 fh 804: ht divisor 1 ',
    'filter parent 1: protocol all pref 5 u32 chain 0 fh 804::800 order 2048 key ht 804 bkt 0 *flowid 1:20 not_in_hw ',
    '  match 00100000/00ff0000 at 0',
    'filter parent 1: protocol all pref 49152 u32 chain 0 ',
    'filter parent 1: protocol all pref 49152 u32 chain 0 fh 803: ht divisor 1 ',
    'filter parent 1: protocol all pref 49152 u32 chain 0 fh 803::800 order 2048 key ht 803 bkt 0 *flowid 1:20 not_in_hw ',
    '  match 01020304/ffffffff at 16',
])  # fmt: skip


def test_u32_dump_is_the_kernels():
    rows = run([*FIVE, "filter show dev d0", "-s filter show dev d0"])
    assert [r["exit"] for r in rows[:-2]] == [0] * len(FIVE)
    assert rows[-2]["stdout"] == FIVE_SHOWN
    assert rows[-1]["stdout"] == FIVE_SHOWN  # this kernel has no u32 counters to add


def test_show_leaves_out_what_it_was_asked_for():
    rows = run([*FIVE[:3], "filter show dev d0 parent 1: prio 1", "filter show dev d0 pref 2",
                "filter show dev d0 protocol ip"])  # fmt: skip
    assert rows[-3]["stdout"].splitlines()[:2] == [
        "filter protocol ip u32 chain 0 ",
        "filter protocol ip u32 chain 0 fh 800: ht divisor 1 ",
    ]
    assert rows[-2]["stdout"].splitlines()[0] == "filter parent 1: protocol ip u32 chain 0 "
    assert rows[-1]["stdout"].splitlines()[0] == "filter parent 1: pref 1 u32 chain 0 "


def test_pretty_decodes_ip_keys():
    rows = run([*FIVE[:3], "-p filter show dev d0"])
    assert rows[-1]["stdout"].splitlines()[2:] == [
        "filter parent 1: protocol ip pref 1 u32 chain 0 fh 800::800 order 2048 key ht 800 bkt 0 "
        "*flowid 1:10 not_in_hw match dport 80",
        "filter parent 1: protocol ip pref 1 u32 chain 0 fh 800::801 order 2049 key ht 800 bkt 0 "
        "*flowid 1:20 not_in_hw ",
        "  match sport 22",
        "filter parent 1: protocol ip pref 2 u32 chain 0 ",
        "filter parent 1: protocol ip pref 2 u32 chain 0 fh 801: ht divisor 1 ",
        "filter parent 1: protocol ip pref 2 u32 chain 0 fh 801::800 order 2048 key ht 801 bkt 0 "
        "*flowid 1:10 not_in_hw ",
        "  match IP src 10.0.0.0/8",
        "  match IP protocol 6",
    ]  # fmt: skip


def test_json_has_one_match_object_per_key():
    rows = run([*FIVE[:3], "-j filter show dev d0 pref 2"])
    assert rows[-1]["stdout"] == (
        '[{"parent":"1:","protocol":"ip","kind":"u32","chain":0},{"parent":"1:","protocol":"ip",'
        '"kind":"u32","chain":0,"options":{"fh":"801:","ht_divisor":1}},{"parent":"1:","protocol":'
        '"ip","kind":"u32","chain":0,"options":{"fh":"801::800","order":2048,"key_ht":"801","bkt":'
        '"0","flowid":"1:10","not_in_hw":true,"match":{"value":"a000000","mask":"ff000000",'
        '"offmask":"","off":12},"match":{"value":"60000","mask":"ff0000","offmask":"","off":8}}}]\n'
    )


def test_keys_at_one_offset_merge_and_values_are_masked():
    rows = run([
        "filter add dev d0 parent 1: protocol ip prio 3 u32 match ip sport 80 0xffff match ip dport 80 0xffff "
        "match ip dst 10.0.0.1/32 flowid 10",
        "filter add dev d0 parent 1: protocol ip prio 8 u32 match ip protocol 17 0xff match ip dport 53 0xffff "
        "match ip sport 1000 0xff00 flowid 1:20",
        "filter add dev d0 parent 1: protocol ip prio 9 u32 match ip tos 0x10 0xff match ip dsfield 0x20 0xfc flowid 1:20",
        "filter show dev d0",
    ])  # fmt: skip
    assert rows[2] == {**rows[2], "exit": 1, "stderr": 'Illegal "match"\n'}
    assert rows[-1]["stdout"].splitlines()[2:] == [
        "filter parent 1: protocol ip pref 3 u32 chain 0 fh 800::800 order 2048 key ht 800 bkt 0 *flowid :10 not_in_hw ",
        "  match 00500050/ffffffff at 20",
        "  match 0a000001/ffffffff at 16",
        "filter parent 1: protocol ip pref 8 u32 chain 0 ",
        "filter parent 1: protocol ip pref 8 u32 chain 0 fh 801: ht divisor 1 ",
        "filter parent 1: protocol ip pref 8 u32 chain 0 fh 801::800 order 2048 key ht 801 bkt 0 *flowid 1:20 not_in_hw ",
        "  match 00110000/00ff0000 at 8",
        "  match 03000035/ff00ffff at 20",
    ]  # fmt: skip


def test_handles_priorities_and_replace_keep_the_kernels_rules():
    rows = run([
        "filter add dev d0 parent 1: u32 match ip dst 1.2.3.4 flowid 1:20",
        "filter add dev d0 parent 1: u32 match ip dst 1.2.3.5 flowid 1:20",  # below the first: 49151
        "filter add dev d0 parent 1: protocol ip prio 3 handle 802::a u32 match ip dst 1.2.3.6 flowid 1:20",
        "filter add dev d0 parent 1: protocol ip prio 3 handle ::b u32 match ip dst 1.2.3.6 flowid 1:20",
        "filter add dev d0 parent 1: protocol ip prio 3 u32 match ip dst 1.2.3.7 flowid 1:21",
        "filter replace dev d0 parent 1: protocol ip prio 3 handle 802::a u32 match ip dst 9.9.9.9 flowid 1:22",
        "filter change dev d0 parent 1: protocol ip prio 3 handle 802::c u32 match ip dst 9.9.9.9 flowid 1:22",
        "filter change dev d0 parent 1: protocol ip prio 3 handle 802::b u32 match ip dst 8.8.8.8 classid 1:23",
        "filter add dev d0 parent 1: protocol ip prio 3 handle 802::b u32 match ip dst 8.8.8.8 classid 1:23",
        "filter add dev d0 parent 1: protocol ip prio 3 handle 800::9 u32 match ip dst 8.8.8.8 classid 1:23",
        "filter add dev d0 parent 1: protocol ipv6 prio 3 u32 match ip dst 1.1.1.2 flowid 1:10",
        "filter add dev d0 parent 1: protocol ip prio 3 fw classid 1:1",
        "filter show dev d0 pref 3",
    ])  # fmt: skip
    assert [r["exit"] for r in rows] == [0, 0, 0, 0, 0, 0, 2, 0, 2, 2, 2, 2, 0]
    assert (
        rows[6]["stderr"]
        == "Error: Need both RTM_NEWTFILTER and NLM_F_CREATE to create a new filter.\n" + TALK
    )
    assert rows[8]["stderr"] == "Error: Filter already exists.\n" + TALK
    assert (
        rows[9]["stderr"]
        == "Error: cls_u32: Handle specified hash table address mismatch.\n" + TALK
    )
    assert (
        rows[10]["stderr"]
        == "Error: Protocol mismatch for filter with specified priority.\n" + TALK
    )
    assert (
        rows[11]["stderr"] == "Error: Specified filter kind does not match existing one.\n" + TALK
    )
    assert rows[-1]["stdout"] == (
        "filter parent 1: protocol ip u32 chain 0 \n"
        "filter parent 1: protocol ip u32 chain 0 fh 802: ht divisor 1 \n"
        "filter parent 1: protocol ip u32 chain 0 fh 802::a order 10 key ht 802 bkt 0 *flowid 1:22 not_in_hw \n"
        "  match 01020306/ffffffff at 16\n"  # a replace keeps the node's selector
        "filter parent 1: protocol ip u32 chain 0 fh 802::b order 11 key ht 802 bkt 0 *flowid 1:23 not_in_hw \n"
        "  match 01020306/ffffffff at 16\n"
        "filter parent 1: protocol ip u32 chain 0 fh 802::800 order 2048 key ht 802 bkt 0 *flowid 1:21 not_in_hw \n"
        "  match 01020307/ffffffff at 16\n"
    )
    prefs = run(["filter add dev d0 parent 1: u32 match ip dst 1.2.3.4 flowid 1:20",
                 "filter add dev d0 parent 1: u32 match ip dst 1.2.3.5 flowid 1:20", "filter show dev d0"])  # fmt: skip
    assert [ln.split(" pref ")[1].split()[0] for ln in prefs[-1]["stdout"].splitlines()[::4]] == [
        "49151",
        "49152",
    ]


DELETE = [
    # (command under test, exit, stderr, the prefs left)
    ("filter del dev d0 parent 1: pref 2", 0, "", ["1", "3"]),
    ("filter del dev d0 parent 1: pref 2 protocol ip", 0, "", ["1", "3"]),
    ("filter del dev d0 parent 1: pref 2 protocol ipv6", 2,
     "Error: Protocol mismatch for filter with specified priority.\n" + TALK, ["1", "2", "3"]),
    ("filter del dev d0 parent 1: pref 7", 2,
     "Error: Filter with specified priority/protocol not found.\n" + TALK, ["1", "2", "3"]),
    ("filter del dev d0 parent 1: pref 1 handle 800::801 u32", 0, "", ["1", "2", "3"]),
    ("filter del dev d0 parent 1: pref 1 handle 800::900 u32", 2,
     "Error: Specified filter handle not found.\n" + TALK, ["1", "2", "3"]),
    ("filter del dev d0 parent 1: pref 1 handle 800::801", 255,
     'Must specify filter type when using "handle"\n', ["1", "2", "3"]),
    ("filter del dev d0 parent 1: handle 800::801 u32", 2,
     "Error: Cannot flush filters with protocol, handle or kind set.\n" + TALK, ["1", "2", "3"]),
    ("filter del dev d0 parent 1: pref 1 handle 800: u32", 2,
     "Error: cls_u32: Not allowed to delete root node.\n" + TALK, ["1", "2", "3"]),
    ("filter del dev d0 parent 1: pref 1 u32", 0, "", ["2", "3"]),
    ("filter del dev d0 parent 1: pref 1 fw", 2,
     "Error: Specified filter kind does not match existing one.\n" + TALK, ["1", "2", "3"]),
    ("filter del dev d0 parent 1:", 0, "", []),
    ("filter del dev d0", 0, "", []),
    ("filter del dev d0 root", 2, "Error: Parent Qdisc doesn't exists.\n" + TALK, ["1", "2", "3"]),
    ("filter del dev d0 parent 5:", 2, "Error: Parent Qdisc doesn't exists.\n" + TALK, ["1", "2", "3"]),
]  # fmt: skip


@pytest.mark.parametrize(("cmd", "code", "err", "left"), DELETE, ids=[d[0] for d in DELETE])
def test_delete_as_the_kernel_does(cmd, code, err, left):
    rows = run([*FIVE[:4], cmd, "filter show dev d0"])
    assert (rows[4]["exit"], rows[4]["stderr"]) == (code, err)
    shown = rows[5]["stdout"].splitlines()
    assert sorted({ln.split(" pref ")[1].split()[0] for ln in shown if " pref " in ln}) == left


def test_deleting_the_last_node_of_the_only_instance_removes_it():
    rows = run([
        "filter add dev d0 parent 1: protocol ip prio 1 u32 match ip dport 80 0xffff flowid 1:10",
        "filter del dev d0 parent 1: prio 1 handle 800::800 u32",
        "filter show dev d0",
        "filter del dev d0 parent 1: prio 1",
        "filter add dev d0 parent 1: protocol ip prio 1 u32 match ip dport 80 0xffff flowid 1:10",
        "filter add dev d0 parent 1: protocol ip prio 2 u32 match ip dport 80 0xffff flowid 1:10",
        "filter del dev d0 parent 1: prio 1 handle 800::800 u32",
        "filter show dev d0 pref 1",
    ])  # fmt: skip
    assert rows[2]["stdout"] == ""
    assert rows[3]["stderr"] == "Error: Cannot find specified filter chain.\n" + TALK
    # with another u32 instance on the qdisc, the emptied one stays, its table with it
    assert rows[-1]["stdout"] == (
        "filter parent 1: protocol ip u32 chain 0 \n"
        "filter parent 1: protocol ip u32 chain 0 fh 800: ht divisor 1 \n"
    )


ERRORS = [
    ("filter add dev d0 parent 5: protocol ip prio 2 u32 match ip dport 81 0xffff flowid 1:1", 2,
     "Error: Parent Qdisc doesn't exists.\n" + TALK),
    ("filter add dev d0 root u32 match ip dst 1.2.3.4 flowid 1:20", 2,
     "Error: Parent Qdisc doesn't exists.\n" + TALK),
    ("filter add parent 1: u32 match ip dst 1.2.3.4 flowid 1:20", 2,
     "RTNETLINK answers: No such device\n" + TALK),
    ("filter add dev d0 parent 1: protocol ip prio 2 u32 match ip dport 81 flowid 1:1", 1, 'Illegal "match"\n'),
    ("filter add dev d0 parent 1: protocol ip prio 2 u32 match ip foo 81 0xffff flowid 1:1", 1,
     'Illegal "match"\n'),
    ("filter add dev d0 parent 1: protocol ip prio 2 u32 match ip dport 70000 0xffff flowid 1:1", 1,
     'Illegal "match"\n'),
    ("filter add dev d0 parent 1: protocol ip prio 9 u32 match ip dst 1.2.3.4/33 flowid 1:20", 1,
     'Illegal "match"\n'),
    ("filter add dev d0 parent 1: protocol ip prio 6 flower dst_ip 10.0.0.1 classid 1:10", 2,
     "Error: TC classifier not found.\n" + TALK),
    ("filter add dev d0 parent 1: protocol ip prio 2 foo classid 1:1", 1,
     'Unknown filter "foo", hence option "classid" is unparsable\n'),
    ("filter add dev d0 parent 1: protocol ip prio 2 u32 flowid 1:1", 2,
     "Error: cls_u32: Selector not specified.\n" + TALK),
    ("filter add dev d0 parent 1: protocol ip prio 9 u32 match ip dst 1.2.3.4 flowid 1:xyz", 1,
     'Illegal "classid"\n'),
    ("filter add dev d0 parent 1: protocol ip prio 9 u32 match ip dst 1.2.3.4 flowid", 255,
     'Command line is not complete. Try option "help"\n'),
    ("filter add dev d0 parent 1: protocol foo prio 9 u32 match ip dst 1.2.3.4 flowid 1:1", 255,
     'Error: argument "foo" is wrong: invalid protocol\n'),
    ("filter add dev d0 parent 1: protocol ip prio x9 u32 match ip dst 1.2.3.4 flowid 1:1", 255,
     'Error: argument "x9" is wrong: invalid priority value\n'),
    ("filter add dev d0 parent 1: protocol ip prio 9 handle zz u32 match ip dst 1.2.3.4 flowid 1:1", 1,
     "Illegal filter ID\n"),
    ("filter add dev d0 parent 1: protocol ip prio 6 handle ::1000 u32 match ip dport 80 0xffff flowid 1:10",
     1, "Illegal filter ID\n"),
    ("filter add dev d0 parent 1:30 protocol ip prio 3 u32 match ip dport 80 0xffff flowid 1:10", 2,
     "Error: Specified class doesn't exist.\n" + TALK),
]  # fmt: skip


@pytest.mark.parametrize(("cmd", "code", "err"), ERRORS, ids=[e[0] for e in ERRORS])
def test_errors_as_tc_prints_them(cmd, code, err):
    row = run([cmd])[0]
    assert (row["exit"], row["stderr"]) == (code, err)


def test_filters_on_a_classless_or_missing_root():
    rows = list(run_batch_json([
        "ip link add dev d0 type dummy",
        "filter add dev d0 protocol ip prio 6 u32 match ip dport 80 0xffff flowid 1:10",
        "filter del dev d0",
        "filter show dev d0",
        "qdisc add dev d0 root handle 2: pfifo",
        "filter add dev d0 parent 2: protocol ip prio 2 u32 match ip dport 5 0xffff flowid 1:1",
    ]))  # fmt: skip
    assert [r["exit"] for r in rows] == [0, 2, 2, 0, 0, 2]
    assert (
        rows[1]["stderr"]
        == rows[2]["stderr"]
        == rows[5]["stderr"]
        == "Error: Qdisc not classful.\n" + TALK
    )


def test_ingress_filters_are_shown_as_ingress():
    rows = run([
        "qdisc add dev d0 ingress",
        "filter add dev d0 parent ffff: protocol ip prio 1 u32 match ip src 10.0.0.0/8 flowid :1",
        "filter add dev d0 ingress protocol ip prio 1 u32 match ip src 10.0.0.0/8 flowid :1",
        "filter show dev d0 parent ffff:",
        "filter show dev d0 ingress",
    ])  # fmt: skip
    assert rows[3]["stdout"].splitlines()[2] == (
        "filter ingress protocol ip pref 1 u32 chain 0 fh 800::800 order 2048 key ht 800 bkt 0 *flowid :1 not_in_hw "
    )
    assert rows[4]["stdout"].splitlines()[4] == (
        "filter protocol ip pref 1 u32 chain 0 fh 800::801 order 2049 key ht 800 bkt 0 *flowid :1 not_in_hw "
    )


def test_get_prints_one_filter_in_full():
    rows = run(["filter add dev d0 parent 1: protocol ip prio 6 u32 order 7 match ip dport 80 0xffff flowid 1:10",
                "filter change dev d0 parent 1: protocol ip prio 6 handle 800::7 u32 flowid 1:11",
                "filter get dev d0 parent 1: protocol ip prio 6 handle 800::7 u32"])  # fmt: skip
    assert rows[-1]["stdout"] == (
        "filter parent 1: protocol ip pref 6 u32 chain 0 fh 800::7 order 7 key ht 800 bkt 0 *flowid 1:11 not_in_hw \n"
        "  match 00000050/0000ffff at 20\n"
    )


def test_fw_and_matchall_print_as_f_fw_and_f_matchall():
    rows = run([
        "filter add dev d0 parent 1: protocol ip prio 2 handle 5 fw classid 1:10",
        "filter add dev d0 parent 1: protocol ip prio 2 handle 0x6/0xff fw classid 1:20",
        "filter add dev d0 parent 1: protocol ip prio 3 matchall classid 1:20",
        "filter add dev d0 parent 1: protocol ip prio 3 matchall classid 1:10",
        "filter show dev d0",
        "-j filter show dev d0 pref 3",
    ])  # fmt: skip
    assert [r["exit"] for r in rows] == [0, 2, 0, 2, 0, 0]  # one mask per fw instance, one matchall
    assert rows[4]["stdout"] == (
        "filter parent 1: protocol ip pref 2 fw chain 0 \n"
        "filter parent 1: protocol ip pref 2 fw chain 0 handle 0x5 classid 1:10 \n"
        "filter parent 1: protocol ip pref 3 matchall chain 0 \n"
        "filter parent 1: protocol ip pref 3 matchall chain 0 handle 0x1 flowid 1:20 \n"
        "  not_in_hw\n"
    )
    assert json.loads(rows[5]["stdout"])[1]["options"] == {
        "handle": 1,
        "flowid": "1:20",
        "not_in_hw": True,
    }


def _skb(src: int, dport: int, mark: int = 0, sport: int = 1234) -> SkBuff:
    skb = SkBuff(1000, src, 0x0B000001, sport, dport, 6, 0)
    skb.mark = mark
    return skb


def test_the_datapath_classifies_with_what_tc_shows():
    host = TcHost()
    for line in [
        *HTB,
        *FIVE[:3],
        "filter add dev d0 parent 1: protocol ip prio 4 handle 7 fw classid 1:10",
        "filter add dev d0 parent 1: protocol ipv6 prio 6 u32 match ip dport 443 0xffff flowid 1:10",
    ]:
        assert host.run(line).exit == 0, line
    q = host.node.devices["d0"].qdisc
    assert q.classify(_skb(0x01020304, 80)) == 0x10010  # pref 1, dport 80
    assert q.classify(_skb(0x01020304, 9, sport=22)) == 0x10020  # pref 1's second node
    assert q.classify(_skb(0x0A000001, 22)) == 0x10010  # pref 2: src 10/8 and TCP
    assert q.classify(_skb(0x0B000001, 5, mark=7)) == 0x10010  # fw
    assert q.classify(_skb(0x0B000001, 443)) == 0  # an ipv6 filter never sees IPv4 packets
    assert host.run("tc filter del dev d0 parent 1: pref 1").exit == 0
    assert q.classify(_skb(0x01020304, 80)) == 0
    assert host.run("tc filter del dev d0 parent 1:").exit == 0
    assert len(q.filters) == 0


def test_table_ids_are_cyclic_and_start_over_with_the_first_instance():
    rows = run([
        *(f"filter add dev d0 parent 1: protocol ip prio {p} u32 match ip dport 80 0xffff flowid 1:1"
          for p in (1, 2, 3)),
        "filter del dev d0 parent 1: prio 2",
        "filter add dev d0 parent 1: protocol ip prio 4 u32 match ip dport 80 0xffff flowid 1:1",
        "filter show dev d0 pref 4",
        "filter del dev d0 parent 1:",
        "filter add dev d0 parent 1: protocol ip prio 4 u32 match ip dport 80 0xffff flowid 1:1",
        "filter show dev d0 pref 4",
    ])  # fmt: skip
    assert rows[5]["stdout"].splitlines()[1].endswith("fh 803: ht divisor 1 ")  # 801 is not reused
    assert rows[8]["stdout"].splitlines()[1].endswith("fh 800: ht divisor 1 ")


def test_classful_qdiscs_without_blocks_refuse_filters():
    rows = list(run_batch_json([
        "ip link add dev d0 type dummy",
        "qdisc add dev d0 root handle 1: tbf rate 1mbit burst 10k lat 10ms",
        "filter add dev d0 parent 1: protocol ip prio 1 u32 match ip dport 80 0xffff flowid 1:1",
    ]))  # fmt: skip
    assert (rows[2]["exit"], rows[2]["stderr"]) == (
        2,
        "Error: Class doesn't support blocks.\n" + TALK,
    )
