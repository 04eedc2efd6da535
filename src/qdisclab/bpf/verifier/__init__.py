"""The load-time verifier: proves a BPF program safe before it runs, as the kernel's does.

:func:`verify` takes a program's :class:`~qdisclab.bpf.code.Code` and a
:class:`~qdisclab.bpf.verifier.proto.ProgramProto` describing its attach
point, and either returns :class:`VerifyStats` or raises
:class:`VerificationError` naming the rule broken, with the kernel-style
log tail, the source line and the branch decisions that reach it.

Modules: :mod:`.tnum` and :mod:`.bounds` (scalar abstract domain),
:mod:`.state` (registers, stack, references), :mod:`.cfg` (control flow,
liveness), :mod:`.alu`, :mod:`.mem`, :mod:`.calls` (instruction semantics),
:mod:`.prune` (state equivalence), :mod:`.verifier` (the exploration),
:mod:`.proto` and :mod:`.builtin` (what the attach point provides),
:mod:`.log` (messages).
"""

from qdisclab.bpf.verifier.log import VerificationError
from qdisclab.bpf.verifier.verifier import VerifyStats, verify

__all__ = ["VerificationError", "VerifyStats", "verify"]
