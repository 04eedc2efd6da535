"""``tc qdisc change`` / ``replace`` of the same kind alter a live qdisc in place.

The kernel's ``->change()`` keeps the packets a qdisc holds: fifo, netem and
the others keep all of them; codel, fq_codel and fq, given a lower limit,
drop from the head down to it and count those drops. Packets are put into
the device's root qdisc directly (a batch cannot send any), then drained.
This file also holds the kernel's tc-testing fq case that needs live packets
(limit trimming), which ``kernel_cases`` cannot express as a batch.
"""

from __future__ import annotations

import pytest

from qdisclab.net.tc import TcHost
from qdisclab.sched.constants import NET_XMIT_SUCCESS
from qdisclab.skb import IPPROTO_UDP, SkBuff, skb_consume


def host_with(qdisc: str) -> TcHost:
    host = TcHost()
    for line in ("ip link add dev d0 type dummy", f"qdisc add dev d0 root handle 1: {qdisc}"):
        assert host.run(line).exit == 0, line
    return host


def fill(host: TcHost, count: int, length: int = 1000, priority: int = 0) -> list[SkBuff]:
    """``count`` packets of one flow queued in d0's root, in order."""
    books = host.world.flow_books("f")
    q = host.device("d0").qdisc
    queued = []
    for _ in range(count):
        skb = SkBuff(length, 1, 2, 1000, 9, IPPROTO_UDP, host.world.now, books)
        skb.priority = priority
        books.book_sent(skb)
        assert q.enqueue(skb) == NET_XMIT_SUCCESS
        queued.append(skb)
    return queued


def drain(host: TcHost) -> list[SkBuff]:
    """Dequeue (and deliver) everything the root gives now."""
    q = host.device("d0").qdisc
    out = []
    while (skb := q.dequeue()) is not None:
        out.append(skb)
        skb_consume(skb)
    return out


def change(host: TcHost, line: str) -> None:
    result = host.run(line)
    assert result.exit == 0, result.stderr


def shown(host: TcHost) -> str:
    return host.run("tc -s qdisc show dev d0").stdout


def assert_conserved(host: TcHost, sent: int) -> None:
    books = host.world.flow_books("f")
    in_flight = host.device("d0").qdisc.qlen
    assert books.sent_packets == sent
    assert books.delivered_packets + sum(books.dropped.values()) + in_flight == sent


@pytest.mark.parametrize(
    ("qdisc", "changed", "expect"),
    [
        ("pfifo limit 50", "pfifo limit 40", "limit 40p"),
        ("bfifo limit 100000", "bfifo limit 60000", "limit 60000b"),
        ("netem limit 100", "netem limit 80 loss 0%", "limit 80"),
        ("codel limit 50", "codel limit 40 target 7ms", "target 7ms"),
        ("fq_codel limit 50", "fq_codel limit 40 noecn", "limit 40p"),
        ("fq limit 50", "fq limit 40 quantum 6000", "quantum 6000b"),
    ],
)
@pytest.mark.parametrize("verb", ["change", "replace"])
def test_change_keeps_queued_packets(qdisc, changed, expect, verb):
    host = host_with(qdisc)
    queued = fill(host, 20)
    change(host, f"qdisc {verb} dev d0 root handle 1: {changed}")
    assert expect in shown(host)
    assert host.device("d0").qdisc.qlen == 20
    assert drain(host) == queued  # all of them, in their order
    assert "dropped 0," in shown(host)
    assert_conserved(host, 20)


@pytest.mark.parametrize(
    ("qdisc", "lowered"),
    [
        ("codel limit 50", "codel limit 8"),
        ("fq_codel limit 50", "fq_codel limit 8"),
        ("fq limit 50", "fq limit 8"),
    ],
)
def test_lowered_limit_drops_from_the_head(qdisc, lowered):
    host = host_with(qdisc)
    queued = fill(host, 30)
    change(host, f"qdisc change dev d0 root handle 1: {lowered}")
    q = host.device("d0").qdisc
    assert (q.qlen, q.backlog, q.drops) == (8, 8 * 1000, 22)
    text = shown(host)
    assert "limit 8p" in text
    assert "Sent 0 bytes 0 pkt (dropped 22," in text
    assert "backlog 8000b 8p" in text
    assert drain(host) == queued[-8:]  # the newest eight survive
    assert_conserved(host, 30)
    assert sum(host.world.flow_books("f").dropped.values()) == 22


