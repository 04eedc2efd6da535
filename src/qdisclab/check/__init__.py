"""``qdisclab check``: explore an extension with generated traffic and report what breaks.

A qdisc (a Python ``QdiscOps`` class or a compiled BPF object), a congestion
control (``CongestionOps``) or a tcx program is driven with generated
sequences sized from its options, every invariant a correct one keeps is
checked after each step, and the first problem comes back as a finding with
a short reproducing trace; ``Coverage`` says what the sequences reached.

>>> from qdisclab.check import Target, explore
>>> explore(Target.from_spec("bfifo limit 3000"), examples=5) is None
True
"""

from qdisclab.check.coverage import Coverage
from qdisclab.check.explore import (
    DEFAULT_EXAMPLES,
    DEFAULT_MAX_OPS,
    RunResult,
    Target,
    explore,
    registration_finding,
    replay,
)
from qdisclab.check.finding import (
    ACCOUNTING,
    EXCEPTION,
    KFUNC,
    LIMIT,
    LOAD,
    NEGATIVE,
    OWNERSHIP,
    RATE,
    REGISTRATION,
    RESULT,
    STUCK,
    Finding,
)
from qdisclab.check.load import CheckResult, check_file, check_target, load_qdisc_classes
from qdisclab.check.trace import format_op, parse_trace

__all__ = [
    "ACCOUNTING",
    "DEFAULT_EXAMPLES",
    "DEFAULT_MAX_OPS",
    "EXCEPTION",
    "KFUNC",
    "LIMIT",
    "LOAD",
    "NEGATIVE",
    "OWNERSHIP",
    "RATE",
    "REGISTRATION",
    "RESULT",
    "STUCK",
    "CheckResult",
    "Coverage",
    "Finding",
    "RunResult",
    "Target",
    "check_file",
    "check_target",
    "explore",
    "format_op",
    "load_qdisc_classes",
    "parse_trace",
    "registration_finding",
    "replay",
]
