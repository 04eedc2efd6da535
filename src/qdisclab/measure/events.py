"""Recording chosen tracepoints to a table: one row per event (CSV, or Parquet with pyarrow).

A selection names a subsystem and where: ``"qdisc:R1:eth0"`` (enqueue,
dequeue and drop in every qdisc of that device), ``"net:R1:eth0"`` (transmit
and receive), ``"tcx:R1:eth0"`` (each tcx program run) or ``"tcp:FLOW"``
(cwnd changes, CA state changes, retransmissions of that flow's sender;
``"tcp:*"`` for every flow). Columns: ``time_ns, event, node, dev, qdisc,
flow, pkt, len, detail``. ``pkt`` numbers a packet's visit to a qdisc (its
enqueue, dequeue or drop rows share it); ``detail`` is the enqueue's return
code, the drop reason, the TCP value or the tcx verdict. A peek parks a
packet without a dequeue row (its departure is the row), so the dequeue rows
of a qdisc are exactly its ``packets`` counter and its drop rows its drops (a
classful parent's ``drops`` also counts its children's, as in the kernel; the
row is where the drop happened). A packet let past an empty fifo on an idle
device (bypass) has an enqueue and a dequeue row at the same time, as it is
counted in the fifo's ``packets``.

>>> from qdisclab.net import World
>>> from qdisclab.traffic import CbrSource, UdpSink
>>> w = World(seed=1); a, b = w.add_host("A"), w.add_host("B")
>>> lk = w.connect(a, b, "10mbit", "1ms", qdisc_a="codel limit 5"); w.build_routes()
>>> _ = UdpSink(b, 9); rec = EventRecorder(w, ["qdisc:A:eth0"])
>>> _ = CbrSource(a, b.addr, 9, "f", rate="20mbit", size=1000, stop=10_000_000)
>>> w.run(50_000_000)
>>> counts = rec.counts("A", "eth0")
>>> counts["dequeue"] == lk.a.qdisc.packets, counts["drop"] == lk.a.qdisc.drops > 0
(True, True)
"""

from __future__ import annotations

import csv
from itertools import count
from pathlib import Path
from typing import Any

from qdisclab.errors import UserError
from qdisclab.net.tracepoints import NET_DEV_RECEIVE, NET_DEV_XMIT
from qdisclab.sched.constants import NET_XMIT_DROP, NET_XMIT_MASK
from qdisclab.sched.handle import format_handle
from qdisclab.sched.tracepoints import QDISC_DEQUEUE, QDISC_DROP, QDISC_ENQUEUE
from qdisclab.sim.tracepoint import tracepoint

COLUMNS = ("time_ns", "event", "node", "dev", "qdisc", "flow", "pkt", "len", "detail")
SUBSYSTEMS = ("qdisc", "net", "tcx", "tcp")


def check_selection(item: str) -> str | None:
    """Why ``item`` is not a valid selection, or None (for load-time validation)."""
    sub, _, where = item.partition(":")
    if sub not in SUBSYSTEMS:
        return f"selection {item!r} must start with one of {', '.join(SUBSYSTEMS)}"
    if sub == "tcp":
        return None if where else f"{item!r}: name a flow ('tcp:S1->D1') or 'tcp:*'"
    node, _, dev = where.partition(":")
    return None if node and dev else f"{item!r}: name a device as '{sub}:NODE:DEV'"


