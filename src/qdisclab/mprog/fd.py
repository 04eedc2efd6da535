"""Looking a program up by "fd" (the kernel's ``bpf_prog_get_type``), with its errno rules.

qdisclab passes objects where the kernel passes fds: a :class:`Program` or
:class:`Link` stands for an open fd of that object, a closed link for an fd
that is no longer open, and a bare ``int`` for an fd number that was never
opened here. The kernel tells the two failures apart: an fd that is not open
is **EBADF**; an open fd that is not a program (a link, stdin as fd 0), or a
program of another type, is **EINVAL**.

>>> import errno
>>> from qdisclab.mprog.objects import BpfObjects
>>> from qdisclab.mprog.constants import BPF_PROG_TYPE_SCHED_CLS
>>> p = BpfObjects().program(lambda ctx: -1)
>>> program_from_fd(p, BPF_PROG_TYPE_SCHED_CLS, "attach") is p
True
>>> try:
...     program_from_fd(42, BPF_PROG_TYPE_SCHED_CLS, "attach")
... except KernelError as exc:
...     print(exc.errno == errno.EBADF)
True
"""

from __future__ import annotations

import errno

from qdisclab.errors import KernelError

from .constants import BPF_PROG_TYPE_UNSPEC
from .objects import Link, Program

# Where the kernel takes a program fd: a Program, or anything a caller passes instead
# (the syscall checks sort them into EBADF and EINVAL, so the type is left open).
ProgFd = object


def bad_fd(value: object, what: str) -> KernelError:
    """EBADF for ``value`` used as an fd that is not open."""
    return KernelError(errno.EBADF, f"{what}: fd {value!r} is not open")


def program_from_fd(value: object, prog_type: int, what: str) -> Program:
    """The program ``value`` names; ``prog_type`` BPF_PROG_TYPE_UNSPEC skips the type check.

    EBADF: a closed link, or an int other than 0 (an fd number never opened).
    EINVAL: fd 0 / None (stdin: open, not a program), an open link, any other
    object, or a program whose type is not ``prog_type``.
    """
    if isinstance(value, Program):
        if prog_type != BPF_PROG_TYPE_UNSPEC and value.prog_type != prog_type:
            raise KernelError(errno.EINVAL, f"{what}: {value!r} has type {value.prog_type}, "
                                            f"the hook needs {prog_type}")  # fmt: skip
        return value
    if isinstance(value, Link):
        if value.closed:
            raise bad_fd(value, what)
        raise KernelError(errno.EINVAL, f"{what}: {value!r} is a link, not a BPF program")
    if isinstance(value, int) and not isinstance(value, bool) and value != 0:
        raise bad_fd(value, what)
    raise KernelError(errno.EINVAL, f"{what}: {value!r} is not a BPF program")
