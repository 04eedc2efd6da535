"""Explore one qdisc kind with generated operation sequences and report what breaks.

A run grafts the qdisc on a small World device (A -- 10mbit -- B) and plays a
sequence of operations on it: ``enqueue`` packets of chosen sizes, flows,
priorities, marks, EDT timestamps and ECN codepoints, ``dequeue``, ``peek``,
``advance`` the clock (which fires the watchdog and lets the device dequeue,
as the kernel's ``__netif_schedule`` does), ``reset``, and device ``down`` /
``up``. After every operation the run checks:

* ownership and kfunc faults (``ExtensionFault`` from the trampolines) and any
  other exception;
* accounting: the world's conservation check, and ``qlen``/``backlog`` against
  a reference count kept outside the qdisc (packets handed in, minus packets
  that came out, minus packets the qdisc dropped, as the packet ledger saw
  them), the ``NET_XMIT_*`` code against the fate of the packet;
* negative ``qlen``/``backlog``;
* stuck: ``dequeue`` returns nothing while packets are queued, no watchdog or
  transmit completion is pending, and a second of simulated time does not help.

``explore`` lets hypothesis search for a failing sequence and shrink it, so a
report carries a minimal trace; ``replay`` re-runs a trace (or its printed
lines, via ``parse_trace``) and gives the same finding.

>>> from qdisclab.sched import lookup_qdisc
>>> explore(Target.from_spec("pfifo limit 5"), examples=5) is None
True
>>> replay(Target.from_spec("pfifo"), parse_trace(["enqueue(len=100, flow=1)", "dequeue()"])).lines
['enqueue(len=100, flow=1) -> NET_XMIT_SUCCESS', 'dequeue() -> skb(len=100, flow=1)']
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from random import Random
from typing import Any

from qdisclab.errors import ConservationError, ExtensionFault, KernelError, UserError
from qdisclab.net import World
from qdisclab.ops.ownership import POLICY_STRICT, OwnershipViolation
from qdisclab.sched import QDISC_OPS, Qdisc, QdiscOps, create_qdisc, lookup_qdisc
from qdisclab.sched.constants import (
    __NET_XMIT_BYPASS as XMIT_BYPASS,
)
from qdisclab.sched.constants import (
    NET_XMIT_CN,
    NET_XMIT_DROP,
    NET_XMIT_MASK,
    NET_XMIT_SUCCESS,
)
from qdisclab.skb import (
    DROP_DEVICE_DOWN,
    DROP_LINK_LOSS,
    DROP_MTU,
    DROP_NO_ROUTE,
    DROP_NO_SOCKET,
    DROP_TCX,
    DROP_TTL,
    FREED,
    IPPROTO_UDP,
    SkBuff,
    skb_consume,
)
from qdisclab.units import format_time, parse_time

# Categories of findings, in the order a report lists them.
REGISTRATION = "registration"
OWNERSHIP = "ownership"
KFUNC = "kfunc"
EXCEPTION = "exception"
ACCOUNTING = "accounting"
NEGATIVE = "negative"
STUCK = "stuck"

# Drops that happen outside the qdisc (before it, on the wire, at the receiver).
_NOT_QDISC_DROPS = frozenset(
    {DROP_NO_SOCKET, DROP_DEVICE_DOWN, DROP_LINK_LOSS, DROP_NO_ROUTE, DROP_TTL, DROP_MTU, DROP_TCX}
)
_STUCK_PROBE_NS = 1_000_000_000  # how long "time advancing does not help" waits
_XMIT_NAMES = {NET_XMIT_SUCCESS: "NET_XMIT_SUCCESS", NET_XMIT_DROP: "NET_XMIT_DROP",
               NET_XMIT_CN: "NET_XMIT_CN"}  # fmt: skip

# An operation is a tuple; ("enqueue", len, flow, prio, mark, tstamp_offset_ns, ecn).
Op = tuple


@dataclass
class Finding:
    """One problem: its category, a message, and the trace that reproduces it."""

    category: str
    message: str
    trace: list[str] = field(default_factory=list)
    kind: str = ""
    callback: str = ""
    packet: str = ""
    errno: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {
            "category": self.category,
            "message": self.message,
            "kind": self.kind,
            "callback": self.callback,
            "packet": self.packet,
            "errno": self.errno,
            "trace": list(self.trace),
        }


@dataclass
class Target:
    """The qdisc under test: a ``QdiscOps`` class and its tc-syntax option tokens."""

    cls: type[QdiscOps]
    tokens: list[str] = field(default_factory=list)

    @classmethod
    def from_spec(cls, spec: str) -> Target:
        """A registered kind with options: ``Target.from_spec("tbf rate 1mbit burst 5k limit 10k")``."""
        kind, *tokens = spec.split()
        return cls(lookup_qdisc(kind), tokens)

    @property
    def name(self) -> str:
        return " ".join([self.cls.id or self.cls.__name__, *self.tokens])

    def create(self, dev: Any) -> Qdisc:
        return create_qdisc(self.cls, dev, opt=self.cls.parse_options(list(self.tokens)))


@dataclass
class RunResult:
    """What ``replay`` saw: the trace lines (with results) and the finding, if any."""

    lines: list[str]
    finding: Finding | None


# -- operations as text ---------------------------------------------------------------
def format_op(op: Op) -> str:
    """``enqueue(len=100, flow=2, prio=1)``, ``dequeue()``, ``advance(5ms)`` ..."""
    name = op[0]
    if name == "enqueue":
        _, length, flow, prio, mark, tstamp, ecn = op
        args = [f"len={length}", f"flow={flow}"]
        if prio:
            args.append(f"prio={prio}")
        if mark:
            args.append(f"mark={mark}")
        if tstamp:
            args.append(f"tstamp=now+{format_time(tstamp)}")
        if ecn:
            args.append(f"ecn={ecn}")
        return f"enqueue({', '.join(args)})"
    if name == "advance":
        return f"advance({format_time(op[1])})"
    return f"{name}()"


_LINE = re.compile(r"^\s*(\w+)\((.*?)\)")


def parse_trace(lines: list[str] | str) -> list[Op]:
    """Turn printed trace lines back into operations (results after ``->`` are ignored)."""
    if isinstance(lines, str):
        lines = lines.splitlines()
    ops: list[Op] = []
    for line in lines:
        m = _LINE.match(line)
        if not m:
            continue
        name, args = m.group(1), m.group(2).strip()
        if name == "enqueue":
            kw = dict(part.split("=", 1) for part in args.split(", ")) if args else {}
            tstamp = kw.get("tstamp", "0")
            tstamp = parse_time(tstamp.removeprefix("now+")) if tstamp != "0" else 0
            ops.append(("enqueue", int(kw.get("len", 1000)), int(kw.get("flow", 0)),
                        int(kw.get("prio", 0)), int(kw.get("mark", 0)), tstamp,
                        int(kw.get("ecn", 0))))  # fmt: skip
        elif name == "advance":
            ops.append(("advance", parse_time(args)))
        elif name in ("dequeue", "peek", "reset", "down", "up"):
            ops.append((name,))
        else:
            raise UserError(f"unknown trace operation {name!r} in line {line!r}")
    return ops


# -- one run ----------------------------------------------------------------------------
class _Observer:
    """Sees every drop of the run's flows (the packet ledger's hook)."""

    __slots__ = ("before_bytes", "before_packets", "bytes", "packets")

    def __init__(self) -> None:
        self.packets = 0  # dropped by the qdisc
        self.bytes = 0
        self.before_packets = 0  # dropped before reaching it (device down)
        self.before_bytes = 0

    def on_drop(self, skb: SkBuff, reason: str, now: int) -> None:
        if reason == DROP_DEVICE_DOWN:
            self.before_packets += 1
            self.before_bytes += skb.len - skb.mac_len  # as booked: the device added its header
        elif reason not in _NOT_QDISC_DROPS:
            self.packets += 1
            self.bytes += skb.len


class _Stop(Exception):
    def __init__(self, finding: Finding) -> None:
        self.finding = finding


class _Run:
    def __init__(self, target: Target, policy: str) -> None:
        self.world = world = World(seed=1, policy=policy)
        a, b = world.add_host("A"), world.add_host("B")
        self.dev = world.connect(a, b, "10mbit", "1ms").a
        self.src, self.dst = a.addr, b.addr
        self.observer = _Observer()
        self.books = [world.flow_books(f"check{i}", self.observer) for i in range(8)]
        self.q = target.create(self.dev)
        self.dev.set_qdisc(self.q)
        self.kind = target.cls.id
        self.out_packets = 0  # taken out by explicit dequeues
        self.out_bytes = 0
        self.lines: list[str] = []

    # -- operations
    def apply(self, op: Op) -> str:
        name = op[0]
        dev, q = self.dev, self.q
        if name == "enqueue":
            _, length, flow, prio, mark, tstamp, ecn = op
            now = self.world.now
            skb = SkBuff(length, self.src, self.dst, 1000 + flow, 2000, IPPROTO_UDP, now,
                         self.books[flow % len(self.books)])  # fmt: skip
            skb.priority = prio
            skb.mark = mark
            skb.ecn = ecn
            skb.tstamp = now + tstamp if tstamp else 0
            skb.flow.book_sent(skb)
            if not dev.active:
                dev.xmit(skb)  # dropped: the device is down
                return "dropped (device down)"
            ret = q.enqueue(skb)
            self._check_enqueue(skb, ret)
            code = _XMIT_NAMES.get(ret & NET_XMIT_MASK, hex(ret))
            return code + ("|BYPASS" if ret & XMIT_BYPASS else "")
        if name == "dequeue":
            if not dev.active:
                return "skipped (device down)"
            skb = q.dequeue()
            if skb is None:
                self._check_stuck()
                return "None"
            return self._took(skb)
        if name == "peek":
            if not dev.active:
                return "skipped (device down)"
            skb = q.peek()
            return "None" if skb is None else _describe(skb)
        if name == "advance":
            self.world.run(self.world.now + op[1])
            return f"now={format_time(self.world.now)}"
        if name == "reset":
            q.reset()
            if q.qlen or q.backlog:
                self._fail(ACCOUNTING, f"reset left qlen {q.qlen} backlog {q.backlog}b "
                           "(reset must free every queued skb)")  # fmt: skip
            return "ok"
        if name == "down":
            dev.set_down()
            return "ok"
        if name == "up":
            dev.set_up()
            return "ok"
        raise UserError(f"unknown operation {name!r}")

    def _took(self, skb: SkBuff) -> str:
        self.out_packets += 1
        self.out_bytes += skb.len
        text = _describe(skb)
        skb_consume(skb)
        return text

    def _check_enqueue(self, skb: SkBuff, ret: int) -> None:
        code = ret & NET_XMIT_MASK
        if code not in _XMIT_NAMES:
            self._fail(ACCOUNTING, f"enqueue returned {ret:#x}, not a NET_XMIT_* code")
        dropped = skb.owner is FREED
        if code == NET_XMIT_DROP and not dropped:
            self._fail(ACCOUNTING, "enqueue returned NET_XMIT_DROP but kept the skb queued")
        if code == NET_XMIT_SUCCESS and dropped and not ret & XMIT_BYPASS:
            self._fail(ACCOUNTING, "enqueue returned NET_XMIT_SUCCESS but dropped the skb "
                       "(a caller would count it as queued)")  # fmt: skip

    def _check_stuck(self) -> None:
        q, dev = self.q, self.dev
        if q.qlen <= 0 or self._wakeup_pending():
            return
        held = q.qlen
        # Would time alone release anything? Let a second pass and ask again.
        self.world.run(self.world.now + _STUCK_PROBE_NS)
        if q.qlen < held or self._wakeup_pending():
            return
        skb = q.dequeue()
        if skb is not None:
            self._took(skb)
            return
        if q.qlen > 0 and dev.active:
            self._fail(STUCK, f"qdisc holds {q.qlen} packets ({q.backlog}b) but dequeue returns "
                       "None and no watchdog is armed, even after advance(1s)")  # fmt: skip

    def _wakeup_pending(self) -> bool:
        if self.dev._tx_event is not None:
            return True
        return any(x.watchdog.pending for x in self.q.walk())

    # -- invariants after every operation
    def check(self) -> None:
        world, dev, q = self.world, self.dev, self.q
        if world.faults:
            _name, kind, text = world.faults[0]
            self._fail(OWNERSHIP, f"contained fault: {text}", kind=kind)
        for x in q.walk():
            if x.qlen < 0 or x.backlog < 0:
                self._fail(NEGATIVE, f"{x.kind} {x.handle >> 16:x}: qlen {x.qlen} "
                           f"backlog {x.backlog}b")  # fmt: skip
        try:
            world.check_conservation()
        except ConservationError as exc:
            self._fail(ACCOUNTING, str(exc))
        sent = sum(b.sent_packets for b in self.books)
        sent_bytes = sum(b.sent_bytes for b in self.books)
        obs = self.observer
        ref_qlen = sent - obs.before_packets - self.out_packets - dev.tx_packets - obs.packets
        if ref_qlen != q.qlen:
            self._fail(ACCOUNTING, f"qlen {q.qlen} but {ref_qlen} packets are inside the qdisc "
                       "(handed in minus dequeued minus dropped)")  # fmt: skip
        ref_backlog = sent_bytes - obs.before_bytes - self.out_bytes - dev.tx_bytes - obs.bytes
        if ref_backlog != q.backlog:
            self._fail(ACCOUNTING, f"backlog {q.backlog}b but {ref_backlog}b are inside the "
                       "qdisc (handed in minus dequeued minus dropped)")  # fmt: skip

    def _fail(self, category: str, message: str, **extra: str) -> None:
        raise _Stop(Finding(category, message, kind=extra.get("kind", self.kind)))


def _describe(skb: SkBuff) -> str:
    return f"skb(len={skb.len}, flow={skb.sport - 1000})"


def _fault_finding(exc: Exception, kind: str) -> Finding:
    if isinstance(exc, ExtensionFault) and "NET_XMIT" in exc.problem:
        category = ACCOUNTING  # the trampoline's return-code validation
    elif isinstance(exc, OwnershipViolation):
        category = OWNERSHIP
    elif isinstance(exc, ExtensionFault):
        category = EXCEPTION if exc.problem.startswith("raised ") else KFUNC
        if "kfunc" not in exc.problem and category == KFUNC:
            category = OWNERSHIP
    else:
        category = EXCEPTION
    if isinstance(exc, ExtensionFault):
        return Finding(category, exc.problem, kind=exc.kind, callback=exc.callback,
                       packet=exc.packet)  # fmt: skip
    return Finding(category, f"raised {type(exc).__name__}: {exc}", kind=kind)


def replay(target: Target, ops: list[Op], policy: str = POLICY_STRICT) -> RunResult:
    """Play ``ops`` on a fresh world; the first problem ends the run."""
    try:
        run = _Run(target, policy)
    except (UserError, KernelError):
        raise
    except Exception as exc:
        finding = _fault_finding(exc, target.cls.id)
        finding.trace = ["init()"]
        return RunResult(["init()"], finding)
    lines = run.lines
    finding = None
    for op in ops:
        text = format_op(op)
        try:
            result = run.apply(op)
            lines.append(f"{text} -> {result}")
            run.check()
        except _Stop as stop:
            if not lines or not lines[-1].startswith(text):
                shown = "None" if stop.finding.category == STUCK else stop.finding.category
                lines.append(f"{text} -> {shown}")
            finding = stop.finding
            break
        except Exception as exc:
            lines.append(f"{text} -> raised")
            finding = _fault_finding(exc, target.cls.id)
            break
    if finding is not None:
        finding.trace = list(lines)
    return RunResult(lines, finding)


# -- the search -----------------------------------------------------------------------------
def _ops_strategy(max_ops: int) -> Any:
    from hypothesis import strategies as st

    enqueue = st.tuples(
        st.just("enqueue"),
        st.sampled_from([64, 100, 576, 1000, 1500]) | st.integers(40, 1500),
        st.integers(0, 4),
        st.sampled_from([0, 0, 1, 2, 6, 7]) | st.integers(0, 15),
        st.sampled_from([0, 0, 1, 2]),
        st.sampled_from([0, 0, 0, 100_000, 1_000_000, 10_000_000, 50_000_000]),
        st.sampled_from([0, 0, 1, 2, 3]),
    )
    advance = st.tuples(
        st.just("advance"),
        st.sampled_from([1_000, 100_000, 1_000_000, 5_000_000, 20_000_000, 100_000_000,
                         1_000_000_000]),
    )  # fmt: skip
    simple = st.sampled_from([("dequeue",), ("dequeue",), ("peek",), ("reset",), ("down",),
                              ("up",)])  # fmt: skip
    # Enqueues first in the one_of: hypothesis shrinks towards earlier branches.
    op = st.one_of(enqueue, enqueue, simple, advance)
    # Draw the length first: plain st.lists averages a handful of ops, too few to fill a queue.
    return st.integers(1, max_ops).flatmap(lambda n: st.lists(op, min_size=n, max_size=n))


def explore(
    target: Target,
    examples: int = 200,
    seed: int | None = None,
    policy: str = POLICY_STRICT,
    max_ops: int = 24,
) -> Finding | None:
    """Search for a failing operation sequence; returns the shrunk finding or None.

    Deterministic: without ``seed`` hypothesis is derandomized; with one, the
    search is seeded. No example database is written.
    """
    from hypothesis import HealthCheck, Phase, find, settings
    from hypothesis.errors import NoSuchExample

    conf = settings(
        max_examples=examples,
        database=None,
        deadline=None,
        derandomize=seed is None,
        suppress_health_check=list(HealthCheck),
        phases=[Phase.generate, Phase.shrink],
        report_multiple_bugs=False,
    )

    def fails(ops: list[Op]) -> bool:
        return replay(target, ops, policy).finding is not None

    try:
        ops = find(_ops_strategy(max_ops), fails, settings=conf,
                   random=Random(seed) if seed is not None else None)  # fmt: skip
    except NoSuchExample:
        return None
    return replay(target, ops, policy).finding


def registration_finding(cls: type[QdiscOps]) -> Finding | None:
    """Validate ``cls`` as registration would; the error as a finding (with its errno)."""
    try:
        QDISC_OPS.validate(cls)
    except KernelError as exc:
        return Finding(REGISTRATION, str(exc), kind=getattr(cls, "id", "") or cls.__name__,
                       errno=exc.errno_name)  # fmt: skip
    return None
