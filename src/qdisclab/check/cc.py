"""``qdisclab check FILE.py:Class`` for a congestion control: ACK, loss and ECN sequences.

Each sequence is one bulk TCP flow (sender A, receiver B) over a link whose
rate and delay the sequence chooses, through a bottleneck qdisc that applies
the sequence's events to the sender's data segments by number: drop one
(fast retransmit), drop a run (recovery, or an RTO when the run is long),
mark one CE (ECN: the receiver echoes ECE). The control runs with the
stack's own guard (``tcp.cc_guard``: an exception, ``snd_cwnd`` below 1, an
``ssthresh`` or ``undo_cwnd`` that is not a positive count is a fault),
and the check adds what the kernel's stack relies on besides:

* ``snd_ssthresh`` never below 2 once set (``tcp:tcp_probe`` on every change);
* after the flow, ``undo_cwnd`` (what a spurious-loss undo calls) restores a
  window no larger than the largest the flow had;
* the packet books balance.

Under ``--policy contain`` a fault is contained as a scenario contains it: the
socket falls back to reno and the flow runs to its end; the check then
reports the fault (``contained fault: ...``, its category as under
``strict``), and also that the socket left the faulty control and that the
books still balance.

>>> from qdisclab.tcp.cc.reno import Reno
>>> check_congestion_control(Reno, examples=2).ok
True
"""

from __future__ import annotations

from random import Random
from typing import Any

from qdisclab.check.coverage import Tally
from qdisclab.check.finding import (
    REGISTRATION,
    RESULT,
    Finding,
    contained_finding,
    result_finding,
)
from qdisclab.check.load import CheckResult
from qdisclab.check.shrink import first_failure
from qdisclab.check.trace import Op
from qdisclab.errors import ConservationError, ExtensionFault, KernelError
from qdisclab.net import World
from qdisclab.ops import SkbList
from qdisclab.ops.ownership import POLICY_STRICT
from qdisclab.sched import NET_XMIT_SUCCESS, QdiscOps, create_qdisc
from qdisclab.sim.tracepoint import tracepoint
from qdisclab.tcp import TcpStack
from qdisclab.tcp.apps import BulkSender
from qdisclab.tcp.congestion import TCP_INFINITE_SSTHRESH, lookup_cc, register_cc, unregister_cc
from qdisclab.tcp.tracepoints import TCP_CONG_STATE_SET, TCP_PROBE
from qdisclab.units import format_rate, format_time

DURATION_NS = 1_500_000_000
RATES = (1_000_000, 5_000_000, 10_000_000)
DELAYS = (1_000_000, 10_000_000, 40_000_000)
_DATA = 200  # a segment longer than this carries data (ACKs and the handshake are shorter)
_LAST_SEGMENT = 1000  # events land on the first segments of the flow


class _Events(QdiscOps):
    """The sender's bottleneck: a fifo that drops or CE-marks the data segments the plan names."""

    id = "check_cc_events"

    def init(self, sch: Any, opt: dict[str, Any]) -> None:
        self.q = SkbList()
        self.plan: dict[int, str] = opt.get("plan", {})
        self.seen = 0
        sch.limit = 1000

    def enqueue(self, skb: Any, sch: Any, to_free: Any) -> int:
        if skb.len > _DATA:
            self.seen += 1
            event = self.plan.get(self.seen)
            if event == "drop":
                return sch.drop(skb, to_free)
            if event == "mark":
                sch.set_ce(skb)
        if sch.qlen >= sch.limit:
            return sch.drop(skb, to_free)
        self.q.push_back(skb)
        return NET_XMIT_SUCCESS

    def dequeue(self, sch: Any) -> Any:
        return self.q.pop_front()

    def reset(self, sch: Any) -> None:
        while (skb := self.q.pop_front()) is not None:
            sch.kfree_skb(skb)

    def destroy(self, sch: Any) -> None:
        pass


def format_event(op: Op) -> str:
    """``link(rate=5mbit, delay=10ms)``, ``drop(segment=12)``, ``drop(segments=40..70)``."""
    if op[0] == "link":
        return f"link(rate={format_rate(op[1])}, delay={format_time(op[2])})"
    if op[0] == "drop_run":
        return f"drop(segments={op[1]}..{op[1] + op[2] - 1})"
    return f"{op[0]}(segment={op[1]})"


def _plan(ops: list[Op]) -> tuple[int, int, dict[int, str]]:
    rate, delay, plan = RATES[-1], DELAYS[1], {}
    for op in ops:
        if op[0] == "link":
            rate, delay = op[1], op[2]
        elif op[0] == "drop_run":
            plan.update(dict.fromkeys(range(op[1], op[1] + op[2]), "drop"))
        else:
            plan[op[1]] = op[0]
    return rate, delay, plan


STATES = ("Open", "Disorder", "CWR", "Recovery", "Loss")  # TCP_CA_* by number


