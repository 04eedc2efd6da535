"""``qdisclab check OBJ.o[:NAME]``: a compiled BPF object, checked as its Python twin is.

What the object holds picks the checker: a ``Qdisc_ops`` struct_ops map is a
qdisc kind (explored as a ``QdiscOps`` class is), a ``tcp_congestion_ops``
map a congestion control (ACK/loss/ECN sequences), and its tc programs
(``tc``, ``tcx/*``, ``netkit/*`` sections) tcx programs (random packets), each
one checked in turn. ``NAME`` picks the struct_ops map or the program. Both
layers report: the load-time verifier's refusal is a ``load`` finding, and the
extension still runs, unverified, so the run-time checks show what the
refused path does. An object the loader refuses is a ``load`` finding alone.

Example (from the repository root)::

    qdisclab check examples/bpf/dctcp.bpf.o          # ok BpfCongestion_bpf_dctcp ...
    qdisclab check examples/bpf/tc_count_mark.bpf.o:count_ingress --policy contain
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

from qdisclab.check.explore import Target
from qdisclab.check.finding import LOAD, Finding
from qdisclab.check.load import CheckResult, check_target
from qdisclab.errors import UserError

if TYPE_CHECKING:
    from qdisclab.bpf.objects import BpfObject


def _verified(
    result: CheckResult, path: Path, kind: str, verify: Callable[[], None]
) -> CheckResult:
    """``result`` with the load-time verifier's refusal (``verify`` raising it) listed first."""
    from qdisclab.bpf.verifier.objects import ObjectRejected

    try:
        verify()
    except ObjectRejected as exc:
        why = f"{exc.verdict.summary()} (qdisclab bpf verify --static {path} prints its log)"
        result.findings.insert(0, Finding(LOAD, f"refused by the verifier: {why}", kind=kind))
    return result


def _struct_ops(obj: BpfObject, name: str) -> set[str]:
    """The struct_ops interfaces the object implements (only map ``name``'s, when named)."""
    return {m.struct for m in obj.struct_ops.values() if not name or m.name == name}


def check_object_file(
    ref: str,
    examples: int,
    seed: int | None,
    policy: str,
    options: str,
    max_ops: int,
) -> list[CheckResult]:
    """Check the compiled object ``ref`` (``OBJ.o`` or ``OBJ.o:NAME``); one result per extension."""
    from qdisclab.bpf.errors import BpfLoadError
    from qdisclab.bpf.objects import load_object

    file_part, _, name = ref.partition(":")
    path = Path(file_part)
    if not path.is_file():
        raise UserError(f"BPF object {file_part!r} does not exist")
    try:
        obj = load_object(path)
        interfaces = _struct_ops(obj, name)
        if "Qdisc_ops" in interfaces:
            return [_check_qdisc(obj, path, name, examples, seed, policy, options, max_ops)]
        if options:
            raise UserError(f"--options are a qdisc's tc-syntax options; {ref} holds no "
                            "Qdisc_ops struct_ops map")  # fmt: skip
        if "tcp_congestion_ops" in interfaces:
            return [_check_cc(obj, path, name, examples, seed, policy, max_ops)]
        return _check_tc(obj, path, name, examples, seed, policy, max_ops)
    except BpfLoadError as exc:
        return [CheckResult(ref, path.name, [Finding(LOAD, f"refused at load: {exc}",
                                                     kind=path.name)])]  # fmt: skip


def _check_qdisc(obj: BpfObject, path: Path, name: str, examples: int, seed: int | None,
                 policy: str, options: str, max_ops: int) -> CheckResult:  # fmt: skip
    from qdisclab.bpf.bpf_qdisc import qdisc_kind
    from qdisclab.bpf.verifier.objects import check_object

    kind = qdisc_kind(obj, name or None, verify=False)
    result = check_target(Target(kind, options.split()), examples, seed, policy, max_ops)
    return _verified(result, path, kind.id, partial(check_object, obj))


def _check_cc(obj: BpfObject, path: Path, name: str, examples: int, seed: int | None,
              policy: str, max_ops: int) -> CheckResult:  # fmt: skip
    from qdisclab.bpf.bpf_cc import cc_kind
    from qdisclab.bpf.verifier.objects import check_object
    from qdisclab.check.cc import check_congestion_control

    kind = cc_kind(obj, name or None)
    result = check_congestion_control(kind, examples, seed, max_ops, policy)
    return _verified(result, path, f"tcp_congestion_ops {kind.name}", partial(check_object, obj))


def _check_tc(obj: BpfObject, path: Path, name: str, examples: int, seed: int | None,
              policy: str, max_ops: int) -> list[CheckResult]:  # fmt: skip
    from qdisclab.bpf.bpf_tcx import ATTACH_TYPES, tcx_program
    from qdisclab.bpf.errors import BpfLoadError
    from qdisclab.bpf.verifier.objects import verify_program
    from qdisclab.check.tcx_program import check_tcx_program

    names = [name] if name else sorted(n for n, p in obj.programs.items()
                                       if p.section in ATTACH_TYPES)  # fmt: skip
    if not names:
        interfaces = ", ".join(sorted(_struct_ops(obj, ""))) or "none"
        raise BpfLoadError(obj.path, "nothing to check: no Qdisc_ops or tcp_congestion_ops "
                           f"struct_ops map (struct_ops: {interfaces}) and no tc program")  # fmt: skip
    results = []
    for program_name in names:
        program = tcx_program(obj, program_name, verify=False)
        result = check_tcx_program(program, f"{path.name}:{program.__name__}", examples, seed,
                                   max_ops, policy)  # fmt: skip
        results.append(_verified(result, path, f"tcx program {program.__name__}",
                                 partial(verify_program, obj, program.__name__)))  # fmt: skip
    return results
