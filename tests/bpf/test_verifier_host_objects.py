"""Whole objects through both verifiers: qdisclab's and the running kernel's (root, CI).

The corpus's tc programs and congestion controls, and a small congestion
control built with one change at a time that sits on a rule's boundary
(``tests/bpf/verifier_c/cc_boundary.bpf.c``: the last word of
``icsk_ca_priv`` or one past it, a bounded loop or one that never ends, a
write to a field a congestion control may not write, a number passed as
the socket), each listed with both verdicts: ``"ok"`` or the message each
verifier gives. The BPF qdiscs cannot be compared on this machine's kernel
(no ``CONFIG_NET_SCH_BPF``). Skipped without root, libbpf or, for the built
variants, clang-19.
"""

from __future__ import annotations

import pytest
from bpf_corpus import EXAMPLES, OBJECTS, clang19
from host_bpf import available

from qdisclab.bpf.build import build, find_compiler
from qdisclab.bpf.elf import program_type
from qdisclab.bpf.host_verify import ACCEPTED, REJECTED, _libbpf
from qdisclab.bpf.host_verify import verify as host_verify
from qdisclab.bpf.objects import load_object
from qdisclab.bpf.verifier.objects import verify_object

REASON = available() or (None if _libbpf() is not None else "libbpf is not installed")
pytestmark = pytest.mark.skipif(REASON is not None, reason=REASON or "")

# corpus object -> (qdisclab's verdict, the kernel's verdict)
CORPUS = {
    "tc_count_mark": ("ok", "ok"),
    "dctcp": ("ok", "ok"),
    "cubic": ("ok", "ok"),
    "must_fail/packet_oob": (
        "R1 offset is outside of the packet",
        "invalid access to packet, off=9 size=1",
    ),
}
BOUNDARY = {
    None: ("ok", "ok"),
    "BUG_PRIV_LAST": ("ok", "ok"),
    "BUG_PRIV_PAST": ("no write support to tcp_sock at off", "no write support to tcp_sock at off"),
    "BUG_LOOP_BOUNDED": ("ok", "ok"),
    "BUG_LOOP_FOREVER": ("infinite loop detected at insn 2", "infinite loop detected at insn 2"),
    "BUG_WRITE_READ_ONLY": (
        "no write support to tcp_sock at off",
        "no write support to tcp_sock at off",
    ),
    "BUG_SCALAR_AS_SOCK": (
        "R1 type=scalar expected=ptr_",
        "arg#0 pointer type STRUCT sock must point to scalar",
    ),
}


def _comparable(path) -> bool:
    """Programs this kernel verifies: tc/tcx/netkit and tcp_congestion_ops only."""
    obj = load_object(path)
    types = {program_type(p.section)[0] for p in obj.programs.values()}
    ops = {m.struct for m in obj.struct_ops.values()}
    return types - {"struct_ops"} <= {"tc", "tcx", "netkit"} and ops <= {"tcp_congestion_ops"}


def _ours(path) -> str:
    refused = [v.error for v in verify_object(load_object(path)) if v.error is not None]
    return refused[0].message if refused else "ok"


def _host(path) -> str:
    verdict = host_verify(path)
    assert verdict.outcome in (ACCEPTED, REJECTED), verdict.reason
    return "ok" if verdict.outcome == ACCEPTED else "\n".join(verdict.log)


def _agree(ours: str, host: str, got_ours: str, got_host: str) -> None:
    assert (ours == "ok") == (got_ours == "ok") and ours in got_ours, f"qdisclab: {got_ours}"
    assert (host == "ok") == (got_host == "ok") and host in got_host, f"kernel: {got_host}"


def test_every_comparable_corpus_object_is_listed():
    comparable = {str(p.relative_to(EXAMPLES)).removesuffix(".bpf.o") for p in OBJECTS}
    comparable = {name for name in comparable if _comparable(EXAMPLES / f"{name}.bpf.o")}
    assert comparable == set(CORPUS)


@pytest.mark.parametrize("name", sorted(CORPUS))
def test_corpus_object_verdicts_agree(name):
    path = EXAMPLES / f"{name}.bpf.o"
    ours, host = CORPUS[name]
    _agree(ours, host, _ours(path), _host(path))


@pytest.mark.parametrize("bug", list(BOUNDARY), ids=lambda b: b or "ok")
def test_boundary_congestion_control_verdicts_agree(tmp_path, bug):
    clang19()
    source = tmp_path / f"bnd_{bug or 'ok'}.bpf.c"
    original = EXAMPLES.parents[1] / "tests/bpf/verifier_c/cc_boundary.bpf.c"
    define = f"#define {bug}\n" if bug else ""
    source.write_text(f'{define}#include "{original}"\n')
    path = build(source, compiler=find_compiler())
    ours, host = BOUNDARY[bug]
    _agree(ours, host, _ours(path), _host(path))
