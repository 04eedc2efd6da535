"""The FIFO qdisc pattern: skbs held by bpf_obj_new nodes in a locked bpf_list, and its mistakes."""

import pytest
from verifier_protos import DEQUEUE, ENQUEUE, RESET, accepts, rejects

FIFO_ENQUEUE = """
    r6 = *(u64 *)(r1 + 0)
    r7 = *(u64 *)(r1 + 16)
    r1 = 7
    r2 = 0
    call bpf_obj_new_impl
    if r0 != 0 goto have_node
    r1 = r6
    r2 = r7
    call bpf_qdisc_skb_drop
    r0 = 1
    exit
have_node:
    r8 = r0
    r1 = r8
    r2 = r6
    call 194
    if r0 == 0 goto stored
    r1 = r0
    call bpf_kfree_skb
stored:
    r1 = map_value[.data.A]+0 ll
    call 93
    r1 = map_value[.data.A]+8 ll
    r2 = r8
    r2 += 8
    r3 = 0
    r4 = 0
    call bpf_list_push_back_impl
    r1 = map_value[.data.A]+0 ll
    call 94
    r0 = 0
    exit
"""

FIFO_DEQUEUE = """
    r6 = *(u64 *)(r1 + 0)
    r1 = map_value[.data.A]+0 ll
    call 93
    r1 = map_value[.data.A]+8 ll
    call bpf_list_pop_front
    r7 = r0
    r1 = map_value[.data.A]+0 ll
    call 94
    if r7 == 0 goto empty
    r7 += -8
    r1 = r7
    r2 = 0
    call 194
    r8 = r0
    r1 = r7
    r2 = 0
    call bpf_obj_drop_impl
    if r8 == 0 goto empty
    r1 = r6
    r2 = r8
    call bpf_qdisc_bstats_update
    r0 = r8
    exit
empty:
    r0 = 0
    exit
"""


def test_fifo_enqueue_is_accepted():
    accepts(FIFO_ENQUEUE, ENQUEUE)


def test_fifo_dequeue_is_accepted():
    accepts(FIFO_DEQUEUE, DEQUEUE)


def mutate(text: str, old: str, new: str) -> str:
    assert old in text, old
    return text.replace(old, new, 1)


ENQUEUE_MUTANTS = [
    # (what changes, replaced, replacement, rule, message)
    (
        "the NULL check tests the wrong register",
        "if r0 != 0 goto have_node",
        "if r6 != 0 goto have_node",
        "null-check",
        "Possibly NULL pointer passed to trusted arg0",
    ),
    (
        "the old kptr is not freed",
        "r1 = r0\n    call bpf_kfree_skb",
        "r1 = r0",
        "reference-leak",
        "Unreleased reference id=3 alloc_insn=14",
    ),
    (
        "push without the lock",
        "r1 = map_value[.data.A]+0 ll\n    call 93\n",
        "",
        "spin-lock",
        "bpf_spin_lock at off=0 must be held for bpf_list_head",
    ),
    (
        "exit with the lock held",
        "r1 = map_value[.data.A]+0 ll\n    call 94\n",
        "",
        "spin-lock",
        "BPF_EXIT instruction in main prog cannot be used inside bpf_spin_lock-ed region",
    ),
    (
        "a helper called under the lock",
        "r3 = 0\n    r4 = 0\n    call bpf_list_push",
        "call 5\n    r3 = 0\n    r4 = 0\n    call bpf_list_push",
        "spin-lock",
        "function calls are not allowed while holding a lock",
    ),
    (
        "skb stored twice",
        "if r0 == 0 goto stored",
        "r1 = r8\n    r2 = r6\n    call 194\n    if r0 == 0 goto stored",
        "double-release",
        "R2 type=scalar expected=ptr_",
    ),
    (
        "node pushed twice",
        "    r1 = map_value[.data.A]+0 ll\n    call 94",
        "    r1 = map_value[.data.A]+8 ll\n    r2 = r8\n    r2 += 8\n    r3 = 0\n    r4 = 0\n    call bpf_list_push_back_impl\n    r1 = map_value[.data.A]+0 ll\n    call 94",
        "argument-type",
        "expected owning reference",
    ),
    (
        "the skb leaks when allocation fails",
        "r1 = r6\n    r2 = r7\n    call bpf_qdisc_skb_drop\n",
        "",
        "reference-leak",
        "Unreleased reference id=1 alloc_insn=0",
    ),
    (
        "node used after the unlock",
        "    r0 = 0\n    exit\n",
        "    r0 = *(u64 *)(r8 + 0)\n    r0 = 0\n    exit\n",
        "invalid-mem-access",
        "R8 invalid mem access 'scalar'",
    ),
    (
        "returns a value out of range",
        "    r0 = 0\n    exit\n",
        "    r0 = 3\n    exit\n",
        "return-range",
        "should have been in [0, 2]",
    ),
    (
        "the wrong node offset for the list",
        "r2 += 8",
        "r2 += 0",
        "argument-type",
        "expected pointer to allocated object's graph node",
    ),
    (
        "kptr_xchg at an offset that is not a kptr",
        "r1 = r8\n    r2 = r6\n    call 194",
        "r1 = r8\n    r1 += 8\n    r2 = r6\n    call 194",
        "argument-type",
        "off=8 doesn't point to kptr",
    ),
]

