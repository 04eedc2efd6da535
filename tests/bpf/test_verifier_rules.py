"""Programs on each rule's boundary: accepted when right, refused naming the rule when one step off."""

import dataclasses

from verifier_protos import DEQUEUE, ENQUEUE, RESET, TCX, accepts, rejects

from qdisclab.bpf.verifier.proto import (
    KF_SLEEPABLE,
    CtxField,
    CtxKind,
    FuncProto,
    ProgramProto,
    RetKind,
)

LOOKUP = """
    r1 = 0
    *(u32 *)(r10 - 4) = r1
    r2 = r10
    r2 += -4
    r1 = map[counts] ll
    call 1
"""


# ------------------------------------------------------------------ NULL checks


def test_map_lookup_checked_for_null_is_accepted():
    accepts(LOOKUP + "if r0 == 0 goto out\nr1 = *(u64 *)(r0 + 0)\nout:\nr0 = 0\nexit", TCX)


def test_map_lookup_used_without_null_check_is_refused():
    err = rejects(
        LOOKUP + "r1 = *(u64 *)(r0 + 0)\nr0 = 0\nexit",
        TCX,
        "null-check",
        "R0 invalid mem access 'map_value_or_null'",
    )
    assert err.slot == 7


def test_null_check_refines_every_copy_of_the_pointer():
    accepts(LOOKUP + "r6 = r0\nif r0 == 0 goto out\nr1 = *(u64 *)(r6 + 8)\nout:\nr0 = 0\nexit", TCX)


def test_null_check_on_the_wrong_branch_is_refused():
    rejects(
        LOOKUP + "if r0 != 0 goto out\nr1 = *(u64 *)(r0 + 0)\nout:\nr0 = 0\nexit",
        TCX,
        "invalid-mem-access",
        "R0 invalid mem access 'scalar'",
    )


def test_arithmetic_on_maybe_null_pointer_is_refused():
    rejects(
        LOOKUP + "r0 += 8\nr0 = 0\nexit",
        TCX,
        "null-check",
        "R0 pointer arithmetic on map_value_or_null prohibited, null-check it first",
    )


# ------------------------------------------------------------- map value bounds

CHECKED = LOOKUP + "if r0 == 0 goto out\n"
TAIL = "out:\nr0 = 0\nexit"


def test_map_value_last_word_is_accepted():
    accepts(CHECKED + "r1 = *(u64 *)(r0 + 8)\n" + TAIL, TCX)


def test_map_value_one_byte_past_the_end_is_refused():
    err = rejects(
        CHECKED + "r1 = *(u64 *)(r0 + 9)\n" + TAIL,
        TCX,
        "map-value-bounds",
        "R0 min value is outside of the allowed memory range",
    )
    assert "invalid access to map value, value_size=16 off=9 size=8" in err.log


def test_map_value_bounded_index_is_accepted():
    accepts(
        CHECKED
        + "r1 = *(u32 *)(r0 + 0)\nif r1 > 8 goto out\nr0 += r1\nr2 = *(u64 *)(r0 + 0)\n"
        + TAIL,
        TCX,
    )


def test_map_value_index_bound_off_by_one_is_refused():
    rejects(
        CHECKED
        + "r1 = *(u32 *)(r0 + 0)\nif r1 > 9 goto out\nr0 += r1\nr2 = *(u64 *)(r0 + 0)\n"
        + TAIL,
        TCX,
        "map-value-bounds",
        "R0 max value is outside of the allowed memory range",
    )


def test_map_value_unchecked_index_is_refused():
    rejects(
        CHECKED + "r1 = *(u32 *)(r0 + 0)\nr0 += r1\nr2 = *(u8 *)(r0 + 0)\n" + TAIL,
        TCX,
        "map-value-bounds",
        "R0 unbounded memory access",
    )


def test_map_value_signed_index_needs_lower_bound():
    body = "r1 = *(u64 *)(r0 + 0)\nif r1 s> 8 goto out\nr0 += r1\nr2 = *(u64 *)(r0 + 0)\n"
    rejects(CHECKED + body + TAIL, TCX, "map-value-bounds", "R0 min value is negative")
    fixed = "r1 = *(u64 *)(r0 + 0)\nif r1 s> 8 goto out\nif r1 s< 0 goto out\nr0 += r1\nr2 = *(u64 *)(r0 + 0)\n"
    accepts(CHECKED + fixed + TAIL, TCX)


# ------------------------------------------------------------------- the stack