class EventRecorder:
    """Appends one row per selected event to column lists; ``write(path)`` saves them."""

    def __init__(self, world: Any, selections: list[str]) -> None:
        self.columns: dict[str, list[Any]] = {c: [] for c in COLUMNS}
        self._ids: dict[Any, int] = {}
        self._next_id = count(1).__next__
        self._attached: list[tuple[Any, Any]] = []
        sched = world.sched
        by_sub: dict[str, set[Any]] = {s: set() for s in SUBSYSTEMS}
        for item in selections:
            problem = check_selection(item)
            if problem:
                raise UserError(f"[run.record] events: {problem}")
            sub, _, where = item.partition(":")
            if sub == "tcp":
                by_sub[sub].add(where)
                continue
            node, _, name = where.partition(":")
            try:
                dev = world.node(node).devices[name]
            except (KeyError, UserError):
                raise UserError(f"[run.record] events: {item!r}: no device {node}:{name}") from None
            by_sub[sub].add(dev)
            if sub == "qdisc" and dev.ingress_qdisc is not None:
                by_sub[sub].add(dev.ingress_qdisc.dev)  # the ingress qdisc's port
        self._qdisc_devs = by_sub["qdisc"]
        self._net_devs = by_sub["net"]
        self._tcx_devs = by_sub["tcx"]
        self._flows = by_sub["tcp"]
        plan = []
        if self._qdisc_devs:
            plan += [(QDISC_ENQUEUE, self._enqueue), (QDISC_DEQUEUE, self._dequeue),
                     (QDISC_DROP, self._drop)]  # fmt: skip
        if self._net_devs:
            plan += [(NET_DEV_XMIT, self._xmit), (NET_DEV_RECEIVE, self._receive)]
        if self._tcx_devs:  # tcx and TCP are imported only when recorded: not every run has them
            from qdisclab.tcx.tracepoints import TCX_PROG_RUN

            plan.append((TCX_PROG_RUN, self._tcx))
        if self._flows:
            from qdisclab.tcp.tracepoints import TCP_CONG_STATE_SET, TCP_PROBE, TCP_RETRANSMIT_SKB

            plan += [(TCP_PROBE, self._tcp_probe), (TCP_CONG_STATE_SET, self._tcp_state),
                     (TCP_RETRANSMIT_SKB, self._tcp_retrans)]  # fmt: skip
        for decl, fn in plan:
            tp = tracepoint(sched, decl)
            tp.attach(fn)
            self._attached.append((tp, fn))

    def detach(self) -> None:
        for tp, fn in self._attached:
            tp.detach(fn)
        self._attached = []

    def __len__(self) -> int:
        return len(self.columns["time_ns"])

    # -- rows -------------------------------------------------------------------
    def _row(self, now: int, event: str, dev: Any, qdisc: Any, flow: Any, pkt: Any,
             length: Any, detail: Any) -> None:  # fmt: skip
        c = self.columns
        c["time_ns"].append(now)
        c["event"].append(event)
        c["node"].append(dev.node.name if dev is not None else "")
        c["dev"].append(dev.name if dev is not None else "")
        c["qdisc"].append(qdisc)
        c["flow"].append(flow)
        c["pkt"].append(pkt)
        c["len"].append(length)
        c["detail"].append(detail)

    @staticmethod
    def _where(qdisc: Any) -> tuple[Any, str]:
        dev = qdisc.dev
        return getattr(dev, "dev", dev), format_handle(qdisc.handle)

    def _skb_row(self, now: int, event: str, qdisc: Any, skb: Any, pkt: int, detail: Any) -> None:
        dev, handle = self._where(qdisc)
        flow = skb.flow.name if skb.flow is not None else ""
        self._row(now, event, dev, handle, flow, pkt, skb.len, detail)

    def _enqueue(self, now: int, qdisc: Any, skb: Any, ret: int) -> None:
        if qdisc.dev not in self._qdisc_devs:
            return
        pkt = self._ids.pop((qdisc, skb), None)  # dropped inside its own enqueue: same visit
        dropped_inside = pkt is not None
        if pkt is None:
            pkt = self._next_id()
        if not dropped_inside and ret & NET_XMIT_MASK != NET_XMIT_DROP:
            self._ids[(qdisc, skb)] = pkt
        self._skb_row(now, "enqueue", qdisc, skb, pkt, ret)

    def _dequeue(self, now: int, qdisc: Any, skb: Any) -> None:
        if qdisc.dev not in self._qdisc_devs:
            return
        pkt = self._ids.pop((qdisc, skb), 0)
        self._skb_row(now, "dequeue", qdisc, skb, pkt, "")

    def _drop(self, now: int, qdisc: Any, skb: Any, reason: str) -> None:
        if qdisc.dev not in self._qdisc_devs:
            return
        key = (qdisc, skb)
        pkt = self._ids.pop(key, None)
        if pkt is None:  # the skb being enqueued: its enqueue row follows with the same id
            pkt = self._ids[key] = self._next_id()
        self._skb_row(now, "drop", qdisc, skb, pkt, reason)

    def _xmit(self, now: int, dev: Any, skb: Any) -> None:
        if dev in self._net_devs:
            self._row(now, "xmit", dev, "", skb.flow.name if skb.flow else "", "", skb.len, "")

    def _receive(self, now: int, dev: Any, skb: Any) -> None:
        if dev in self._net_devs:
            self._row(now, "receive", dev, "", skb.flow.name if skb.flow else "", "", skb.len, "")

    def _tcx(self, now: int, dev: Any, ingress: bool, prog: Any, ret: int) -> None:
        if dev in self._tcx_devs:
            name = getattr(prog, "__name__", repr(prog))
            where = "ingress" if ingress else "egress"
            self._row(now, f"tcx_{where}", dev, "", name, "", "", ret)

    def _tcp(self, now: int, event: str, sk: Any, length: Any, detail: Any) -> None:
        if sk.name in self._flows or "*" in self._flows:
            self._row(now, event, None, "", sk.name, "", length, detail)

    def _tcp_probe(self, now: int, sk: Any, cwnd: int, ssthresh: int, srtt_us: int) -> None:
        self._tcp(now, "cwnd", sk, "", cwnd)

    def _tcp_state(self, now: int, sk: Any, ca_state: int) -> None:
        self._tcp(now, "ca_state", sk, "", ca_state)

    def _tcp_retrans(self, now: int, sk: Any, seq: int, length: int) -> None:
        self._tcp(now, "retransmit", sk, length, seq)

    # -- results ----------------------------------------------------------------
    def counts(self, node: str, dev: str) -> dict[str, int]:
        """Rows per event type at one device (enqueue/dequeue/drop/xmit/...)."""
        out: dict[str, int] = {}
        c = self.columns
        for n, d, ev in zip(c["node"], c["dev"], c["event"], strict=True):
            if n == node and d == dev:
                out[ev] = out.get(ev, 0) + 1
        return out

    def write(self, path: Path, fmt: str = "csv") -> Path:
        """Write ``events.csv`` or ``events.parquet`` (pyarrow) at ``path`` (no suffix)."""
        if fmt == "parquet":
            try:
                import pyarrow as pa
                import pyarrow.parquet as pq
            except ImportError:
                raise UserError(
                    "[run.record] events_format = 'parquet' needs pyarrow "
                    "(pip install 'qdisclab[parquet]'); use 'csv'"
                ) from None
            out = path.with_suffix(".parquet")
            cols = {k: [str(v) for v in vals] if k in ("qdisc", "detail", "pkt", "len") else vals
                    for k, vals in self.columns.items()}  # fmt: skip
            pq.write_table(pa.table(cols), out)
            return out
        out = path.with_suffix(".csv")
        with out.open("w", newline="") as f:
            w = csv.writer(f)
            w.writerow(COLUMNS)
            w.writerows(zip(*self.columns.values(), strict=True))
        return out
