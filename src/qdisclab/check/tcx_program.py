"""``qdisclab check FILE.py:prog`` for a tcx program: random packets, verdicts checked.

The program is attached at A's tcx egress and B's tcx ingress of a small
World (A -- B), and each sequence sends packets of random size, protocol,
ports, mark, priority, ECN codepoint and payload through A. The hook's own
validation (``tcx.hook``: an exception, or a result that is not an int
verdict, such as None, is a fault naming the program, the direction and the
packet) runs under ``strict``; the check adds that every verdict is one of
the TCX_* codes (``TCX_NEXT``, ``TCX_PASS``, ``TCX_DROP``, ``TCX_REDIRECT``;
a reserved code is quietly treated as NEXT by the kernel, which is rarely
what the author meant) and that the packet books balance.

Under ``--policy contain`` a faulty program is skipped from the fault on, as
if detached, and every packet is still sent; the check then reports the fault
(``contained fault: ...``, its category as under ``strict``) once the books
are shown to balance.

>>> from qdisclab.tcx import TCX_PASS
>>> check_tcx_program(lambda ctx: TCX_PASS, "pass", examples=3).ok
True
"""

from __future__ import annotations

from random import Random
from typing import Any

from qdisclab.check.coverage import Tally
from qdisclab.check.finding import RESULT, Finding, contained_finding, result_finding
from qdisclab.check.load import CheckResult
from qdisclab.check.shrink import first_failure
from qdisclab.check.trace import Op
from qdisclab.errors import ConservationError, ExtensionFault
from qdisclab.mprog.constants import BPF_TCX_EGRESS, BPF_TCX_INGRESS
from qdisclab.net import World
from qdisclab.ops.ownership import POLICY_STRICT
from qdisclab.sim.tracepoint import tracepoint
from qdisclab.skb import IPPROTO_TCP, IPPROTO_UDP, SkBuff
from qdisclab.tcx import TCX_DROP, TCX_NEXT, TCX_PASS, TCX_REDIRECT, Tcx
from qdisclab.tcx.tracepoints import TCX_PROG_RUN

VERDICTS = {TCX_NEXT: "TCX_NEXT", TCX_PASS: "TCX_PASS", TCX_DROP: "TCX_DROP",
            TCX_REDIRECT: "TCX_REDIRECT"}  # fmt: skip
LENGTHS = (40, 64, 576, 1000, 1500)
PROTOCOLS = {"udp": IPPROTO_UDP, "tcp": IPPROTO_TCP}
PORTS = (22, 53, 80, 443, 5001, 8080, 40000)


def format_packet(op: Op) -> str:
    """``packet(len=64, proto=udp, sport=53, dport=80, mark=1, prio=0, ecn=0, payload=8)``."""
    _, length, proto, sport, dport, mark, prio, ecn, payload = op
    return (f"packet(len={length}, proto={proto}, sport={sport}, dport={dport}, mark={mark}, "
            f"prio={prio}, ecn={ecn}, payload={payload})")  # fmt: skip