def test_stack_bottom_is_accepted_and_one_slot_below_is_refused():
    accepts("r1 = 1\n*(u64 *)(r10 - 512) = r1\nr0 = 0\nexit", TCX)
    rejects(
        "r1 = 1\n*(u64 *)(r10 - 520) = r1\nr0 = 0\nexit",
        TCX,
        "stack-bounds",
        "invalid write to stack R10 off=-520 size=8",
    )


def test_stack_read_of_written_bytes_is_accepted():
    accepts("r1 = 5\n*(u64 *)(r10 - 8) = r1\nr0 = *(u64 *)(r10 - 8)\nr0 = 0\nexit", TCX)


def test_stack_read_of_half_written_slot_is_refused():
    rejects(
        "r1 = 5\n*(u32 *)(r10 - 8) = r1\nr0 = *(u64 *)(r10 - 8)\nr0 = 0\nexit",
        TCX,
        "stack-uninit",
        "invalid read from stack off -8+4 size 8",
    )


def test_spilled_pointer_fills_back_whole_but_not_in_part():
    spill = CHECKED + "*(u64 *)(r10 - 16) = r0\n"
    accepts(spill + "r1 = *(u64 *)(r10 - 16)\nr2 = *(u64 *)(r1 + 0)\n" + TAIL, TCX)
    rejects(
        spill + "r1 = *(u32 *)(r10 - 16)\n" + TAIL,
        TCX,
        "invalid-mem-access",
        "invalid size of register fill",
    )


def test_map_key_must_be_initialized():
    rejects(
        "r2 = r10\nr2 += -4\nr1 = map[counts] ll\ncall 1\nr0 = 0\nexit",
        TCX,
        "stack-uninit",
        "invalid indirect read from stack R2 off -4+0 size 4",
    )


# ------------------------------------------------------------------- registers


def test_uninitialized_register_is_refused():
    accepts("r2 = 1\nr0 = r2\nexit", TCX)
    rejects("r0 = r2\nexit", TCX, "uninit-register", "R2 !read_ok")


def test_exit_without_return_value_is_refused():
    rejects("r1 = 0\nexit", TCX, "uninit-register", "R0 !read_ok")


def test_helper_clobbers_argument_registers():
    rejects("call 5\nr0 = r1\nexit", TCX, "uninit-register", "R1 !read_ok")


# ------------------------------------------------------------------- packets

PACKET = """
    r2 = *(u32 *)(r1 + 76)
    r3 = *(u32 *)(r1 + 80)
    r4 = r2
    r4 += 14
    if r4 > r3 goto out
"""


def test_packet_read_inside_checked_range_is_accepted():
    accepts(PACKET + "r0 = *(u8 *)(r2 + 13)\n" + TAIL, TCX)


def test_packet_read_one_byte_past_checked_range_is_refused():
    err = rejects(
        PACKET + "r0 = *(u8 *)(r2 + 14)\n" + TAIL,
        TCX,
        "packet-bounds",
        "R2 offset is outside of the packet",
    )
    assert any("invalid access to packet, off=14 size=1" in line for line in err.log)


def test_packet_read_without_check_is_refused():
    rejects(
        "r2 = *(u32 *)(r1 + 76)\nr0 = *(u8 *)(r2 + 0)\nr0 = 0\nexit",
        TCX,
        "packet-bounds",
        "R2 offset is outside of the packet",
    )


def test_packet_check_with_end_on_the_left_is_understood():
    text = PACKET.replace("if r4 > r3 goto out", "if r3 < r4 goto out")
    accepts(text + "r0 = *(u8 *)(r2 + 13)\n" + TAIL, TCX)


# ---------------------------------------------------------------- the context


def test_context_fields_allowed_and_refused():
    accepts("r2 = *(u32 *)(r1 + 0)\n*(u32 *)(r1 + 8) = r2\nr0 = 0\nexit", TCX)
    rejects(
        "r2 = *(u32 *)(r1 + 200)\nr0 = 0\nexit",
        TCX,
        "ctx-access",
        "invalid bpf_context access off=200 size=4",
    )
    rejects(
        "r2 = 1\n*(u32 *)(r1 + 0) = r2\nr0 = 0\nexit",
        TCX,
        "ctx-access",
        "invalid bpf_context access off=0 size=4",
    )


# -------------------------------------------------------------- return values


def test_return_value_at_the_edge_of_the_range():
    accepts("r0 = 7\nexit", TCX)
    accepts("r0 = -1\nexit", TCX)
    rejects(
        "r0 = 8\nexit",
        TCX,
        "return-range",
        "At program exit the register R0 has smin=8 smax=8 should have been in [-1, 7]",
    )


