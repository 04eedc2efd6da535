"""A Pythonic face on :class:`MprogHook`: keywords instead of flag words.

Each method maps one to one onto the low-level call:

* ``before=X`` / ``after=X`` set BPF_F_BEFORE / BPF_F_AFTER with ``X`` as the
  relative object; ``X=None`` means "no relative", i.e. head (before) or tail
  (after). A :class:`Link` adds BPF_F_LINK, an ``int`` is a program ID (BPF_F_ID).
* ``replace=old`` sets BPF_F_REPLACE with ``old`` as the replaced program.

>>> from qdisclab.mprog import BpfObjects, Hook, BPF_TCX_INGRESS
>>> objs = BpfObjects()
>>> hook = Hook(objs, BPF_TCX_INGRESS)
>>> a, b, c = (objs.program(lambda ctx: -1, name=n) for n in "abc")
>>> hook.attach(a)
>>> link = hook.link(b, before=None)          # prepend
>>> hook.attach(c, after=link)                # behind b's link
>>> [p.name for p in hook.programs], hook.query().link_ids
(['b', 'c', 'a'], (1, 0, 0))
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from mypy_extensions import mypyc_attr

from .constants import BPF_F_AFTER, BPF_F_BEFORE, BPF_F_ID, BPF_F_LINK, BPF_F_REPLACE
from .fd import ProgFd
from .hook import MprogHook
from .objects import Link, Program
from .relative import Relative


class _Missing:
    __slots__ = ()

    def __repr__(self) -> str:
        return "MISSING"


MISSING: Final = _Missing()
Position = Program | Link | int | None | _Missing


@dataclass(frozen=True, slots=True)
class HookInfo:
    """A full query: total count, revision and the ids in run order (link id 0 = prog-based)."""

    count: int
    revision: int
    prog_ids: tuple[int, ...]
    link_ids: tuple[int, ...]


def position_args(before: Position = MISSING, after: Position = MISSING) -> tuple[int, Relative]:
    """Map ``before=``/``after=`` keywords to ``(flags, relative)``.

    >>> position_args(before=None)
    (8, None)
    >>> position_args(after=7)
    (48, 7)
    """
    flags = 0
    relative: Relative = None
    for flag, value in ((BPF_F_BEFORE, before), (BPF_F_AFTER, after)):
        if isinstance(value, _Missing):
            continue
        flags |= flag
        if value is None:
            continue
        if relative is not None and relative is not value:
            raise ValueError("before= and after= name different relative objects")
        relative = value
    if isinstance(relative, Link):
        flags |= BPF_F_LINK
    elif isinstance(relative, int) and not isinstance(relative, bool):
        flags |= BPF_F_ID
    return flags, relative


@mypyc_attr(allow_interpreted_subclasses=True)  # netkit hooks
class Hook(MprogHook):
    """An :class:`MprogHook` with keyword methods; see the module doc for the mapping."""

    __slots__ = ()

    def attach(
        self,
        prog: ProgFd,
        *,
        before: Position = MISSING,
        after: Position = MISSING,
        replace: ProgFd = None,
        expected_revision: int = 0,
    ) -> None:
        """Attach prog-based; no position = append. ``replace=old`` swaps ``old`` in place."""
        flags, relative = position_args(before, after)
        if replace is not None:
            flags |= BPF_F_REPLACE
        self.prog_attach(prog, flags, relative, expected_revision, replace)

    def detach(
        self,
        prog: ProgFd = None,
        *,
        before: Position = MISSING,
        after: Position = MISSING,
        expected_revision: int = 0,
    ) -> None:
        """Detach ``prog``, or without ``prog`` the last (``before=None``: the first) one."""
        flags, relative = position_args(before, after)
        self.prog_detach(prog, flags, relative, expected_revision)

    def link(
        self,
        prog: ProgFd,
        *,
        before: Position = MISSING,
        after: Position = MISSING,
        expected_revision: int = 0,
    ) -> Link:
        """Create a link owning ``prog``'s slot; no position = append."""
        flags, relative = position_args(before, after)
        return self.link_create(prog, flags, relative, expected_revision)

    def query(self) -> HookInfo:
        """Everything attached, in run order."""
        r = self.prog_query()
        return HookInfo(r.count, r.revision, r.prog_ids, r.link_ids)
