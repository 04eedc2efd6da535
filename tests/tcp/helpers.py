"""Small builders shared by the TCP tests."""

from __future__ import annotations

from qdisclab.net import World
from qdisclab.tcp import TcpStack
from qdisclab.tcp.apps import BulkSender


def two_hosts(rate="100mbit", delay="10ms", loss=0.0, qdisc="pfifo limit 1000", seed=1):
    w = World(seed=seed)
    a, b = w.add_host("A"), w.add_host("B")
    link = w.connect(a, b, rate, delay, loss=loss, qdisc=qdisc)
    link.b.channel.loss = 0.0  # loss on the data direction only
    w.build_routes()
    TcpStack.of(a)
    TcpStack.of(b)
    return w, a, b


def bulk(w, a, b, cc="reno", port=5001, name="f1"):
    return BulkSender(a, b, port, name, cc)


def step_events(w, until):
    """Run ``w`` one event time at a time up to ``until`` (ns), yielding before each,
    so a test can compare a socket's state across single events (no monkeypatching:
    the socket may be compiled)."""
    sched = w.sched
    while True:
        t = sched.next_time()
        if t is None or t > until:
            break
        yield t
        sched.run(t)
