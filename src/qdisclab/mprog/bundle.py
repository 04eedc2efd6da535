"""The ordered program list of one hook (kernel/bpf/mprog.c: bpf_mprog_attach/detach).

The kernel keeps two entries and swaps them under RCU; that is invisible to a
model, so a bundle is one ordered list of ``(prog, link or None)`` slots plus
its revision. Each successful mutation commits (revision + 1) here, so the
bundle alone is a complete model of the mprog core; hook policy (entry
lifetime, syscall-level checks) lives in :mod:`qdisclab.mprog.hook`.

>>> from qdisclab.mprog.objects import BpfObjects
>>> objs = BpfObjects()
>>> p1, p2 = objs.program(lambda c: -1, name="p1"), objs.program(lambda c: -1, name="p2")
>>> b = MprogBundle(objs)
>>> b.attach(p1); b.attach(p2, BPF_F_BEFORE, relative=p1)
>>> [p.name for p in b.programs], b.revision
(['p2', 'p1'], 3)
"""

from __future__ import annotations

import errno
from typing import ClassVar

from mypy_extensions import mypyc_attr

from qdisclab.errors import KernelError

from .constants import (
    BPF_F_AFTER,
    BPF_F_BEFORE,
    BPF_F_REPLACE,
    BPF_PROG_TYPE_UNSPEC,
    MPROG_MAX_PROGS,
)
from .objects import BpfObjects, Link, Program
from .query import QueryResult, build_query_result
from .relative import Relative, Tuple, resolve_relative

_UNSET = -2  # "no position yet"; the kernel uses -ERANGE, any value below -1 works