DEQUEUE_MUTANTS = [
    (
        "the node is not dropped",
        "r1 = r7\n    r2 = 0\n    call bpf_obj_drop_impl\n",
        "",
        "reference-leak",
        "Unreleased reference",
    ),
    (
        "no NULL check of the popped node",
        "if r7 == 0 goto empty\n",
        "",
        "null-check",
        "pointer arithmetic on ptr_or_null_ prohibited",
    ),
    (
        "no NULL check of the skb",
        "if r8 == 0 goto empty\n",
        "",
        "null-check",
        "Possibly NULL pointer passed to trusted arg1",
    ),
    (
        "returns the qdisc instead of the skb",
        "r0 = r8\n    exit",
        "r0 = r6\n    exit",
        "return-range",
        "At program exit the register R0 is not a known value (trusted_ptr_)",
    ),
    (
        "the skb is freed and then returned",
        "r0 = r8\n    exit",
        "r1 = r8\n    call bpf_kfree_skb\n    r0 = r8\n    exit",
        "return-range",
        "At program exit the register R0 is not a known value (scalar)",
    ),
    (
        "the skb is dropped with the enqueue-only kfunc",
        "call bpf_qdisc_bstats_update",
        "call bpf_qdisc_skb_drop",
        "kfunc-allow-list",
        "calling kernel function bpf_qdisc_skb_drop is not allowed",
    ),
    (
        "pop without the lock",
        "r1 = map_value[.data.A]+0 ll\n    call 93\n",
        "",
        "spin-lock",
        "must be held for bpf_list_head",
    ),
    (
        "unlock twice",
        "if r7 == 0 goto empty",
        "r1 = map_value[.data.A]+0 ll\n    call 94\n    if r7 == 0 goto empty",
        "spin-lock",
        "bpf_spin_unlock without taking a lock",
    ),
    (
        "the skb is not released when stats are skipped",
        "r0 = r8\n    exit",
        "r0 = 0\n    exit",
        "reference-leak",
        "Unreleased reference",
    ),
]


@pytest.mark.parametrize(
    ("what", "old", "new", "rule", "message"), ENQUEUE_MUTANTS, ids=[m[0] for m in ENQUEUE_MUTANTS]
)
def test_enqueue_mutant_is_refused(what, old, new, rule, message):
    rejects(mutate(FIFO_ENQUEUE, old, new), ENQUEUE, rule, message)


@pytest.mark.parametrize(
    ("what", "old", "new", "rule", "message"), DEQUEUE_MUTANTS, ids=[m[0] for m in DEQUEUE_MUTANTS]
)
def test_dequeue_mutant_is_refused(what, old, new, rule, message):
    rejects(mutate(FIFO_DEQUEUE, old, new), DEQUEUE, rule, message)


# rbtree: flows ordered by a time key read in the less() callback
RB_ADD = """
    r1 = 8
    r2 = 0
    call bpf_obj_new_impl
    if r0 == 0 goto out
    r6 = r0
    r1 = 5
    *(u64 *)(r6 + 24) = r1
    r1 = map_value[.data.R]+0 ll
    call 93
    r1 = map_value[.data.R]+8 ll
    r2 = r6
    r3 = func[@less] ll
    r4 = 0
    r5 = 0
    call bpf_rbtree_add_impl
    r1 = map_value[.data.R]+0 ll
    call 94
out:
    r0 = 0
    exit
less:
    r1 = *(u64 *)(r1 + 24)
    r2 = *(u64 *)(r2 + 24)
    r0 = 1
    if r1 < r2 goto less_out
    r0 = 0
less_out:
    exit
"""

