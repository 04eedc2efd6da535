"""BPF objects: programs, links and the per-world registry that numbers them.

Programs and links live in separate ID spaces, each starting at 1 and never
reused within one :class:`BpfObjects` (the kernel allocates cyclically, so a
freed number is not handed out again in practice).

>>> objs = BpfObjects()
>>> p = objs.program(lambda ctx: -1, name="tc1")
>>> p.id, p(None)
(1, -1)
>>> objs.prog_by_id(1) is p
True
"""

from __future__ import annotations

import errno
from collections.abc import Callable, Iterator
from typing import ClassVar, Protocol

from mypy_extensions import mypyc_attr

from qdisclab.errors import KernelError

from .constants import BPF_LINK_TYPE_UNSPEC, BPF_PROG_TYPE_SCHED_CLS, BPF_PROG_TYPE_UNSPEC

# A program: called with its hook's context (an ``__sk_buff`` view for tcx and
# netkit), returns a verdict the hook checks (a program may return anything).
ProgFunc = Callable[..., object]


class Program:
    """A loaded program: a Python callable plus the kernel metadata checked at attach.

    Calling the program runs ``func(ctx)``. Programs are compared by identity,
    like the kernel compares ``struct bpf_prog`` pointers.

    >>> objs = BpfObjects()
    >>> objs.program(lambda ctx: 0, name="pass")(object())
    0
    """

    __slots__ = ("expected_attach_type", "func", "id", "name", "prog_type")

    def __init__(
        self, prog_id: int, func: ProgFunc, name: str, prog_type: int, expected_attach_type: int
    ) -> None:
        self.id = prog_id
        self.func = func
        self.name = name
        self.prog_type = prog_type
        self.expected_attach_type = expected_attach_type

    def __call__(self, ctx: object) -> object:
        return self.func(ctx)

    def __repr__(self) -> str:
        return f"<Program {self.name!r} id={self.id}>"


class LinkHost(Protocol):
    """What a live link needs from the hook it is attached to."""

    def _link_release(self, link: Link) -> None: ...

    def _link_update(self, link: Link, new_prog: Program, old_prog: Program | None) -> None: ...


@mypyc_attr(allow_interpreted_subclasses=True)  # tcx and netkit links, test doubles
class Link:
    """A link: owns one hook slot and the program reference in it.

    States: *unsettled* while link_create runs (ID allocated, lookups by ID give
    EAGAIN), *live* (``hook`` set), *defunct* (detached, released, or its device
    was unregistered: ``hook is None``) and *closed* (the last fd is gone: the ID
    is freed and further calls on it give EBADF).

    Subclasses (tcx, netkit) add introspection such as ``ifindex``.

    >>> from qdisclab.mprog import MprogHook, BPF_TCX_INGRESS
    >>> objs = BpfObjects()
    >>> hook = MprogHook(objs, BPF_TCX_INGRESS)
    >>> link = hook.link_create(objs.program(lambda ctx: -1))
    >>> link.detach(); link.defunct
    True
    """

    __slots__ = ("_objs", "attach_type", "closed", "hook", "id", "prog", "settled")

    link_type: ClassVar[int] = BPF_LINK_TYPE_UNSPEC

    def __init__(self, objs: BpfObjects, link_id: int, prog: Program, attach_type: int) -> None:
        self._objs = objs
        self.id = link_id
        self.prog = prog
        self.attach_type = attach_type
        self.hook: LinkHost | None = None
        self.settled = False
        self.closed = False

    @property
    def defunct(self) -> bool:
        """True once the link no longer owns a hook slot (detached or device gone)."""
        return self.hook is None

    def _check_open(self, op: str) -> None:
        if self.closed:
            raise KernelError(errno.EBADF, f"{op}: link id {self.id} is closed")

    def detach(self) -> None:
        """BPF_LINK_DETACH: remove the link's program from its hook if still live.

        Always succeeds (the kernel returns 0 even on a defunct link); the link
        object and its ID stay until :meth:`close`.
        """
        self._check_open("BPF_LINK_DETACH")
        self.release()

    def release(self) -> None:
        """What the kernel does on last reference drop: detach if live, else nothing."""
        hook = self.hook
        if hook is not None:
            hook._link_release(self)

    def update(self, new_prog: object, old_prog: object = None) -> None:
        """BPF_LINK_UPDATE: swap the program in place (same slot, same link).

        Both name programs as fds do (see :mod:`qdisclab.mprog.fd`).
        ``old_prog`` given means BPF_F_REPLACE: it must be the current program
        (EPERM otherwise). Same program as now: no-op, revision unchanged.
        Errors: ENOLINK (defunct), EEXIST (new program already on the hook),
        EINVAL (program type differs).
        """
        from .fd import program_from_fd  # fd.py builds on this module's classes

        self._check_open("BPF_LINK_UPDATE")
        # link_update looks both fds up untyped (the hook's attach checks the type later)
        new = program_from_fd(new_prog, BPF_PROG_TYPE_UNSPEC, "BPF_LINK_UPDATE new_prog_fd")
        old = None
        if old_prog is not None:
            old = program_from_fd(old_prog, BPF_PROG_TYPE_UNSPEC, "BPF_LINK_UPDATE old_prog_fd")
        hook = self.hook
        if hook is None:
            raise KernelError(errno.ENOLINK, f"BPF_LINK_UPDATE: link id {self.id} is defunct")
        hook._link_update(self, new, old)

    def close(self) -> None:
        """Close the last fd: release (detach if live) and free the link ID."""
        if self.closed:
            return
        self.release()
        self.closed = True
        self._objs._forget_link(self)

    def __repr__(self) -> str:
        state = "live" if self.hook is not None else ("closed" if self.closed else "defunct")
        return f"<{type(self).__name__} id={self.id} prog={self.prog.name!r} {state}>"


