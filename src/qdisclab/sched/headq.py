"""``sch->q``: the queue every qdisc has of its own, and the helpers that queue on it.

The kernel's fifos do not keep a list of their own: they queue on the
qdisc's ``sch->q`` (``struct qdisc_skb_head``) with the ``sch_generic.h``
helpers ``qdisc_enqueue_tail``, ``qdisc_dequeue_head``, ``qdisc_peek_head``
and ``qdisc_reset_queue``. qdisclab gives every qdisc the same queue,
owned by the mechanism (which owns the skbs it holds, so the collections'
generic checks are not needed on it), and offers the helpers on ``sch``
under the names of ``HEAD_QUEUE_HELPERS`` (declared here only). Each is
allowed only where the kernel's qdiscs use it; anywhere else it is refused
with a message naming the helper and the callback:

* ``sch.enqueue_tail(skb)`` (enqueue): queue an owned skb at the tail;
  returns NET_XMIT_SUCCESS, so ``return sch.enqueue_tail(skb)`` ends an enqueue;
* ``sch.dequeue_head()`` (enqueue, dequeue): the head skb, now owned by the
  callback (to return it, or drop it as a head-drop fifo does), or None;
* ``sch.peek_head()`` (every callback): the head skb, still queued (read it only);
* ``sch.reset_queue()`` (reset, destroy): free everything queued (counted as
  reset drops).

A kind whose dequeue or reset is the generic one names it as the kernel's
``pfifo_qdisc_ops`` does (``.dequeue = qdisc_dequeue_head``): ``dequeue =
qdisc_dequeue_head`` and ``reset = qdisc_reset_queue`` (``qdisclab.sched.ops``).
The trampolines then run the generic dequeue as the mechanism's own code
(no policy frame to check: nothing but the mechanism touches the queue).

These are not BPF kfuncs (a BPF qdisc keeps its skbs in its own lists, as in
the kernel), so ``qdisclab kfuncs`` does not list them.

>>> HEAD_QUEUE_HELPERS["enqueue_tail"]
('qdisc_enqueue_tail', ('enqueue',))
"""

from __future__ import annotations

from collections import deque
from typing import TYPE_CHECKING

from qdisclab.errors import ExtensionFault
from qdisclab.ops.ownership import RUNNING, give, take, violation
from qdisclab.sched.constants import NET_XMIT_SUCCESS
from qdisclab.skb import DROP_RESET, SkBuff

if TYPE_CHECKING:
    from qdisclab.ops import Frame
    from qdisclab.sched.qdisc import Qdisc

EVERY_CALLBACK = ("enqueue", "dequeue", "init", "reset", "destroy", "change")

#: ``sch.<name>``: (the kernel's helper, the callbacks that may call it). The one list of them.
HEAD_QUEUE_HELPERS: dict[str, tuple[str, tuple[str, ...]]] = {
    "enqueue_tail": ("qdisc_enqueue_tail", ("enqueue",)),
    "dequeue_head": ("qdisc_dequeue_head", ("enqueue", "dequeue")),
    "peek_head": ("qdisc_peek_head", EVERY_CALLBACK),
    "reset_queue": ("qdisc_reset_queue", ("reset", "destroy")),
}


class QdiscSkbHead:
    """One qdisc's own queue (``sch->q``); its helpers are bound on the qdisc's ``sch``.

    An skb on it is owned by this object. The qdisc's qlen and backlog count
    it as any queued skb (the trampolines account every enqueue and dequeue).
    """

    __slots__ = ("_enqueue_frame", "_q", "skbs")

    def __init__(self, q: Qdisc) -> None:
        self._q = q
        self._enqueue_frame = q._frames["enqueue"]
        self.skbs: deque[SkBuff] = deque()

    def enqueue_tail(self, skb: SkBuff) -> int:
        """``qdisc_enqueue_tail``: queue an owned skb at the tail; returns NET_XMIT_SUCCESS."""
        # Only this qdisc's enqueue owns an skb as its enqueue frame: one test is both
        # the allow-list and the ownership check (the diagnostics tell them apart).
        if skb.owner is not self._enqueue_frame:
            self._check_caller("enqueue_tail")
            take(skb, self, "sch.enqueue_tail() (qdisc_enqueue_tail)")  # raises the diagnostic
        skb.owner = self
        self.skbs.append(skb)
        return NET_XMIT_SUCCESS

    def dequeue_head(self) -> SkBuff | None:
        """``qdisc_dequeue_head``: the head skb, now the running callback's, or None."""
        self._check_caller("dequeue_head")
        skbs = self.skbs
        if not skbs:
            return None
        skb = skbs.popleft()
        give(skb)
        return skb

    def peek_head(self) -> SkBuff | None:
        """``qdisc_peek_head``: the head skb, still queued (read-only access), or None."""
        skbs = self.skbs
        return skbs[0] if skbs else None

    def reset_queue(self) -> None:
        """``qdisc_reset_queue``: free every skb queued here (reset drops, counted up the tree)."""
        self._check_caller("reset_queue")
        self._free_all()

    def _free_all(self) -> None:
        skbs, q = self.skbs, self._q
        while skbs:
            skb = skbs.popleft()
            if skb.len != skb.pkt_len:  # written while queued: free it as the books hold it
                skb.len = skb.pkt_len
            q._drop_owned(skb, DROP_RESET)

    def _check_caller(self, name: str) -> None:
        """Refuse a helper called outside the callbacks of this qdisc that may call it."""
        frame = RUNNING.frame
        kernel, allowed = HEAD_QUEUE_HELPERS[name]
        if frame is not None and frame.instance is self._q and frame.callback in allowed:
            return
        raise _refusal(name, kernel, allowed, frame)

    def __len__(self) -> int:
        return len(self.skbs)

    def __bool__(self) -> bool:
        return bool(self.skbs)

    def held(self) -> list[SkBuff]:
        return list(self.skbs)

    def release_all(self) -> list[SkBuff]:
        """Infrastructure only: empty the queue, returning what it held (owner untouched)."""
        items = list(self.skbs)
        self.skbs.clear()
        return items


class UncheckedSkbHead(QdiscSkbHead):
    """The same queue under ownership policy ``off``: no caller or ownership checks."""

    __slots__ = ()

    def __init__(self, q: Qdisc) -> None:
        super().__init__(q)

    def enqueue_tail(self, skb: SkBuff) -> int:
        self.skbs.append(skb)
        return NET_XMIT_SUCCESS

    def dequeue_head(self) -> SkBuff | None:
        skbs = self.skbs
        return skbs.popleft() if skbs else None

    def reset_queue(self) -> None:
        self._free_all()


def _refusal(
    name: str, kernel: str, allowed: tuple[str, ...], frame: Frame | None
) -> ExtensionFault:
    what = f"sch.{name}() ({kernel})"
    if frame is None:
        return ExtensionFault("?", "(no callback running)", f"{what} called outside a callback")
    if frame.callback in allowed:
        return violation(frame, None, f"{what}: not this qdisc's queue (use your own sch)")
    return ExtensionFault(
        frame.kind, frame.callback,
        f"{what} is allowed only in {', '.join(allowed)}, not in {frame.callback}",
    )  # fmt: skip
