"""What the verifier does not model is refused with a line saying so, never guessed at.

A qdisc built from ``tests/bpf/verifier_c/unsupported.bpf.c`` with one
``USE_*`` defined calls a dynptr kfunc, ``bpf_refcount_acquire`` (which runs, unverified),
``bpf_for_each_map_elem`` or a global function; without one it is accepted.
Needs clang-19 (CI installs it); skipped elsewhere.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from bpf_corpus import clang19

from qdisclab.bpf.build import build, find_compiler
from qdisclab.bpf.objects import load_object
from qdisclab.bpf.verifier.objects import verify_object

SOURCE = Path(__file__).parent / "verifier_c" / "unsupported.bpf.c"
CASES = {
    "USE_DYNPTR": ("bpf_dynptr_from_skb", "bpf_dynptr_from_skb((void *)skb, 0, &d);"),
    "USE_FOR_EACH": ("bpf_for_each_map_elem", "bpf_for_each_map_elem(NULL, NULL, NULL, 0);"),
    "USE_GLOBAL_FUNC": ("global function global_len", "if (global_len(skb->len))"),
    "USE_REFCOUNT": ("bpf_refcount_acquire_impl", "m = bpf_refcount_acquire(n);"),
}


def _verdicts(tmp_path: Path, use: str | None):
    clang19()
    source = tmp_path / f"{(use or 'plain').lower()}.bpf.c"
    source.write_text((f"#define {use}\n" if use else "") + f'#include "{SOURCE}"\n')
    return verify_object(load_object(build(source, compiler=find_compiler())))


def test_without_them_the_qdisc_is_accepted(tmp_path):
    assert all(v.accepted for v in _verdicts(tmp_path, None))


@pytest.mark.parametrize("use", sorted(CASES))
def test_an_unmodelled_feature_is_refused_saying_so(tmp_path, use):
    what, line = CASES[use]
    [*_, refused] = _verdicts(tmp_path, use)
    err = refused.error
    assert err is not None and err.rule == "unsupported", err and err.report()
    assert err.message.startswith(f"{what} is not supported by the verifier")
    assert err.source is not None and err.source.startswith(line)
    assert "--policy off" in err.report()