class BpfObjects:
    """Per-world registry of programs and links (the kernel's prog/link IDRs).

    >>> objs = BpfObjects()
    >>> objs.prog_by_id(7)
    Traceback (most recent call last):
    ...
    qdisclab.errors.KernelError: ENOENT: no program with id 7
    """

    def __init__(self) -> None:
        self._next_prog_id = 1
        self._next_link_id = 1
        self._progs: dict[int, Program] = {}
        self._links: dict[int, Link] = {}

    def program(
        self,
        func: ProgFunc,
        *,
        name: str | None = None,
        prog_type: int = BPF_PROG_TYPE_SCHED_CLS,
        expected_attach_type: int = 0,
    ) -> Program:
        """Load a program (BPF_PROG_LOAD): allocate its ID and register it."""
        prog_id = self._next_prog_id
        self._next_prog_id += 1
        prog = Program(
            prog_id,
            func,
            name if name is not None else getattr(func, "__name__", f"prog{prog_id}"),
            prog_type,
            expected_attach_type,
        )
        self._progs[prog_id] = prog
        return prog

    def prog_by_id(self, prog_id: int) -> Program:
        """bpf_prog_by_id(): ENOENT for 0 or an unknown ID."""
        prog = self._progs.get(prog_id)
        if prog is None:
            raise KernelError(errno.ENOENT, f"no program with id {prog_id}")
        return prog

    def link_by_id(self, link_id: int) -> Link:
        """bpf_link_by_id(): ENOENT for 0/unknown/closed, EAGAIN while not yet settled."""
        link = self._links.get(link_id)
        if link is None:
            raise KernelError(errno.ENOENT, f"no link with id {link_id}")
        if not link.settled:
            raise KernelError(errno.EAGAIN, f"link id {link_id} is not settled yet")
        return link

    def programs(self) -> Iterator[Program]:
        return iter(self._progs.values())

    def links(self) -> Iterator[Link]:
        return iter(self._links.values())

    # -- link lifecycle, used by hooks (bpf_link_prime / settle / cleanup) --

    def prime_link(self, link_class: type[Link], prog: Program, attach_type: int) -> Link:
        """Allocate a link and its ID; it stays unsettled until :meth:`settle_link`."""
        link_id = self._next_link_id
        self._next_link_id += 1
        link = link_class(self, link_id, prog, attach_type)
        self._links[link_id] = link
        return link

    def settle_link(self, link: Link) -> None:
        link.settled = True

    def cleanup_link(self, link: Link) -> None:
        """A failed link_create: the link goes away but its ID stays consumed."""
        link.closed = True
        self._forget_link(link)

    def _forget_link(self, link: Link) -> None:
        self._links.pop(link.id, None)