def test_unknown_return_value_is_refused_until_bounded():
    rejects("r0 = *(u32 *)(r1 + 0)\nexit", TCX, "return-range", "should have been in [-1, 7]")
    accepts("r0 = *(u32 *)(r1 + 0)\nr0 &= 3\nexit", TCX)


# ----------------------------------------------------------------- references

ENQ = """
    r9 = r1
    r6 = *(u64 *)(r1 + 0)
    r7 = *(u64 *)(r1 + 16)
    r8 = *(u64 *)(r1 + 8)
    r2 = *(u32 *)(r8 + 48)
    if r2 > 100 goto drop
"""
DROP = "drop:\nr1 = r6\nr2 = r7\ncall bpf_qdisc_skb_drop\nr0 = 1\nexit"


def test_skb_released_on_both_paths_is_accepted():
    accepts(ENQ + "r1 = r6\ncall bpf_kfree_skb\nr0 = 0\nexit\n" + DROP, ENQUEUE)


def test_skb_leaked_on_one_path_is_refused():
    err = rejects(
        ENQ + "r1 = r6\ncall bpf_kfree_skb\nr0 = 0\nexit\ndrop:\nr0 = 1\nexit",
        ENQUEUE,
        "reference-leak",
        "Unreleased reference id=1 alloc_insn=0",
    )
    assert any("taken" in step for step in err.path), err.report()


def test_skb_used_after_release_is_refused():
    err = rejects(
        ENQ + "r1 = r6\ncall bpf_kfree_skb\nr2 = *(u32 *)(r6 + 112)\nr0 = 0\nexit\n" + DROP,
        ENQUEUE,
        "use-after-release",
        "R6 invalid mem access 'scalar'",
    )
    assert "released at insn 7" in err.detail


def test_skb_released_twice_is_refused():
    rejects(
        ENQ + "r1 = r6\ncall bpf_kfree_skb\nr1 = r6\ncall bpf_kfree_skb\nr0 = 0\nexit\n" + DROP,
        ENQUEUE,
        "double-release",
        "R1 type=scalar expected=ptr_",
    )


def test_context_skb_reread_after_release_is_refused():
    rejects(
        ENQ + "r1 = r6\ncall bpf_kfree_skb\nr1 = *(u64 *)(r9 + 0)\nr0 = 0\nexit\n" + DROP,
        ENQUEUE,
        "use-after-release",
        "invalid bpf_context access off=0 size=8. Reference may already be released",
    )


def test_release_of_unreferenced_pointer_is_refused():
    rejects(
        "r1 = *(u64 *)(r1 + 0)\ncall bpf_kfree_skb\nr0 = 0\nexit",
        DEQUEUE,
        "argument-type",
        "expected pointer to STRUCT sk_buff but R1 has a pointer to STRUCT Qdisc",
    )


# ------------------------------------------------------------------ allow-lists


def test_kfunc_allowed_in_dequeue_but_not_in_enqueue():
    body = "r1 = *(u64 *)(r1 + 0)\nr2 = 0\nr3 = 0\ncall bpf_qdisc_watchdog_schedule\nr0 = 0\nexit"
    accepts(body, DEQUEUE)
    rejects(
        body,
        RESET,
        "kfunc-allow-list",
        "calling kernel function bpf_qdisc_watchdog_schedule is not allowed",
    )


def test_kfunc_from_a_callback_follows_the_programs_allow_list():
    loop = """
        r6 = *(u64 *)(r1 + 0)
        r1 = 4
        r2 = func[@cb] ll
        r3 = 0
        r4 = 0
        call 181
        r0 = 0
        exit
    cb:
        {body}
        r0 = 0
        exit
    """
    accepts(loop.format(body="call 5"), RESET)
    rejects(
        loop.format(body="call bpf_qdisc_skb_drop"),
        RESET,
        "kfunc-allow-list",
        "calling kernel function bpf_qdisc_skb_drop is not allowed",
    )


def test_callback_return_value_range():
    prog = "r1 = 4\nr2 = func[@cb] ll\nr3 = 0\nr4 = 0\ncall 181\nr0 = 0\nexit\ncb:\nr0 = {v}\nexit"
    accepts(prog.format(v=1), TCX)
    rejects(
        prog.format(v=2),
        TCX,
        "return-range",
        "At callback return the register R0 has smin=2 smax=2",
    )