def run_events(
    cls: type, ops: list[Op], tally: Tally | None = None, policy: str = POLICY_STRICT
) -> Finding | None:
    """One flow with congestion control ``cls`` through the events ``ops``; the first problem.

    ``tally`` (if given) counts the TCP_CA states the flow entered; ``policy``
    is the world's (``contain``: a fault is recorded and the flow goes on).
    """
    rate, delay, plan = _plan(ops)
    world = World(seed=1, policy=policy)
    a, b = world.add_host("A"), world.add_host("B")
    link = world.connect(a, b, rate, delay)
    link.a.set_qdisc(create_qdisc(_Events, link.a, opt={"plan": plan}))
    world.build_routes()
    TcpStack.of(a)
    TcpStack.of(b)
    flow = BulkSender(a, b, 5001, "check", cls.name, ecn=True)
    largest = [0]
    bad: list[Finding] = []

    def probe(now: int, sk: Any, cwnd: int, ssthresh: int, srtt_us: int) -> None:
        largest[0] = max(largest[0], cwnd, getattr(sk, "prior_cwnd", 0) or 0)
        if ssthresh < 2 and ssthresh != TCP_INFINITE_SSTHRESH and not bad:
            bad.append(Finding(RESULT, f"snd_ssthresh = {ssthresh} at {format_time(now)}: "
                               "ssthresh must stay >= 2 (tcp_reno_ssthresh's floor)",
                               kind=cls.name, callback="ssthresh", packet=sk.name))  # fmt: skip

    tracepoint(world.sched, TCP_PROBE).attach(probe)
    if tally is not None:
        tally.sequences += 1
        tracepoint(world.sched, TCP_CONG_STATE_SET).attach(
            lambda now, sk, state: tally.add(STATES[state])
        )
    try:
        world.run(DURATION_NS)
        if world.faults:
            return _contained(world, cls, flow.sk)
        if bad:
            return bad[0]
        sk = flow.sk
        restored = sk.icsk_ca_ops.undo_cwnd(sk)  # the guard refuses a non-positive result
        if restored > max(largest[0], sk.snd_cwnd):
            return Finding(RESULT, f"undo_cwnd returned {restored}, more than the largest window "
                           f"the flow had ({max(largest[0], sk.snd_cwnd)})", kind=cls.name,
                           callback="undo_cwnd", packet=sk.name)  # fmt: skip
        world.check_conservation()
    except ExtensionFault as exc:
        return result_finding(exc)
    except ConservationError as exc:
        return Finding(RESULT, str(exc), kind=cls.name)
    return None


def _contained(world: World, cls: type, sk: Any) -> Finding:
    """The first fault containment recorded, once the flow is shown to have gone on without it."""
    _socket, _name, text = world.faults[0]
    kind = f"tcp_congestion_ops {cls.name}"
    try:
        world.check_conservation()
    except ConservationError as exc:
        return Finding(RESULT, f"contained, but the books do not balance: {exc}", kind=kind)
    if isinstance(sk.icsk_ca_ops, cls):
        return Finding(RESULT, f"contained, but socket {sk.name} still runs {cls.name}: {text}",
                       kind=kind)  # fmt: skip
    return contained_finding(text, kind, f"socket {sk.name} went on with "
                             f"{sk.icsk_ca_ops.name}, the books balance")  # fmt: skip


def _draw(rng: Random, max_ops: int) -> list[Op]:
    ops: list[Op] = [("link", rng.choice(RATES), rng.choice(DELAYS))]
    for _ in range(rng.randint(0, max_ops - 1)):
        at = rng.randint(1, _LAST_SEGMENT)
        kind = rng.choices(("drop", "mark", "drop_run"), weights=(4, 4, 1))[0]
        ops.append(("drop_run", at, rng.choice((2, 3, 10, 40, 200))) if kind == "drop_run"
                   else (kind, at))  # fmt: skip
    return ops


def check_congestion_control(
    cls: type,
    examples: int = 200,
    seed: int | None = None,
    max_ops: int = 30,
    policy: str = POLICY_STRICT,
) -> CheckResult:
    """Explore ``cls`` (a ``CongestionOps`` subclass) with event sequences; its ``CheckResult``.

    ``policy``: ``strict`` stops a flow at a fault, ``contain`` detaches the control
    and finishes the flow, then reports the fault (see the module doc).
    """
    result = CheckResult(cls.name or cls.__name__, cls.__name__, examples=examples,
                         what="congestion_control")  # fmt: skip
    # Open is where a flow starts: only the states a flow moves into are counted.
    result.coverage = tally = Tally("TCP_CA states entered", STATES[1:])
    registered = lookup_cc(cls.name) is cls
    if not registered:
        try:
            register_cc(cls)
        except KernelError as exc:  # refused as tcp_register_congestion_control refuses it
            result.findings.append(Finding(REGISTRATION, str(exc), kind=cls.__name__,
                                           errno=exc.errno_name))  # fmt: skip
            return result
    try:
        rng = Random(f"qdisclab-check-cc:{seed or 0}")
        finding = first_failure(lambda: _draw(rng, max_ops),
                                lambda ops, counted: run_events(cls, ops, tally if counted else None,
                                                                policy),
                                examples, format_event)  # fmt: skip
        if finding is not None:
            result.findings.append(finding)
    finally:
        if not registered:
            unregister_cc(cls.name)
    return result