@mypyc_attr(allow_interpreted_subclasses=True)  # a hook may bring its own rules (tests do)
class MprogBundle:
    """One hook's program list, revision and the mprog attach/detach/query rules.

    Errors are :class:`~qdisclab.errors.KernelError` with the kernel's errno;
    a failed call changes nothing.
    """

    __slots__ = ("_links", "_progs", "objs", "revision")

    capacity: ClassVar[int] = MPROG_MAX_PROGS  # bpf_mprog_max(); tests may shrink it

    def __init__(self, objs: BpfObjects) -> None:
        self.objs = objs
        self.revision = 1  # never 0: expected_revision 0 means "no check"
        self._progs: list[Program] = []
        self._links: list[Link | None] = []

    # -- views --

    @property
    def count(self) -> int:
        return len(self._progs)

    @property
    def programs(self) -> tuple[Program, ...]:
        return tuple(self._progs)

    @property
    def slots(self) -> tuple[tuple[Program, Link | None], ...]:
        return tuple(zip(self._progs, self._links, strict=True))

    # -- position helpers (bpf_mprog_pos_*) --

    def _find(self, rel: Tuple) -> int:
        prog, link = rel
        for i, p in enumerate(self._progs):
            # a relative program matches a link-owned slot; a relative link must match too
            if p is prog and (link is None or self._links[i] is link):
                return i
        raise KernelError(errno.ENOENT, f"relative {link or prog!r} is not attached to this hook")

    def _pos_before(self, rel: Tuple | None) -> int:
        return -1 if rel is None else self._find(rel) - 1

    def _pos_after(self, rel: Tuple | None) -> int:
        return len(self._progs) if rel is None else self._find(rel) + 1

    def _pos_exact(self, prog: Program | None, link: Link | None) -> int:
        for i, p in enumerate(self._progs):
            if p is prog:
                if self._links[i] is link:
                    return i
                owner = self._links[i]
                raise KernelError(
                    errno.EBUSY,
                    f"{prog!r} is owned by {owner!r}" if owner else f"{prog!r} is not link-owned",
                )
        raise KernelError(errno.ENOENT, f"{prog!r} is not attached to this hook")

    def _position(self, flags: int, rel: Tuple | None, idx: int) -> int:
        """Apply BEFORE then AFTER; each must agree with a position already fixed."""
        for flag, pos in ((BPF_F_BEFORE, self._pos_before), (BPF_F_AFTER, self._pos_after)):
            if flags & flag:
                t = pos(rel)
                if idx != _UNSET and t != idx:
                    raise KernelError(errno.ERANGE, "position flags disagree")
                idx = t
        return idx

    def _check_revision(self, expected_revision: int) -> None:
        if expected_revision and expected_revision != self.revision:
            raise KernelError(
                errno.ESTALE,
                f"expected revision {expected_revision}, hook is at {self.revision}",
            )

    # -- mutations --

    def attach(
        self,
        prog: Program,
        flags: int = 0,
        relative: Relative = None,
        expected_revision: int = 0,
        replace_prog: Program | None = None,
        link: Link | None = None,
    ) -> None:
        """bpf_mprog_attach + commit: insert ``prog`` (owned by ``link`` if given).

        With BPF_F_REPLACE, ``replace_prog`` (owned by ``link``) is swapped in
        place; link_create passes ``replace_prog=None`` so REPLACE gives ENOENT.
        """
        self._check_revision(expected_revision)
        if prog in self._progs:
            raise KernelError(errno.EEXIST, f"{prog!r} is already attached to this hook")
        rel = resolve_relative(self.objs, relative, flags & ~BPF_F_REPLACE, prog.prog_type)
        n = len(self._progs)
        idx = _UNSET
        if flags & BPF_F_REPLACE:
            idx = self._pos_exact(replace_prog, link)
        elif n == self.capacity:
            raise KernelError(errno.ERANGE, f"hook is full ({self.capacity} programs)")
        idx = self._position(flags, rel, idx)
        if idx == _UNSET:
            if rel is not None or flags:
                raise KernelError(errno.EINVAL, "relative object or flags without a position")
            idx = n  # default: append
        if idx >= self.capacity:
            raise KernelError(errno.ERANGE, f"position {idx} beyond capacity")
        if flags & BPF_F_REPLACE:
            self._progs[idx] = prog
            self._links[idx] = link
        else:
            if idx != n and flags & BPF_F_BEFORE:
                idx += 1  # pos_before returned the slot in front of the relative
            self._progs.insert(idx, prog)
            self._links.insert(idx, link)
        self.revision += 1

    def detach(
        self,
        prog: Program | None,
        flags: int = 0,
        relative: Relative = None,
        expected_revision: int = 0,
        link: Link | None = None,
    ) -> tuple[Program, Link | None]:
        """bpf_mprog_detach + commit; returns the removed ``(prog, link)`` slot.

        ``prog`` None selects by position: last by default, first with
        BPF_F_BEFORE, next to the relative otherwise (see spec 5.3 quirks).
        """
        if flags & BPF_F_REPLACE:
            raise KernelError(errno.EINVAL, "BPF_F_REPLACE is not valid for detach")
        self._check_revision(expected_revision)
        n = len(self._progs)
        if n == 0:
            raise KernelError(errno.ENOENT, "no programs attached to this hook")
        want_type = prog.prog_type if prog is not None else BPF_PROG_TYPE_UNSPEC
        rel = resolve_relative(self.objs, relative, flags, want_type)
        idx = _UNSET
        if prog is not None:
            idx = self._pos_exact(prog, link)
        idx = self._position(flags, rel, idx)
        if idx == _UNSET:
            if rel is not None or flags:
                raise KernelError(errno.EINVAL, "relative object or flags without a position")
            idx = n
        if idx >= self.capacity:
            raise KernelError(errno.ERANGE, f"position {idx} beyond capacity")
        # normalise the "in front of the head" / "behind the tail" positions
        if idx == -1:
            idx = 0
        elif idx == n:
            idx = n - 1
        owner = self._links[idx]
        if owner is not None and link is None:
            raise KernelError(errno.EBUSY, f"slot {idx} is owned by {owner!r}")
        removed = (self._progs.pop(idx), self._links.pop(idx))
        self.revision += 1
        return removed

    def clear(self) -> list[tuple[Program, Link | None]]:
        """Drop every slot without a commit (bpf_mprog_clear_all at device unregister)."""
        slots = list(zip(self._progs, self._links, strict=True))
        self._progs.clear()
        self._links.clear()
        return slots

    # -- query --

    def query(self, capacity: int | None = None, want_ids: bool = True) -> QueryResult:
        """bpf_mprog_query on this bundle; see :mod:`qdisclab.mprog.query` for ENOSPC."""
        slots = [
            (p.id, lk.id if lk is not None else 0)
            for p, lk in zip(self._progs, self._links, strict=True)
        ]
        return build_query_result(slots, self.revision, capacity, want_ids)