def test_unknown_kfunc_is_refused():
    rejects(
        "call bpf_no_such_kfunc\nr0 = 0\nexit",
        TCX,
        "unknown-function",
        "calling kernel function bpf_no_such_kfunc is not allowed",
    )


# ---------------------------------------------------------------------- loops


def test_bounded_loop_is_accepted():
    stats = accepts("r0 = 0\nl:\nr0 += 1\nif r0 < 10 goto l\nr0 = 0\nexit", TCX)
    assert stats.insns_processed >= 20  # every iteration is explored


def test_loop_that_makes_no_progress_is_refused():
    rejects(
        "r0 = 0\nl:\nr0 += 0\nif r0 < 10 goto l\nexit",
        TCX,
        "infinite-loop",
        "infinite loop detected at insn 1",
    )


def test_loop_without_bound_is_too_complex():
    proto = ProgramProto(
        TCX.interface, TCX.member, ctx=TCX.ctx, ret_range=TCX.ret_range, insn_limit=5000
    )
    rejects(
        "r0 = 0\nl:\nr0 += 1\nif r0 != 0 goto l\nexit",
        proto,
        "too-complex",
        "BPF program is too large. Processed 5001 insn",
    )


def test_may_goto_bounds_an_otherwise_unbounded_loop():
    accepts("r6 = 0\nl:\nmay_goto out\nr6 += 1\ngoto l\nout:\nr0 = 0\nexit", TCX)


def test_back_edge_refused_when_loops_are_not_allowed():
    proto = ProgramProto(
        TCX.interface, TCX.member, ctx=TCX.ctx, ret_range=TCX.ret_range, allow_loops=False
    )
    rejects(
        "r0 = 0\nl:\nr0 += 1\nif r0 < 10 goto l\nr0 = 0\nexit",
        proto,
        "back-edge",
        "back-edge from insn 2 to 1",
    )
    accepts("r0 = 0\nif r0 < 10 goto l\nl:\nr0 = 0\nexit", proto)


def test_unreachable_instruction_is_refused():
    rejects("r0 = 0\nexit\nr0 = 1\nexit", TCX, "unreachable", "unreachable insn 2")


# ------------------------------------------------------------- kernel structs


def test_qdisc_writable_and_read_only_fields():
    accepts("r1 = *(u64 *)(r1 + 0)\nr2 = 10\n*(u32 *)(r1 + 32) = r2\nexit_:\nr0 = 0\nexit", DEQUEUE)
    rejects(
        "r1 = *(u64 *)(r1 + 0)\nr2 = 10\n*(u32 *)(r1 + 16) = r2\nr0 = 0\nexit",
        DEQUEUE,
        "btf-access",
        "no write support to Qdisc at off 16",
    )


def test_write_through_walked_pointer_is_refused():
    rejects(
        "r1 = *(u64 *)(r1 + 0)\nr1 = *(u64 *)(r1 + 8)\nr2 = 10\n*(u32 *)(r1 + 32) = r2\nr0 = 0\nexit",
        DEQUEUE,
        "btf-access",
        "only read is supported",
    )


def test_read_beyond_struct_is_refused():
    rejects(
        "r1 = *(u64 *)(r1 + 0)\nr2 = *(u32 *)(r1 + 384)\nr0 = 0\nexit",
        DEQUEUE,
        "btf-access",
        "access beyond struct Qdisc at off 384 size 4",
    )


# -------------------------------------------------------------- subprograms


def test_subprogram_call_returns_its_value():
    accepts("r1 = 2\ncall @f\nexit\nf:\nr0 = r1\nr0 += 1\nexit", TCX)
    rejects("r1 = 2\ncall @f\nexit\nf:\nr0 = r6\nexit", TCX, "uninit-register", "R6 !read_ok")


def test_subprogram_result_is_range_checked_at_exit():
    rejects(
        "r1 = 7\ncall @f\nexit\nf:\nr0 = r1\nr0 += 1\nexit", TCX, "return-range", "smin=8 smax=8"
    )


# ------------------------------------------------------- trust, nullability, sleeping


def test_trusted_argument_refuses_a_walked_pointer():
    call = "r2 = 0\nr3 = 0\ncall bpf_qdisc_watchdog_schedule\nr0 = 0\nexit"
    accepts("r1 = *(u64 *)(r1 + 0)\n" + call, DEQUEUE)
    rejects(
        "r1 = *(u64 *)(r1 + 0)\nr1 = *(u64 *)(r1 + 8)\n" + call,
        DEQUEUE,
        "argument-type",
        "R1 must be referenced or trusted",
    )