def run_packets(
    program: Any,
    name: str,
    ops: list[Op],
    tally: Tally | None = None,
    policy: str = POLICY_STRICT,
) -> Finding | None:
    """Send ``ops``' packets past ``program`` (A's egress, B's ingress); the first problem.

    ``tally`` (if given) counts the verdicts returned; ``policy`` is the world's
    (``contain``: a faulty program is skipped and the packets go on).
    """
    world = World(seed=1, policy=policy)
    a, b = world.add_host("A"), world.add_host("B")
    link = world.connect(a, b, "10mbit", "1ms")
    world.build_routes()
    # A program loaded for one direction (a compiled tcx/ingress or tcx/egress program's
    # expected attach type) is attached there only; any other program at both.
    expected = getattr(program, "expected_attach_type", 0)
    for dev, hook, attach_type in ((link.a, "egress", BPF_TCX_EGRESS),
                                   (link.b, "ingress", BPF_TCX_INGRESS)):  # fmt: skip
        if expected in (BPF_TCX_EGRESS, BPF_TCX_INGRESS) and expected != attach_type:
            continue
        tcx = Tcx.of(dev)
        getattr(tcx, hook).attach(tcx.load(program, name=name, expected_attach_type=expected))
    bad: list[Finding] = []

    def verdict(now: int, dev: Any, ingress: bool, func: Any, ret: Any) -> None:
        if tally is not None:
            tally.add(VERDICTS.get(ret, "other"))
        if ret not in VERDICTS and not bad:
            where = f"{dev.name} {'ingress' if ingress else 'egress'}"
            bad.append(Finding(RESULT, f"returned {ret!r}, not a TCX_* verdict (TCX_NEXT, "
                               "TCX_PASS, TCX_DROP, TCX_REDIRECT): a reserved code is taken as "
                               "TCX_NEXT", kind=f"tcx program {name}", callback=where))  # fmt: skip

    tracepoint(world.sched, TCX_PROG_RUN).attach(verdict)
    books = world.flow_books("check")
    payloads = Random("qdisclab-check-tcx-payload")
    if tally is not None:
        tally.sequences += 1
    try:
        for op in ops:
            _, length, proto, sport, dport, mark, prio, ecn, payload = op
            skb = SkBuff(length, a.addr, b.addr, sport, dport, PROTOCOLS[proto], world.now, books)
            skb.mark, skb.priority, skb.ecn = mark, prio, ecn
            if payload:
                skb.payload = payloads.randbytes(min(payload, length))
            books.book_sent(skb)
            link.a.xmit(skb)
            world.run(world.now + 2_000_000)
            if bad and not world.faults:  # a contained fault is reported once all packets ran
                return bad[0]
        world.run()
        world.check_conservation()
    except ExtensionFault as exc:
        return result_finding(exc)
    except ConservationError as exc:
        what = "contained, but the books do not balance: " if world.faults else ""
        return Finding(RESULT, f"{what}{exc}", kind=f"tcx program {name}")
    if world.faults:
        _dev, _listed, text = world.faults[0]
        return contained_finding(text, f"tcx program {name}", "the program was skipped from "
                                 "then on and the books balance")  # fmt: skip
    return bad[0] if bad else None


def _draw(rng: Random, max_ops: int) -> list[Op]:
    return [("packet", rng.choice(LENGTHS), rng.choice(sorted(PROTOCOLS)), rng.choice(PORTS),
             rng.choice(PORTS), rng.choice((0, 0, 1, 7, 0xFFFF)), rng.choice((0, 0, 1, 6, 7)),
             rng.choice((0, 0, 1, 2, 3)), rng.choice((0, 0, 8, 64)))
            for _ in range(rng.randint(1, max_ops))]  # fmt: skip


def check_tcx_program(
    program: Any,
    name: str,
    examples: int = 200,
    seed: int | None = None,
    max_ops: int = 30,
    policy: str = POLICY_STRICT,
) -> CheckResult:
    """Explore tcx ``program`` (``prog(ctx) -> TCX_*``) with random packets; its ``CheckResult``.

    ``policy``: ``strict`` stops at a fault, ``contain`` skips the program from then
    on, sends the rest of the packets, then reports the fault (see the module doc).
    """
    label = getattr(program, "__name__", None) or type(program).__name__  # a function, or a class
    result = CheckResult(name, label, examples=examples, what="tcx_program")
    result.coverage = tally = Tally("verdicts", ())  # which verdicts is the program's choice
    rng = Random(f"qdisclab-check-tcx:{seed or 0}")
    finding = first_failure(lambda: _draw(rng, max_ops),
                            lambda ops, counted: run_packets(program, label, ops,
                                                             tally if counted else None, policy),
                            examples,
                            format_packet)  # fmt: skip
    if finding is not None:
        result.findings.append(finding)
    return result
