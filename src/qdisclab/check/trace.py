"""The operations ``qdisclab check`` plays on a qdisc, as tuples and as trace lines.

An operation is a tuple whose first item names it:

* ``("enqueue", len, flow, prio, mark, tstamp_offset_ns, ecn)``: one packet;
* ``("burst", count, len, flows, prio, tstamp_offset_ns, ecn)``: ``count``
  packets at the same instant, flows taken in turn (``0 .. flows-1``), the way
  a queue is driven to its limit and beyond;
* ``("dequeue",)`` and ``("drain", count)``: explicit dequeues (a parent, or
  a second device queue, pulling), ``drain`` until None or ``count``;
* ``("advance", ns)``: let time pass (the device transmits, watchdogs fire);
* ``("peek",)``, ``("reset",)``, ``("down",)``, ``("up",)``.

Each prints as one line (``burst(count=129, len=1000, flows=4)``) and
``parse_trace`` reads the lines back, so a reported trace can be replayed.

>>> op = ("burst", 129, 1000, 4, 0, 0, 0)
>>> format_op(op)
'burst(count=129, len=1000, flows=4)'
>>> parse_trace([format_op(op) + " -> 127 queued, 2 dropped"]) == [op]
True
"""

from __future__ import annotations

import re

from qdisclab.errors import UserError
from qdisclab.units import format_time, parse_time

# An operation is a tuple; see the module docstring.
Op = tuple

_LINE = re.compile(r"^\s*(\w+)\((.*?)\)")
_SIMPLE = ("dequeue", "peek", "reset", "down", "up")


def _packet_args(prio: int, mark: int, tstamp: int, ecn: int) -> list[str]:
    args = []
    if prio:
        args.append(f"prio={prio}")
    if mark:
        args.append(f"mark={mark}")
    if tstamp:
        args.append(f"tstamp=now+{format_time(tstamp)}")
    if ecn:
        args.append(f"ecn={ecn}")
    return args


def format_op(op: Op) -> str:
    """``enqueue(len=100, flow=2, prio=1)``, ``burst(count=10, len=64, flows=1)``, ``advance(5ms)``."""
    name = op[0]
    if name == "enqueue":
        _, length, flow, prio, mark, tstamp, ecn = op
        args = [f"len={length}", f"flow={flow}", *_packet_args(prio, mark, tstamp, ecn)]
        return f"enqueue({', '.join(args)})"
    if name == "burst":
        _, count, length, flows, prio, tstamp, ecn = op
        args = [f"count={count}", f"len={length}", f"flows={flows}",
                *_packet_args(prio, 0, tstamp, ecn)]  # fmt: skip
        return f"burst({', '.join(args)})"
    if name == "drain":
        return f"drain(count={op[1]})"
    if name == "advance":
        return f"advance({format_time(op[1])})"
    return f"{name}()"


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
        try:
            ops.append(_parse_one(name, args))
        except (ValueError, KeyError) as exc:
            raise UserError(f"bad trace line {line!r}: {exc}") from None
        except UserError as exc:
            raise UserError(f"{exc} in line {line!r}") from None
    return ops


def _parse_one(name: str, args: str) -> Op:
    if name == "advance":
        return ("advance", parse_time(args))
    if name in _SIMPLE:
        return (name,)
    kw = dict(part.split("=", 1) for part in args.split(", ")) if args else {}
    tstamp = kw.get("tstamp", "0")
    tstamp = parse_time(tstamp.removeprefix("now+")) if tstamp != "0" else 0
    prio, ecn = int(kw.get("prio", 0)), int(kw.get("ecn", 0))
    if name == "enqueue":
        return ("enqueue", int(kw.get("len", 1000)), int(kw.get("flow", 0)), prio,
                int(kw.get("mark", 0)), tstamp, ecn)  # fmt: skip
    if name == "burst":
        return ("burst", int(kw["count"]), int(kw.get("len", 1000)), int(kw.get("flows", 1)),
                prio, tstamp, ecn)  # fmt: skip
    if name == "drain":
        return ("drain", int(kw["count"]))
    raise UserError(f"unknown trace operation {name!r}")