def test_nullable_context_argument_needs_a_check():
    arg = CtxField("sch", 0, 8, CtxKind.BTF_PTR, "Qdisc", nullable=True)
    proto = dataclasses.replace(RESET, ctx=(arg,))
    accepts(
        "r1 = *(u64 *)(r1 + 0)\nif r1 == 0 goto out\nr0 = *(u32 *)(r1 + 32)\nout:\nr0 = 0\nexit",
        proto,
    )
    rejects(
        "r1 = *(u64 *)(r1 + 0)\nr0 = *(u32 *)(r1 + 32)\nr0 = 0\nexit",
        proto,
        "null-check",
        "R1 invalid mem access 'trusted_ptr_or_null_'",
    )


def test_sleepable_kfunc_needs_a_sleepable_program():
    nap = FuncProto("bpf_demo_nap", (), RetKind.VOID, flags=KF_SLEEPABLE)
    proto = dataclasses.replace(RESET, kfuncs={**RESET.kfuncs, nap.name: nap})
    rejects(
        "call bpf_demo_nap\nr0 = 0\nexit",
        proto,
        "sleepable",
        "program must be sleepable to call sleepable kfunc bpf_demo_nap",
    )
    accepts("call bpf_demo_nap\nr0 = 0\nexit", dataclasses.replace(proto, sleepable=True))


def test_nullable_kfunc_argument_takes_null_but_not_a_maybe_null_pointer():
    """bpf_kptr_xchg's new value is __nullable: NULL is fine, an unchecked lookup is not."""
    stash = LOOKUP.replace("map[counts]", "map[stash]")
    text = (
        stash
        + "if r0 == 0 goto out\nr1 = r0\nr1 += 8\nr2 = 0\ncall 194\nif r0 == 0 goto out\nr1 = r0\ncall bpf_kfree_skb\n"
        + TAIL
    )
    accepts(text, RESET)


def test_callee_stack_pointer_cannot_outlive_the_callee():
    text = """
        r1 = r10
        r1 += -8
        call @f
        r0 = 0
        exit
    f:
        r2 = r10
        r2 += -16
        *(u64 *)(r1 + 0) = r{src}
        r0 = 0
        exit
    """
    accepts(text.format(src=1), TCX)  # the caller's own stack address is fine
    rejects(
        text.format(src=2),
        TCX,
        "invalid-mem-access",
        "cannot spill pointers to stack into stack frame of the caller",
    )


def test_uninitialized_stack_reads_allowed_only_when_the_attach_point_says_so():
    """A root-loaded program may read stack bytes it never wrote (the kernel's allow_uninit_stack)."""
    relaxed = dataclasses.replace(TCX, allow_uninit_stack=True)
    half = "r1 = 5\n*(u32 *)(r10 - 8) = r1\nr0 = *(u64 *)(r10 - 8)\nr0 = 0\nexit"
    key = "r2 = r10\nr2 += -4\nr1 = map[counts] ll\ncall 1\nr0 = 0\nexit"
    accepts(half, relaxed)
    accepts(key, relaxed)
    rejects(key, TCX, "stack-uninit", "invalid indirect read from stack R2 off -4+0 size 4")
    # still within the frame, and spilled pointers still fill back whole
    rejects(
        "r0 = *(u64 *)(r10 - 520)\nr0 = 0\nexit",
        relaxed,
        "stack-bounds",
        "invalid read from stack R10 off=-520 size=8",
    )


# bpf_skb_load_bytes(skb, offset, to, len): the buffer is filled, so it may be read after
LOAD_BYTES = """
    r6 = r1
    r1 = r6
    r2 = 0
    r3 = r10
    r3 += -16
    r4 = 14
    call 26
    r0 = *(u8 *)(r10 - 3)
    r0 = 0
    exit
"""


def test_load_bytes_fills_the_stack_buffer_it_is_given():
    accepts(LOAD_BYTES, TCX)


def test_load_bytes_past_the_buffer_or_a_read_past_what_it_filled_is_refused():
    rejects(
        LOAD_BYTES.replace("r4 = 14", "r4 = 17"),
        TCX,
        "stack-bounds",
        "invalid write to stack R3 off=-16 size=17",
    )
    rejects(
        LOAD_BYTES.replace("r4 = 14", "r4 = 12"), TCX, "stack-uninit", "invalid read from stack"
    )
    rejects(LOAD_BYTES.replace("r4 = 14", "r4 = 0"), TCX, "argument-type", "invalid zero-sized")
