"""Containment for congestion controls: the qdisc's guarantees for ``tcp_congestion_ops``.

A user congestion control runs through a guarded subclass (built once per
class): every member it implements is wrapped so that an exception, or an
invalid result (``ssthresh`` / ``undo_cwnd`` not a positive int, ``snd_cwnd``
left at 0 or below, which the kernel WARNs about), becomes an
``ExtensionFault`` naming the congestion control, the callback, the socket
and the problem. Under ``strict`` the fault stops the run; under ``contain``
the socket falls back to reno (as if the faulty control were detached), the
fault is recorded in the world's ``faults``, and the run goes on. Built-in
controls (``qdisclab.tcp.cc``) are trusted and run unwrapped.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partialmethod
from typing import TYPE_CHECKING

from qdisclab.errors import ExtensionFault
from qdisclab.ops import POLICY_CONTAIN, POLICY_OFF

if TYPE_CHECKING:
    from qdisclab.tcp.congestion import CongestionOps
    from qdisclab.tcp.sock_base import TcpSockBase

Member = Callable[..., object]

_POSITIVE_RESULT = frozenset({"ssthresh", "undo_cwnd"})
_GUARDED: dict[type[CongestionOps], type[CongestionOps]] = {}
_CWND_ZERO = "cwnd must stay an int >= 1 (the kernel WARNs on a zero cwnd)"


def cc_class_for(cls: type[CongestionOps], policy: str) -> type[CongestionOps]:
    """The class a socket instantiates for congestion control ``cls`` under ``policy``."""
    if policy == POLICY_OFF or _module(cls).startswith("qdisclab.tcp."):
        return cls
    guarded = _GUARDED.get(cls)
    if guarded is None:
        guarded = _GUARDED[cls] = _guard(cls)
    return guarded


def _guard(cls: type[CongestionOps]) -> type[CongestionOps]:
    from qdisclab.tcp.congestion import TCP_CONGESTION_OPS

    members: dict[str, partialmethod[object]] = {}
    for name in TCP_CONGESTION_OPS.members:
        if TCP_CONGESTION_OPS.members[name].function and TCP_CONGESTION_OPS.implements(cls, name):
            check = _guarded_count if name in _POSITIVE_RESULT else _guarded
            # A descriptor, not a closure: it binds to the instance whether this module
            # runs interpreted or compiled (a compiled function is no method).
            members[name] = partialmethod(check, name, getattr(cls, name))
    # Same name and flags: registration, lookup and reporting see the user's class.
    guarded: type[CongestionOps] = type(
        cls.__name__, (cls,), {"__module__": _module(cls), **members}
    )
    return guarded


def _module(cls: type) -> str:
    return cls.__module__  # read on a plain type: a compiled class declares no such member


def _guarded_count(self: CongestionOps, callback: str, fn: Member, sk: TcpSockBase) -> object:
    """``ssthresh`` / ``undo_cwnd`` checked: a positive int, and cwnd left >= 1."""
    try:
        ret = fn(self, sk)  # object, not int: a wrong type is diagnosed, not raised
    except ExtensionFault as fault:
        return _contain(self, sk, callback, fault)
    except Exception as exc:
        return _fault(self, sk, callback, f"raised {type(exc).__name__}: {exc}", exc)
    if ret.__class__ is not int or ret <= 0:
        return _fault(self, sk, callback, f"returned {ret!r}: must be a positive packet count")
    return _cwnd_checked(self, sk, callback, ret)


def _guarded(
    self: CongestionOps, callback: str, fn: Member, sk: TcpSockBase, *args: object
) -> object:
    """Any other member checked: no exception, and cwnd left >= 1."""
    try:
        ret = fn(self, sk, *args)
    except ExtensionFault as fault:
        # Already diagnosed (a compiled program's fault names its instruction and line).
        return _contain(self, sk, callback, fault)
    except Exception as exc:
        return _fault(self, sk, callback, f"raised {type(exc).__name__}: {exc}", exc)
    return _cwnd_checked(self, sk, callback, ret)


def _cwnd_checked(ops: CongestionOps, sk: TcpSockBase, callback: str, ret: object) -> object:
    """``ret``, unless the callback left ``snd_cwnd`` below 1 (then the fault's answer)."""
    cwnd: object = sk.snd_cwnd
    if cwnd.__class__ is not int or cwnd <= 0:
        return _fault(ops, sk, callback, f"set snd_cwnd = {cwnd!r}: {_CWND_ZERO}")
    return ret


def _fault(
    ops: CongestionOps, sk: TcpSockBase, callback: str, problem: str, cause: Exception | None = None
) -> int | None:
    fault = ExtensionFault(f"tcp_congestion_ops {ops.name}", callback, problem, f"socket {sk.name}")
    fault.__cause__ = cause
    return _contain(ops, sk, callback, fault)


def _contain(
    ops: CongestionOps, sk: TcpSockBase, callback: str, fault: ExtensionFault
) -> int | None:
    """Raise ``fault`` (strict), or record it and carry on with reno (contain)."""
    from qdisclab.tcp.cc.reno import Reno
    from qdisclab.tcp.congestion import (
        install_cc,
        lookup_cc,
        tcp_reno_ssthresh,
        tcp_reno_undo_cwnd,
    )

    world = getattr(getattr(sk, "node", None), "world", None)
    if world is None or world.policy != POLICY_CONTAIN:
        raise fault
    world.faults.append((sk.name, ops.name, str(fault)))
    if sk.snd_cwnd.__class__ is not int or sk.snd_cwnd <= 0:
        sk.snd_cwnd = 2
    # Detach: the socket continues with reno, initialised as a switch does.
    install_cc(sk, (lookup_cc("reno") or Reno)())
    sk.icsk_ca_ops.init(sk)
    if callback == "ssthresh":
        return tcp_reno_ssthresh(sk)
    if callback == "undo_cwnd":
        return tcp_reno_undo_cwnd(sk)
    return None