RB_REMOVE = """
    r1 = map_value[.data.R]+0 ll
    call 93
    r1 = map_value[.data.R]+8 ll
    call bpf_rbtree_first
    if r0 == 0 goto unlock
    r1 = map_value[.data.R]+8 ll
    r2 = r0
    call bpf_rbtree_remove
    r6 = r0
    r1 = map_value[.data.R]+0 ll
    call 94
    if r6 == 0 goto out
    r1 = r6
    r2 = 0
    call bpf_obj_drop_impl
out:
    r0 = 0
    exit
unlock:
    r1 = map_value[.data.R]+0 ll
    call 94
    r0 = 0
    exit
"""


def test_rbtree_add_with_less_callback_is_accepted():
    accepts(RB_ADD, RESET)


def test_rbtree_first_remove_drop_is_accepted():
    accepts(RB_REMOVE, RESET)


RB_MUTANTS = [
    (
        RB_ADD,
        "less returns out of range",
        "    r0 = 0\nless_out:",
        "    r0 = 2\nless_out:",
        "return-range",
        "At callback return the register R0 has",
    ),
    (
        RB_ADD,
        "less reads past the node",
        "r2 = *(u64 *)(r2 + 24)",
        "r2 = *(u64 *)(r2 + 33)",
        "map-value-bounds",
        "R2 min value is outside of the allowed memory range",
    ),
    (
        RB_ADD,
        "less reads the kptr field as a number",
        "r2 = *(u64 *)(r2 + 24)",
        "r2 = *(u64 *)(r2 + 25)",
        "special-field",
        "kptr cannot be accessed directly by load/store",
    ),
    (
        RB_ADD,
        "add without the lock",
        "r1 = map_value[.data.R]+0 ll\n    call 93\n",
        "",
        "spin-lock",
        "bpf_spin_lock at off=0 must be held for bpf_rb_root",
    ),
    (
        RB_ADD,
        "less calls a helper under the lock",
        "    r0 = 1\n    if r1",
        "    call 5\n    r0 = 1\n    if r1",
        "spin-lock",
        "function calls are not allowed while holding a lock",
    ),
    (
        RB_ADD,
        "a flow into the skb list",
        "r1 = map_value[.data.R]+8 ll\n    r2 = r6",
        "r1 = map_value[.data.A]+8 ll\n    r2 = r6",
        "spin-lock",
        "must be held for bpf_list_head",
    ),
    (
        RB_REMOVE,
        "the removed node leaks",
        "r1 = r6\n    r2 = 0\n    call bpf_obj_drop_impl\n",
        "",
        "reference-leak",
        "Unreleased reference id=",
    ),
    (
        RB_REMOVE,
        "a copy of the first node is harmless",
        "call bpf_rbtree_first",
        "call bpf_rbtree_first\n    r9 = r0",
        None,
        None,
    ),
]


@pytest.mark.parametrize(
    ("text", "what", "old", "new", "rule", "message"), RB_MUTANTS, ids=[m[1] for m in RB_MUTANTS]
)
def test_rbtree_mutant(text, what, old, new, rule, message):
    mutant = mutate(text, old, new)
    if rule is None:  # a harmless change stays accepted
        accepts(mutant, RESET)
    else:
        rejects(mutant, RESET, rule, message)


def test_rbtree_remove_of_an_owned_node_is_refused():
    text = RB_ADD.replace(
        "call bpf_rbtree_add_impl",
        "call bpf_rbtree_add_impl\n    r1 = map_value[.data.R]+8 ll\n    r2 = r6\n    call bpf_rbtree_remove\n    r7 = r0",
        1,
    )
    # after the add r6 is non-owning: removing it gives an owning node that must be dropped
    rejects(text, RESET, "reference-leak", "Unreleased reference")


# Walk from the root to its left child and remove that one (all under the lock).
RB_WALK = RB_REMOVE.replace(
    "    call bpf_rbtree_first\n    if r0 == 0 goto unlock\n",
    "    call bpf_rbtree_root\n    if r0 == 0 goto unlock\n"
    "    r1 = map_value[.data.R]+8 ll\n    r2 = r0\n    call bpf_rbtree_left\n"
    "    if r0 == 0 goto unlock\n",
)


def test_rbtree_walk_from_the_root_is_accepted():
    accepts(RB_WALK, RESET)


def test_rbtree_walk_result_needs_a_null_check_and_the_lock():
    rejects(
        RB_WALK.replace(
            "call bpf_rbtree_left\n    if r0 == 0 goto unlock\n", "call bpf_rbtree_left\n"
        ),
        RESET,
        "null-check",
        "",
    )
    unlocked = RB_WALK.replace("    r1 = map_value[.data.R]+0 ll\n    call 93\n", "", 1)
    rejects(unlocked, RESET, "spin-lock", "must be held")
