"""``ctx.random_u32()`` (``bpf_get_prandom_u32``): a tc program's randomness, per run seed."""

from __future__ import annotations

from qdisclab.net import World
from qdisclab.ops import KFUNCS, lookup
from qdisclab.skb import IPPROTO_UDP, SkBuff, skb_consume
from qdisclab.tcx import TCX_DROP, TCX_NEXT, SkbContext, Tcx


def _sampled(seed: int, packets: int = 400) -> list[int]:
    """Ports of the packets a program sampling one in four at random let through."""
    w = World(seed=seed)
    a, b = w.add_host("A"), w.add_host("B")
    w.connect(a, b, "1gbit", "1ms")
    w.build_routes()
    got: list[int] = []

    class Sink:
        def receive(self, skb):
            got.append(skb.sport)
            skb_consume(skb)

    b.register_protocol(IPPROTO_UDP, Sink())
    tcx = Tcx.of(next(iter(a.devices.values())))

    def sample(ctx):
        return TCX_NEXT if ctx.random_u32() % 4 == 0 else TCX_DROP

    tcx.egress.attach(tcx.load(sample, name="sample"))
    books = w.flow_books("f")
    for i in range(packets):
        skb = SkBuff(100, a.addr, b.addr, 1000 + i, 9, IPPROTO_UDP, w.now, books)
        books.book_sent(skb)
        a.output(skb)
    w.run()
    w.check_conservation()
    return got


def test_two_runs_with_one_seed_sample_the_same_packets_and_another_seed_differs():
    first, again, other = _sampled(11), _sampled(11), _sampled(12)
    assert first == again
    assert first != other
    assert 50 < len(first) < 150  # about one in four of 400


def test_the_tcx_kfuncs_are_declared_once_on_the_context():
    kf = lookup("bpf_get_prandom_u32", "tcx")
    assert (kf.python, kf.func) == ("ctx.random_u32()", SkbContext.random_u32)
    names = {k.name for k in KFUNCS.of("tcx")}
    assert names == {"bpf_get_prandom_u32", "bpf_ktime_get_ns", "bpf_redirect",
                     "bpf_skb_set_tstamp"}  # fmt: skip
