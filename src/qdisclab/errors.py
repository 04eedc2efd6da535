"""Exceptions shared by every layer.

Kernel-facing failures carry the kernel's errno, so code written against the
kernel's documentation can match on ``exc.errno`` (``errno.EEXIST`` ...).

>>> from qdisclab.errors import KernelError
>>> import errno
>>> err = KernelError(errno.EEXIST, "qdisc kind 'fq' is already registered")
>>> err.errno_name
'EEXIST'
"""

from __future__ import annotations

import errno as _errno

# Linux-only values Python's errno module may not define on every platform.
ENOTSUPP = 524  # kernel-internal "operation not supported" (bpf_struct_ops_supported)


class QdiscLabError(Exception):
    """Base class of every error qdisclab raises on purpose."""


class UserError(QdiscLabError):
    """Bad input from a user: a scenario, a unit, an option, a command line.

    The CLI prints ``str(exc)`` as one line and exits with status 2.
    """


class KernelError(QdiscLabError):
    """A failure the kernel would report as ``-errno``.

    ``errno`` is the positive errno number; ``errno_name`` its symbolic name.
    """

    def __init__(self, errno: int, message: str) -> None:
        self.errno = errno
        super().__init__(f"{errno_name(errno)}: {message}")

    @property
    def errno_name(self) -> str:
        return errno_name(self.errno)


class ExtensionFault(QdiscLabError):
    """A user extension broke a rule the kernel's verifier would enforce.

    Carries the extension kind (e.g. the qdisc id), the callback and a
    description of the packet involved, so the report names all three.
    """

    def __init__(self, kind: str, callback: str, problem: str, packet: str = "") -> None:
        self.kind = kind
        self.callback = callback
        self.problem = problem
        self.packet = packet
        where = f"{kind}.{callback}"
        text = f"{where}: {problem}"
        if packet:
            text += f" [{packet}]"
        super().__init__(text)


class ConservationError(QdiscLabError):
    """Packets were created and then lost without being accounted for: a bug."""


def errno_name(number: int) -> str:
    """Symbolic name of an errno value (``22 -> 'EINVAL'``)."""
    if number == ENOTSUPP:
        return "ENOTSUPP"
    return _errno.errorcode.get(number, f"E{number}")
