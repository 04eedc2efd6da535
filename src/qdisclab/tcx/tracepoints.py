"""The tcx layer's tracepoints, declared once (fired by ``TcxHook`` in hook.py)."""

from qdisclab.sim.tracepoint import declare

TCX_PROG_RUN = declare(
    "tcx:tcx_prog_run",
    ("now", "dev", "ingress", "prog", "ret"),
    "one program of a tcx chain ran: prog is its callable, ret what it returned (TCX_*)",
)
