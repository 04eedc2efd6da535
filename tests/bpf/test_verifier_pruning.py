"""State pruning keeps verification linear where paths multiply, and loops within the limits."""

from verifier_protos import TCX, accepts, rejects

from qdisclab.bpf.verifier.proto import ProgramProto


def diamonds(n: int, keep: bool) -> str:
    """``n`` independent if/else in a row: 2**n paths, each diamond's registers dead after it
    unless ``keep`` makes the program read them at the end."""
    body = []
    for i in range(n):
        body += [
            "r3 = *(u32 *)(r1 + 0)",
            f"if r3 > {i} goto j{i}",
            "r2 = 1",
            f"j{i}:",
        ]
    tail = ["r0 = r2" if keep else "r0 = 0", "r0 &= 1", "exit"]
    return "\n".join(["r2 = 0", *body, *tail])


def test_independent_branches_are_pruned():
    stats = accepts(diamonds(24, keep=False), TCX)
    # 2**24 paths without pruning; a few instructions per diamond with it
    assert stats.insns_processed < 24 * 12
    assert stats.pruned > 0


def test_live_register_keeps_states_apart_but_still_converges():
    """r2 is read at the end: the two values it can hold are two states, not 2**n."""
    stats = accepts(diamonds(24, keep=True), TCX)
    assert stats.insns_processed < 24 * 20


def test_loop_over_map_entries_verifies_every_iteration():
    text = """
        r6 = 0
    loop:
        *(u32 *)(r10 - 4) = r6
        r2 = r10
        r2 += -4
        r1 = map[counts] ll
        call 1
        if r0 == 0 goto next
        r1 = *(u64 *)(r0 + 0)
        r1 += 1
        *(u64 *)(r0 + 0) = r1
    next:
        r6 += 1
        if r6 < 64 goto loop
        r0 = 0
        exit
    """
    stats = accepts(text, TCX)
    assert 64 * 9 <= stats.insns_processed < 64 * 30


def test_complexity_limit_names_the_limit():
    proto = ProgramProto("tcx", "ingress", ctx=TCX.ctx, ret_range=(-1, 7), insn_limit=300)
    text = "r6 = 0\nl:\nr6 += 1\nif r6 < 1000 goto l\nr0 = 0\nexit"
    err = rejects(text, proto, "too-complex", "BPF program is too large. Processed 301 insn")
    assert "instruction budget" in err.detail


def test_bpf_loop_callback_converges_with_a_counter_in_the_callers_stack():
    text = """
        r1 = 0
        *(u64 *)(r10 - 8) = r1
        r1 = 100
        r2 = func[@cb] ll
        r3 = r10
        r3 += -8
        r4 = 0
        call 181
        r0 = *(u64 *)(r10 - 8)
        r0 &= 1
        exit
    cb:
        r3 = *(u64 *)(r2 + 0)
        r3 += 1
        *(u64 *)(r2 + 0) = r3
        r0 = 0
        exit
    """
    stats = accepts(text, TCX)
    assert stats.insns_processed < 200


def test_bpf_loop_callback_index_is_unknown():
    """The callback's index argument has no bound: using it as an offset needs a check."""
    text = """
        r1 = 10
        r2 = func[@cb] ll
        r3 = 0
        r4 = 0
        call 181
        r0 = 0
        exit
    cb:
        r6 = r1
        *(u32 *)(r10 - 4) = r6
        r2 = r10
        r2 += -4
        r1 = map[counts] ll
        call 1
        if r0 == 0 goto out
        r6 &= {mask}
        r0 += r6
        r1 = *(u8 *)(r0 + 0)
    out:
        r0 = 0
        exit
    """
    accepts(text.format(mask=15), TCX)
    rejects(
        text.format(mask=31),
        TCX,
        "map-value-bounds",
        "R0 max value is outside of the allowed memory range",
    )
