"""Resolving the relative object of an attach/detach (mprog.c bpf_mprog_tuple_relative).

The kernel takes an fd or, with BPF_F_ID, an ID. Here the "fd" is the object
itself (a :class:`Program` or :class:`Link`); an ``int`` is an ID when BPF_F_ID
is set and an unknown fd number otherwise (0 meaning "none", like fd 0).

>>> from qdisclab.mprog.constants import BPF_F_ID, BPF_PROG_TYPE_SCHED_CLS
>>> from qdisclab.mprog.objects import BpfObjects
>>> objs = BpfObjects()
>>> p = objs.program(lambda ctx: -1)
>>> resolve_relative(objs, p.id, BPF_F_ID, BPF_PROG_TYPE_SCHED_CLS) == (p, None)
True
>>> resolve_relative(objs, None, 0, BPF_PROG_TYPE_SCHED_CLS) is None
True
"""

from __future__ import annotations

import errno

from qdisclab.errors import KernelError

from .constants import BPF_F_ID, BPF_F_LINK, BPF_PROG_TYPE_UNSPEC
from .fd import bad_fd
from .objects import BpfObjects, Link, Program

Relative = Program | Link | int | None
Tuple = tuple[Program, Link | None]


def _type_check(prog: Program, expected_type: int, what: str) -> None:
    if expected_type != BPF_PROG_TYPE_UNSPEC and prog.prog_type != expected_type:
        raise KernelError(
            errno.EINVAL,
            f"relative {what} runs program {prog.name!r} of type {prog.prog_type}, "
            f"expected type {expected_type}",
        )


def resolve_relative(
    objs: BpfObjects, value: Relative, flags: int, expected_type: int
) -> Tuple | None:
    """Return ``(prog, link)`` for the relative object, or None when there is none.

    ``flags`` must already have BPF_F_REPLACE stripped (attach does that).
    ``expected_type`` BPF_PROG_TYPE_UNSPEC skips the type check.
    Errors: ENOENT (unknown ID), EAGAIN (unsettled link), EBADF (closed or
    unknown fd), EINVAL (wrong object kind, LINK without a value, type mismatch).
    """
    if isinstance(value, bool):  # bool is an int subclass; never a valid fd or ID
        raise TypeError("relative must be a Program, Link, int ID or None")
    if flags & BPF_F_LINK:
        if flags & BPF_F_ID:
            link = objs.link_by_id(_as_id(value))
        elif value is None or value == 0:
            raise KernelError(errno.EINVAL, "BPF_F_LINK needs a relative link fd")
        elif isinstance(value, Link):
            if value.closed:
                raise bad_fd(value, "relative")
            link = value
        elif isinstance(value, Program):
            raise KernelError(errno.EINVAL, f"BPF_F_LINK: relative {value!r} is not a link")
        else:
            raise bad_fd(value, "relative")
        _type_check(link.prog, expected_type, f"link id {link.id}")
        return (link.prog, link)
    if flags & BPF_F_ID:
        prog = objs.prog_by_id(_as_id(value))
    elif value is None or value == 0:
        return None  # fd 0 is never a relative object unless ID or LINK is set
    elif isinstance(value, Program):
        prog = value
    elif isinstance(value, Link):
        if value.closed:
            raise bad_fd(value, "relative")
        raise KernelError(errno.EINVAL, f"relative {value!r} is not a program (use BPF_F_LINK)")
    else:
        raise bad_fd(value, "relative")
    _type_check(prog, expected_type, f"program id {prog.id}")
    return (prog, None)


def _as_id(value: Relative) -> int:
    if value is None:
        return 0
    if isinstance(value, int):
        return value
    raise TypeError(f"BPF_F_ID needs an int ID as relative, got {value!r}")
