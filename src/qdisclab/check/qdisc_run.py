"""One sequence of operations played on one qdisc, with the invariants a correct qdisc keeps.

The qdisc is the root of a small World device (A -- 10mbit -- B). Packets
enter through the device (``dev_queue_xmit``), so the device dequeues as a
real one does while time passes, watchdog expiries reschedule it, and the
qdisc's return codes reach a caller. After every packet and every operation
the run checks:

* ownership and kfunc faults, and any other exception (the trampolines);
* return codes against what happened: ``NET_XMIT_DROP`` only with the skb
  dropped and a drop counted, ``NET_XMIT_CN`` only with a drop counted,
  ``NET_XMIT_SUCCESS`` only with the skb queued, unless flagged as consumed
  (``__NET_XMIT_BYPASS``/``__NET_XMIT_STOLEN``, as netem's loss returns);
  checked as the qdisc's enqueue returns, before the device dequeues;
* the limit: never more than ``sch.limit`` packets queued (a packet limit, or
  a byte limit, which holds fewer packets still);
* accounting: qlen and backlog against a count kept outside the qdisc
  (handed in, minus sent, minus dropped as the packet books saw them), the
  bytes/packets counters against what left, the world's conservation;
* negative qlen/backlog anywhere in the tree;
* stuck: the device is idle, the qdisc holds packets, and neither a watchdog
  nor a transmit completion is pending (dequeue returned None without
  ``sch.watchdog_schedule``: nothing will ever ask again);
* a shaper's rate: a kind configured with ``rate`` (and ``burst``) never
  sends more than ``burst + rate * elapsed`` (plus one packet).

>>> from qdisclab.check.explore import Target
>>> run = QdiscRun(Target.from_spec("pfifo limit 3"))
>>> run.apply(("burst", 5, 100, 1, 0, 0, 0))
'4 queued, 1 dropped (NET_XMIT_SUCCESS 4, NET_XMIT_DROP 1), qlen 3'
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from qdisclab.check.coverage import Coverage
from qdisclab.check.finding import (
    ACCOUNTING,
    LIMIT,
    NEGATIVE,
    OWNERSHIP,
    RATE,
    STUCK,
    Finding,
)
from qdisclab.check.trace import Op
from qdisclab.errors import ConservationError, UserError
from qdisclab.net import World
from qdisclab.net.memory import DROP_QUEUE_MEMORY
from qdisclab.ops.ownership import POLICY_STRICT
from qdisclab.sched.constants import (
    __NET_XMIT_BYPASS,
    __NET_XMIT_STOLEN,
    NET_XMIT_CN,
    NET_XMIT_DROP,
    NET_XMIT_MASK,
    NET_XMIT_NAMES,
    NET_XMIT_SUCCESS,
)
from qdisclab.sched.tracepoints import QDISC_ENQUEUE
from qdisclab.sim.tracepoint import tracepoint
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
from qdisclab.units import format_time

if TYPE_CHECKING:
    from qdisclab.check.explore import Target

LINK_RATE = "10mbit"
_BOOKS = 8
# Drops that happen before the qdisc sees the packet (the device refuses it).
_BEFORE_QDISC = frozenset({DROP_DEVICE_DOWN, DROP_QUEUE_MEMORY, DROP_MTU})
# Drops that happen after it (on the wire, at the receiver).
_AFTER_QDISC = frozenset({DROP_LINK_LOSS, DROP_NO_ROUTE, DROP_TTL, DROP_NO_SOCKET, DROP_TCX})
# SUCCESS with either flag: the qdisc consumed the skb on purpose (netem's loss, a steal).
_CONSUMED = __NET_XMIT_BYPASS | __NET_XMIT_STOLEN


class _Books:
    """Sees every drop of the run's packets (the packet ledger's observer hook)."""

    __slots__ = ("before_bytes", "before_packets", "bytes", "packets")

    def __init__(self) -> None:
        self.packets = 0  # dropped by the qdisc
        self.bytes = 0
        self.before_packets = 0  # refused by the device before the qdisc
        self.before_bytes = 0

    def on_drop(self, skb: SkBuff, reason: str, now: int) -> None:
        if reason in _BEFORE_QDISC:
            self.before_packets += 1
            self.before_bytes += skb.len
        elif reason not in _AFTER_QDISC:
            self.packets += 1
            self.bytes += skb.len


class Stop(Exception):
    """A run found a problem: carries the finding."""

    def __init__(self, finding: Finding) -> None:
        self.finding = finding


class ShaperBound:
    """``burst + rate * elapsed``: what a shaper configured with ``rate`` may send at most."""

    __slots__ = ("burst", "rate", "slack")

    def __init__(self, rate: int, burst: int, slack: int) -> None:
        self.rate = rate  # bit/s
        self.burst = burst
        self.slack = slack

    @classmethod
    def of(cls, opt: dict[str, Any], mtu: int) -> ShaperBound | None:
        rate = opt.get("rate")
        if not isinstance(rate, int) or rate <= 0:
            return None
        burst = opt.get("burst")
        return cls(rate, burst if isinstance(burst, int) else 0, 2 * (mtu + 14))

    def allowed(self, elapsed_ns: int) -> int:
        return self.burst + self.rate * elapsed_ns // 8_000_000_000 + self.slack


class QdiscRun:
    """A fresh world with ``target`` as a device's root qdisc; ``apply`` plays one operation."""

    def __init__(self, target: Target, policy: str = POLICY_STRICT,
                 coverage: Coverage | None = None) -> None:  # fmt: skip
        self.world = world = World(seed=1, policy=policy)
        a, b = world.add_host("A"), world.add_host("B")
        self.dev = dev = world.connect(a, b, LINK_RATE, "1ms").a
        self.src, self.dst = a.addr, b.addr
        self.books = _Books()
        self.flows = [world.flow_books(f"check{i}", self.books) for i in range(_BOOKS)]
        self.q = q = target.create(dev)
        dev.set_qdisc(q)
        self.kind = target.cls.id
        self.coverage = coverage
        self.limit = q.limit
        self.shaper = ShaperBound.of(q.opt, dev.mtu)
        self.window = (0, 0)  # (since, bytes sent by then): where the shaper's bound starts
        self.out_packets = 0  # taken out by explicit dequeues
        self.out_bytes = 0
        self.enqueued = 0
        self.lines: list[str] = []
        self.where = ""  # inside a burst: which packet (for the trace line of a finding)
        self._seen: tuple[int, bool, int] | None = None
        tracepoint(world.sched, QDISC_ENQUEUE).attach(self._on_enqueue)

    def _on_enqueue(self, now: int, q: Any, skb: SkBuff, ret: int) -> None:
        if q is self.q:  # the root's verdict, before the device dequeues anything
            self._seen = (ret, skb.owner is FREED, self.books.packets)

    # -- operations ---------------------------------------------------------------
    def apply(self, op: Op) -> str:
        """Play ``op``; returns what happened, as a trace line's result."""
        name = op[0]
        if name == "enqueue":
            _, length, flow, prio, mark, tstamp, ecn = op
            code = self._send(length, flow, prio, mark, tstamp, ecn)
            return code or "dropped before the qdisc (device down)"
        if name == "burst":
            return self._burst(*op[1:])
        if name in ("dequeue", "drain"):
            return self._dequeue(1 if name == "dequeue" else op[1])
        if name == "peek":
            skb = self.q.peek() if self.dev.active else None
            return "None" if skb is None else _describe(skb)
        if name == "advance":
            self.world.run(self.world.now + op[1])
            return f"now={format_time(self.world.now)}"
        if name == "reset":
            self.q.reset()
            self._restart_window()
            if self.q.qlen or self.q.backlog:
                self._fail(ACCOUNTING, f"reset left qlen {self.q.qlen} backlog {self.q.backlog}b "
                           "(reset must free every queued skb)")  # fmt: skip
            return "ok"
        if name == "down":
            self.dev.set_down()
            self._restart_window()
            return "ok"
        if name == "up":
            self.dev.set_up()
            return "ok"
        raise UserError(f"unknown operation {name!r}")

    def _send(self, length: int, flow: int, prio: int, mark: int, tstamp: int, ecn: int) -> str:
        now = self.world.now
        skb = SkBuff(length, self.src, self.dst, 1000 + flow, 2000, IPPROTO_UDP, now,
                     self.flows[flow % _BOOKS])  # fmt: skip
        skb.priority = prio
        skb.mark = mark
        skb.ecn = ecn
        skb.tstamp = now + tstamp if tstamp else 0
        skb.flow.book_sent(skb)
        self.enqueued += 1
        self._seen = None
        drops_before = self.books.packets
        self.dev.xmit(skb)
        seen = self._seen
        if seen is None:
            return ""  # refused before the qdisc
        ret, freed, drops_after = seen
        code = ret & NET_XMIT_MASK
        name = NET_XMIT_NAMES.get(code)
        if name is None:
            self._fail(ACCOUNTING, f"enqueue returned {ret:#x}, not a NET_XMIT_* code")
        dropped = drops_after - drops_before
        if code == NET_XMIT_DROP and not freed:
            self._fail(ACCOUNTING, "enqueue returned NET_XMIT_DROP but kept the skb queued")
        if code == NET_XMIT_DROP and not dropped:
            self._fail(ACCOUNTING, "enqueue returned NET_XMIT_DROP but no drop was counted")
        if code == NET_XMIT_CN and not dropped:
            self._fail(ACCOUNTING, "enqueue returned NET_XMIT_CN (congestion: a packet was "
                       "dropped) but no packet was dropped")  # fmt: skip
        if code == NET_XMIT_SUCCESS and freed and not ret & _CONSUMED:
            self._fail(ACCOUNTING, "enqueue returned NET_XMIT_SUCCESS but dropped the skb "
                       "(a caller would count it as queued)")  # fmt: skip
        q = self.q
        qlen = q.qlen
        if 0 < self.limit < qlen:  # a byte limit holds fewer packets than it has bytes
            self._fail(LIMIT, f"qlen {qlen} exceeds sch.limit {self.limit}: the qdisc accepted "
                       "a packet over its limit (an off-by-one in the limit test?)")  # fmt: skip
        cov = self.coverage
        if cov is not None:
            cov.packets += 1
            cov.codes[name] = cov.codes.get(name, 0) + 1
            if qlen > cov.max_qlen:
                cov.max_qlen = qlen
            if q.backlog > cov.max_backlog:
                cov.max_backlog = q.backlog
        return name

    def _burst(self, count: int, length: int, flows: int, prio: int, tstamp: int,
               ecn: int) -> str:  # fmt: skip
        codes: dict[str, int] = {}
        refused = 0
        for i in range(count):
            self.where = f" at packet {i + 1} of {count}"
            name = self._send(length, i % max(flows, 1), prio, 0, tstamp, ecn)
            if name:
                codes[name] = codes.get(name, 0) + 1
            else:
                refused += 1
        self.where = ""
        queued = codes.get("NET_XMIT_SUCCESS", 0) + codes.get("NET_XMIT_CN", 0)
        dropped = count - queued - refused
        text = f"{queued} queued, {dropped} dropped"
        if codes:
            text += " (" + ", ".join(f"{k} {v}" for k, v in sorted(codes.items(),
                                                                  reverse=True)) + ")"  # fmt: skip
        if refused:
            text += f", {refused} refused by the device"
        return text + f", qlen {self.q.qlen}"

    def _dequeue(self, count: int) -> str:
        if not self.dev.active:
            return "skipped (device down)"
        q = self.q
        got: list[str] = []
        while len(got) < count:
            skb = q.dequeue()
            if skb is None:
                break
            got.append(_describe(skb))
            self.out_packets += 1
            self.out_bytes += skb.len
            skb_consume(skb)
        if count == 1:
            return got[0] if got else "None"
        return f"{len(got)} dequeued" + ("" if len(got) == count else ", then None")

    def _restart_window(self) -> None:
        self.window = (self.world.now, self.dev.tx_bytes + self.out_bytes)

    # -- invariants after every operation ---------------------------------------------
    def check(self) -> None:
        """Every invariant that must hold between operations; raises ``Stop`` on the first broken."""
        world, dev, q = self.world, self.dev, self.q
        if world.faults:
            _name, kind, text = world.faults[0]
            self._fail(OWNERSHIP, f"contained fault: {text}", kind=kind)
        tree = list(q.walk())
        for x in tree:
            if x.qlen < 0 or x.backlog < 0:
                self._fail(NEGATIVE, f"{x.kind} {x.handle >> 16:x}: qlen {x.qlen} "
                           f"backlog {x.backlog}b")  # fmt: skip
        try:
            world.check_conservation()
        except ConservationError as exc:
            self._fail(ACCOUNTING, str(exc))
        self._check_books()
        if dev.active and q.qlen > 0 and dev._tx_event is None and world.now >= dev.busy_until \
                and not any(x.watchdog.pending for x in tree):  # fmt: skip
            self._fail(STUCK, f"qdisc holds {q.qlen} packets ({q.backlog}b) but dequeue returns "
                       "None and no watchdog is armed: the device is idle and nothing will ask "
                       "again (a non-work-conserving qdisc must call sch.watchdog_schedule)")  # fmt: skip
        if self.shaper is not None:
            since, sent_then = self.window
            sent = dev.tx_bytes + self.out_bytes - sent_then
            allowed = self.shaper.allowed(world.now - since)
            if sent > allowed:
                self._fail(RATE, f"sent {sent}b in {format_time(world.now - since)}, more than "
                           f"burst + rate x time allows ({allowed}b at rate "
                           f"{self.shaper.rate} bit/s, burst {self.shaper.burst}b)")  # fmt: skip

    def _check_books(self) -> None:
        dev, q, books = self.dev, self.q, self.books
        sent = sum(f.sent_packets for f in self.flows)
        sent_bytes = sum(f.sent_bytes for f in self.flows)
        left = self.out_packets + dev.tx_packets
        left_bytes = self.out_bytes + dev.tx_bytes
        inside = sent - books.before_packets - left - books.packets
        if inside != q.qlen:
            self._fail(ACCOUNTING, f"qlen {q.qlen} but {inside} packets are inside the qdisc "
                       "(handed in minus dequeued minus dropped)")  # fmt: skip
        # The device adds its header to every packet handed to it (skb_push_mac); a clone
        # made inside the qdisc is booked with the header already counted.
        inside_bytes = (sent_bytes + self.enqueued * dev.hard_header_len
                        - books.before_bytes - left_bytes - books.bytes)  # fmt: skip
        if inside_bytes != q.backlog:
            self._fail(ACCOUNTING, f"backlog {q.backlog}b but {inside_bytes}b are inside the "
                       "qdisc (handed in minus dequeued minus dropped)")  # fmt: skip
        if q.packets != left or q.bytes != left_bytes:
            self._fail(ACCOUNTING, f"the qdisc counts {q.packets} packets / {q.bytes}b sent, "
                       f"but {left} / {left_bytes}b left it")  # fmt: skip

    def finish(self) -> None:
        """Destroy the qdisc (reset, destroy) and check every packet it held was freed."""
        q = self.q
        q.destroy()
        if q.qlen or q.backlog:
            self._fail(ACCOUNTING, f"destroy left qlen {q.qlen} backlog {q.backlog}b")
        try:
            self.world.check_conservation()
        except ConservationError as exc:
            self._fail(ACCOUNTING, f"after destroy: {exc}")
        if self.coverage is not None:
            self.coverage.add_run(list(q.walk()))

    def _fail(self, category: str, message: str, **extra: str) -> None:
        raise Stop(Finding(category, message, kind=extra.get("kind", self.kind)))


def _describe(skb: SkBuff) -> str:
    return f"skb(len={skb.len - skb.mac_len}, flow={skb.sport - 1000})"
