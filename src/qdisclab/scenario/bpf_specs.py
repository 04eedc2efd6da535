"""``bpf:path/to/object.bpf.o [options]``: a compiled BPF qdisc named in a scenario.

A link's ``qdisc_a``/``qdisc_b`` may name a clang-built object instead of a
kind: the object's ``Qdisc_ops`` struct_ops map is attached as a qdisc kind
(named by its ``.id``) and the spec becomes that kind followed by the
tc-syntax options given after the path. The path is relative to the
scenario file.

>>> resolve_qdisc_spec("fq_codel limit 100", None)
'fq_codel limit 100'
>>> resolve_qdisc_spec("bpf:", None)
Traceback (most recent call last):
...
qdisclab.errors.UserError: 'bpf:' needs the path of a BPF object (bpf:path/to/qdisc.bpf.o)
"""

from __future__ import annotations

import shlex
from pathlib import Path

from qdisclab.errors import UserError

PREFIX = "bpf:"


def resolve_qdisc_spec(spec: str, base_dir: Path | None) -> str:
    """``spec`` with a ``bpf:`` object replaced by the kind it registers; others unchanged."""
    if not spec.startswith(PREFIX):
        return spec
    tokens = shlex.split(spec[len(PREFIX) :])
    if not tokens:
        raise UserError(f"{PREFIX!r} needs the path of a BPF object ({PREFIX}path/to/qdisc.bpf.o)")
    from qdisclab.bpf.bpf_qdisc import attach_qdisc

    path = Path(tokens[0])
    if not path.is_absolute() and base_dir is not None:
        path = base_dir / path
    if not path.is_file():
        raise UserError(f"BPF object {str(path)!r} does not exist")
    kind = attach_qdisc(path)
    return shlex.join([kind.id, *tokens[1:]])
