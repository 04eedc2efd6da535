"""``bpf:path/to/object.bpf.o``: compiled BPF programs named in a scenario.

* a link's ``qdisc_a``/``qdisc_b``: ``bpf:fifo.bpf.o [options]`` attaches the
  object's ``Qdisc_ops`` map as a qdisc kind (named by its ``.id``) and the
  spec becomes that kind followed by the tc-syntax options after the path;
* a flow's ``cc``: ``bpf:dctcp.bpf.o`` registers the object's
  ``tcp_congestion_ops`` map as a congestion control named by its ``.name``;
* a ``[[tcx]]`` ``program``: ``bpf:tc.bpf.o:NAME`` loads the program named
  (or the only one in section NAME) as a tcx program (see
  :func:`qdisclab.bpf.bpf_tcx.tcx_program`).

Paths are relative to the scenario file.

>>> resolve_qdisc_spec("fq_codel limit 100", None)
'fq_codel limit 100'
>>> resolve_qdisc_spec("bpf:", None)
Traceback (most recent call last):
...
qdisclab.errors.UserError: 'bpf:' needs the path of a BPF object (bpf:path/to/qdisc.bpf.o)
>>> resolve_cc_spec("cubic", None)
'cubic'
"""

from __future__ import annotations

import shlex
import sys
from pathlib import Path
from typing import Any

from qdisclab.errors import UserError

PREFIX = "bpf:"


def object_path(text: str, base_dir: Path | None, example: str) -> Path:
    """The object file ``text`` names, relative to ``base_dir``; it must exist."""
    if not text:
        raise UserError(f"{PREFIX!r} needs the path of a BPF object ({PREFIX}path/to/{example})")
    path = Path(text)
    if not path.is_absolute() and base_dir is not None:
        path = base_dir / path
    if not path.is_file():
        raise UserError(f"BPF object {str(path)!r} does not exist")
    return path


def resolve_qdisc_spec(spec: str, base_dir: Path | None) -> str:
    """``spec`` with a ``bpf:`` object replaced by the kind it registers; others unchanged."""
    if not spec.startswith(PREFIX):
        return spec
    tokens = shlex.split(spec[len(PREFIX) :]) or [""]
    path = object_path(tokens[0], base_dir, "qdisc.bpf.o")
    from qdisclab.bpf.bpf_qdisc import attach_qdisc

    kind = attach_qdisc(path)
    return shlex.join([kind.id, *tokens[1:]])


def resolve_cc_spec(spec: str, base_dir: Path | None) -> str:
    """``cc`` with a ``bpf:`` object replaced by the congestion control it registers."""
    if not spec.startswith(PREFIX):
        return spec
    path = object_path(spec[len(PREFIX) :].strip(), base_dir, "cc.bpf.o")
    from qdisclab.bpf.bpf_cc import attach_cc

    return attach_cc(path).name


def verify_cc(cls: type | None, policy: str) -> None:
    """Run the load-time verifier over ``cls`` if it is a compiled congestion control."""
    bpf_cc = sys.modules.get("qdisclab.bpf.bpf_cc")  # not imported: no compiled one exists
    if bpf_cc is not None and isinstance(cls, type) and issubclass(cls, bpf_cc.BpfCongestion):
        cls.verify(policy)


def resolve_tc_program(spec: str, base_dir: Path | None, verify: bool = True) -> Any:
    """The tc program ``bpf:PATH[:NAME_OR_SECTION]`` names (the only one when no name is given)."""
    rest = spec[len(PREFIX) :].strip()
    path_text, _, name = rest.rpartition(":")
    if not path_text or not name or name.endswith((".o", ".bpf.o")):
        path_text, name = rest, ""
    path = object_path(path_text, base_dir, "prog.bpf.o:SECTION")
    from qdisclab.bpf.bpf_tcx import tcx_program

    return tcx_program(path, name or None, verify=verify)
