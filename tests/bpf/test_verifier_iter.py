"""bpf_for: the numbers iterator (new, next, destroy) and the loop it bounds."""

import dataclasses

import pytest
from test_verifier_graph import mutate
from verifier_protos import QDISC_KFUNCS, TCX, accepts, rejects

BPF_FOR = """
    r6 = 0
    r1 = r10
    r1 += -8
    r2 = 0
    r3 = 10
    call bpf_iter_num_new
loop:
    r1 = r10
    r1 += -8
    call bpf_iter_num_next
    if r0 == 0 goto done
    r1 = *(u32 *)(r0 + 0)
    r6 += r1
    goto loop
done:
    r1 = r10
    r1 += -8
    call bpf_iter_num_destroy
    r0 = 0
    exit
"""

PROTO = dataclasses.replace(TCX, kfuncs=QDISC_KFUNCS)  # the generic kfuncs are among them


def test_bpf_for_loop_converges():
    stats = accepts(BPF_FOR, PROTO)
    assert stats.insns_processed < 100  # not one pass per possible iteration


def test_element_bounded_in_the_loop_can_index_a_map_value():
    body = """
    r1 = *(u32 *)(r0 + 0)
    if r1 > 15 goto loop
    r7 = r1
    r1 = 0
    *(u32 *)(r10 - 12) = r1
    r2 = r10
    r2 += -12
    r1 = map[counts] ll
    call 1
    if r0 == 0 goto loop
    r0 += r7
    r1 = *(u8 *)(r0 + 0)
    goto loop
    """
    text = BPF_FOR.replace("    r1 = *(u32 *)(r0 + 0)\n    r6 += r1\n    goto loop\n", body)
    accepts(text, PROTO)
    rejects(
        text.replace("if r1 > 15 goto loop", "if r1 > 16 goto loop"),
        PROTO,
        "map-value-bounds",
        "R0 max value is outside of the allowed memory range",
    )


ITER_MUTANTS = [
    (
        "the iterator is not destroyed",
        "call bpf_iter_num_destroy\n",
        "\n",
        "reference-leak",
        "Unreleased reference",
    ),
    (
        "the element is read without a NULL check",
        "if r0 == 0 goto done\n",
        "if r10 == 0 goto done\n",
        "null-check",
        "R0 invalid mem access 'rdonly_mem_or_null'",
    ),
    (
        "the element is written",
        "r1 = *(u32 *)(r0 + 0)",
        "*(u32 *)(r0 + 0) = r6",
        "invalid-mem-access",
        "R0 cannot write into rdonly_mem",
    ),
    (
        "next() on a slot that holds no iterator",
        "r1 += -8\n    call bpf_iter_num_next",
        "r1 += -16\n    call bpf_iter_num_next",
        "argument-type",
        "expected an initialized iter_num as arg #0",
    ),
    (
        "the iterator slot is overwritten",
        "loop:\n",
        "loop:\n    *(u64 *)(r10 - 8) = r6\n",
        "invalid-mem-access",
        "invalid write to stack off -8: it holds an iterator",
    ),
    (
        "the iterator is created twice",
        "loop:\n",
        "    r1 = r10\n    r1 += -8\n    r2 = 0\n    r3 = 10\n    call bpf_iter_num_new\nloop:\n",
        "argument-type",
        "expected uninitialized iter_num as arg #0",
    ),
    (
        "the element is read past its end",
        "r1 = *(u32 *)(r0 + 0)",
        "r1 = *(u32 *)(r0 + 1)",
        "map-value-bounds",
        "R0 min value is outside of the allowed memory range",
    ),
]


@pytest.mark.parametrize(
    ("what", "old", "new", "rule", "message"), ITER_MUTANTS, ids=[m[0] for m in ITER_MUTANTS]
)
def test_iterator_mutant_is_refused(what, old, new, rule, message):
    rejects(mutate(BPF_FOR, old, new), PROTO, rule, message)


def test_an_endless_loop_inside_the_iterator_body_is_still_infinite():
    # the iterator bounds only the cycle through its next call, not a spin inside the body
    spin = "    r6 += r1\nspin:\n    r2 = 1\n    if r2 != 0 goto spin\n    goto loop\n"
    rejects(BPF_FOR.replace("    r6 += r1\n    goto loop\n", spin), PROTO, "infinite-loop", "")