def test_fq_trim_with_live_packets_kernel_case():
    """tc-testing's fq limit-trimming case: a lowered limit trims the live queue to it."""
    host = host_with("fq limit 100 flow_limit 100")
    fill(host, 60)
    change(host, "qdisc change dev d0 root handle 1: fq limit 10")
    text = shown(host)
    assert "qdisc fq 1: root refcnt 2 limit 10p flow_limit 100p" in text
    assert "dropped 50," in text and "backlog 10000b 10p" in text
    # Below the new limit the queue takes packets again, up to the limit.
    drain(host)
    fill(host, 10)
    assert host.device("d0").qdisc.qlen == 10


def test_fifo_lowered_limit_keeps_packets_and_refuses_new_ones():
    """fifo_init is the fifos' change: nothing queued is dropped, the limit applies to arrivals."""
    host = host_with("pfifo limit 20")
    queued = fill(host, 10)
    change(host, "qdisc change dev d0 root handle 1: pfifo limit 4")
    q = host.device("d0").qdisc
    assert q.qlen == 10 and q.drops == 0
    books = host.world.flow_books("f")
    late = SkBuff(1000, 1, 2, 1000, 9, IPPROTO_UDP, host.world.now, books)
    books.book_sent(late)
    q.enqueue(late)
    assert q.drops == 1
    assert drain(host) == queued


def test_fq_codel_change_cannot_resize_flows_and_keeps_queue():
    host = host_with("fq_codel flows 128")
    fill(host, 5)
    result = host.run("qdisc change dev d0 root handle 1: fq_codel flows 256")
    assert result.exit == 2
    assert host.device("d0").qdisc.qlen == 5
    assert "flows 128" in shown(host)


def test_htb_refuses_change_and_keeps_its_qdisc():
    host = host_with("htb default 10")
    result = host.run("qdisc change dev d0 root handle 1: htb default 20")
    assert result.exit == 2
    assert "Change operation not supported by specified qdisc" in result.stderr
    assert "default 0x10" in shown(host)


def test_kinds_without_in_place_change_still_restart():
    """red's change replaces its inner fifo when a limit is given (tc always sends one)."""
    host = host_with("red limit 400000 min 30000 max 90000 avpkt 1000 burst 55")
    fill(host, 5)
    change(host, "qdisc change dev d0 root handle 1: red limit 500000 min 30000 max 90000 "
           "avpkt 1000 burst 55")  # fmt: skip
    assert host.device("d0").qdisc.qlen == 0
    assert "limit 500000b" in shown(host)
    assert_conserved(host, 5)


def test_tbf_change_keeps_the_inner_fifo_and_sets_its_limit():
    host = host_with("tbf rate 1mbit burst 10kb limit 30000")
    queued = fill(host, 20)
    change(host, "qdisc change dev d0 root handle 1: tbf rate 2mbit burst 10kb limit 25000")
    root = host.device("d0").qdisc
    assert "rate 2Mbit" in shown(host)
    assert root.qlen == 20 and root.children[1].limit == 25000
    sent = drain(host)  # the refilled bucket passes the head of the queue
    assert sent and sent == queued[: len(sent)]
    assert root.qlen == 20 - len(sent)
    assert_conserved(host, 20)


def test_prio_change_keeps_kept_bands_and_drops_removed_ones():
    host = host_with("prio bands 3")
    kept = fill(host, 5, priority=0)  # priomap: band 1
    fill(host, 4, priority=1)  # band 2, gone when the bands drop to 2
    change(host, "qdisc change dev d0 root handle 1: prio bands 2 priomap " + "1 " * 16)
    root = host.device("d0").qdisc
    assert sorted(root.children) == [1, 2]
    assert (root.qlen, root.backlog) == (5, 5000)
    text = shown(host)
    assert "bands 2 priomap 1 1 1" in text
    assert drain(host) == kept
    assert_conserved(host, 9)
    assert sum(host.world.flow_books("f").dropped.values()) == 4
    change(host, "qdisc change dev d0 root handle 1: prio bands 4")
    assert sorted(root.children) == [1, 2, 3, 4]  # the added bands get a pfifo each
