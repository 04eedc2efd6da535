"""The verifier's skb-ownership promise, kept at run time.

Every ``SkBuff`` has one owner (``skb.owner``): the running callback (a
``Frame``), a collection, a node, or ``FREED``. Ownership only moves from the
running callback: pushing into a collection, dropping, freeing, handing to a
child or returning from dequeue all start with ``take(skb)``, which fails
unless the running callback owns the skb. Popping from a collection gives the
skb back to the running callback and records it in ``frame.acquired`` so the
exit check can find leaks.

``RUNNING.frame`` is the callback currently executing (``None`` outside every
callback). Trampolines in the subsystem layers (``qdisclab.sched``) set and
restore it around each user callback.

>>> frame = Frame("my_fifo", "enqueue", instance=None)
>>> frame.callback
'enqueue'
"""

from __future__ import annotations

from collections import deque
from typing import TYPE_CHECKING, Protocol

from qdisclab.errors import ExtensionFault
from qdisclab.skb import FREED, SkBuff

if TYPE_CHECKING:
    from qdisclab.ops.collections import Storage

POLICY_STRICT = "strict"  # stop the run with a diagnostic (the default)
POLICY_CONTAIN = "contain"  # detach the faulty instance, fall back, keep running
POLICY_OFF = "off"  # no ownership checks (benchmark baseline only)
POLICIES = (POLICY_STRICT, POLICY_CONTAIN, POLICY_OFF)


class ExtensionInstance(Protocol):
    """What the collections need from the instance a callback runs for (a qdisc)."""

    @property
    def storage(self) -> Storage: ...

    @property
    def policy(self) -> str: ...


class Frame:
    """One callback of one extension instance; owner of the skbs it holds.

    Frames are allocated once per (instance, callback) and reused, so running
    a callback allocates nothing.
    """

    __slots__ = ("acquired", "allowed", "callback", "instance", "kind")

    def __init__(
        self,
        kind: str,
        callback: str,
        instance: ExtensionInstance | None,
        allowed: frozenset[str] = frozenset(),
    ) -> None:
        self.kind = kind
        self.callback = callback
        self.instance = instance
        self.allowed = allowed  # kfunc names this callback may call
        # The skbs taken out of storage during this call. A deque, not a list: a list
        # frees its storage each time it empties and allocates it again on the next
        # append, once per packet; an empty deque keeps its block.
        self.acquired: deque[SkBuff] = deque()

    def __repr__(self) -> str:
        return f"{self.kind}.{self.callback}"


class _Running:
    __slots__ = ("frame",)

    def __init__(self) -> None:
        self.frame: Frame | None = None


RUNNING = _Running()


class OwnershipViolation(ExtensionFault):
    """A callback used, leaked or forged an skb against the ownership rules."""


def describe_owner(owner: object) -> str:
    if owner is None:
        return "the stack (not inside any qdisc)"
    if owner is FREED:
        return "freed (already dropped or consumed)"
    if isinstance(owner, Frame):
        return f"callback {owner.kind}.{owner.callback}"
    return f"{type(owner).__name__}@{id(owner):x}"


def violation(frame: Frame | None, skb: object, problem: str) -> OwnershipViolation:
    """Build the diagnostic: extension kind, callback, skb, flow and last owner."""
    kind = frame.kind if frame is not None else "?"
    callback = frame.callback if frame is not None else "(no callback running)"
    if isinstance(skb, SkBuff):
        flow = getattr(skb.flow, "name", "?")
        packet = f"{skb.describe()} flow {flow}; last owned by {describe_owner(skb.owner)}"
    else:
        packet = f"object {skb!r} of type {type(skb).__name__}"
    return OwnershipViolation(kind, callback, problem, packet)


def take(skb: SkBuff, new_owner: object, action: str) -> None:
    """Move ``skb`` from the running callback to ``new_owner`` or raise a violation."""
    frame = RUNNING.frame
    owner = skb.owner
    if owner is not frame or frame is None:
        if owner is FREED:
            problem = f"{action}: skb was already dropped or freed (use after release)"
        elif isinstance(owner, Frame) or owner is None:
            problem = f"{action}: skb is not owned by this callback (forged reference)"
        else:
            problem = f"{action}: skb is still queued in a collection (double insertion?)"
        raise violation(frame, skb, problem)
    skb.owner = new_owner


def give(skb: SkBuff) -> None:
    """Hand an skb taken out of storage to the running callback."""
    frame = RUNNING.frame
    skb.owner = frame
    if frame is not None:
        frame.acquired.append(skb)


def check_exit(frame: Frame, keep: object = None) -> None:
    """At callback exit: nothing the callback took may still be owned by it (except ``keep``)."""
    acquired = frame.acquired
    for skb in acquired:
        if skb.owner is frame and skb is not keep:
            # Left in ``acquired`` so a contain policy can free it.
            raise violation(
                frame, skb, "callback returned while still owning an skb (leak: neither queued, "
                "dropped nor returned)"
            )  # fmt: skip
    acquired.clear()
