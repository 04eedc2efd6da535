"""``qdisclab check``: explore a user qdisc with generated traffic and report what breaks.

>>> from qdisclab.check import Target, explore
>>> explore(Target.from_spec("bfifo limit 3000"), examples=5) is None
True
"""

from qdisclab.check.explore import (
    ACCOUNTING,
    EXCEPTION,
    KFUNC,
    NEGATIVE,
    OWNERSHIP,
    REGISTRATION,
    STUCK,
    Finding,
    RunResult,
    Target,
    explore,
    format_op,
    parse_trace,
    registration_finding,
    replay,
)
from qdisclab.check.load import CheckResult, check_file, check_target, load_qdisc_classes

__all__ = [
    "ACCOUNTING",
    "EXCEPTION",
    "KFUNC",
    "NEGATIVE",
    "OWNERSHIP",
    "REGISTRATION",
    "STUCK",
    "CheckResult",
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
