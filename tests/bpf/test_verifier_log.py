"""What a rejection prints: log tail with registers, the summary, the source line, the path."""

import dataclasses

from verifier_protos import ENQUEUE, TCX, accepts, rejects

from qdisclab.bpf.asm import assemble
from qdisclab.bpf.verifier import VerificationError, verify

LEAK = """
    r6 = *(u64 *)(r1 + 0)
    r8 = *(u64 *)(r1 + 8)
    r2 = *(u32 *)(r8 + 48)
    if r2 > 100 goto full
    r1 = r6
    call bpf_kfree_skb
    r0 = 0
    exit
full:
    r0 = 1
    exit
"""


def _source(slot: int) -> str:
    return "fifo.bpf.c:12  return NET_XMIT_DROP;" if slot >= 8 else f"fifo.bpf.c:{slot + 2}"


def test_rejection_names_rule_source_line_and_path():
    code = dataclasses.replace(assemble(LEAK, name="fifo_enqueue"), source_line=_source)
    try:
        verify(code, ENQUEUE)
    except VerificationError as err:
        report = err.report()
        assert err.rule == "reference-leak"
        assert err.slot == 9
        assert err.source == "fifo.bpf.c:12  return NET_XMIT_DROP;"
        assert str(err) == (
            "fifo_enqueue: insn 9: Unreleased reference id=1 alloc_insn=0 (reference-leak) "
            "[fifo.bpf.c:12  return NET_XMIT_DROP;]"
        )
        assert err.path == ["insn 3: taken [insn 3 (if r2 > 100 goto +4)]"]
        # the log tail: the instructions of the failing path, each with its registers
        branch = next(line for line in err.log if line.startswith("3: (25) if r2 > 100 goto +4 ; "))
        assert "R2=scalar(smin=umin=101,smax=umax=4294967295," in branch
        assert "8: (b7) r0 = 1 ; R0=1" in report
        assert "; fifo.bpf.c:12  return NET_XMIT_DROP;" in err.log
        assert report.splitlines()[-5:-3] == [
            "Unreleased reference id=1 alloc_insn=0",
            "the skb argument (acquired at insn 0 [fifo.bpf.c:2]) is not released on this path",
        ]
    else:
        raise AssertionError("the leak was not found")


def test_log_tail_is_bounded():
    body = "r0 = 0\n" + "r0 += 1\n" * 40 + "r0 = r9\nexit"
    err = rejects(body, TCX, "uninit-register", "R9 !read_ok")
    assert len(err.log) == 13  # twelve executed instructions and the failing one
    assert err.log[-1] == "41: (bf) r0 = r9"
    assert err.log[-2].startswith("40: (07) r0 += 1 ; R0=40")


def test_forced_branches_are_not_decisions():
    err = rejects(
        "r1 = 5\nif r1 > 3 goto l\nr0 = 0\nexit\nl:\nr0 = r7\nexit",
        TCX,
        "uninit-register",
        "R7 !read_ok",
    )
    assert err.path == []


def test_successful_verification_reports_its_work():
    stats = accepts("r0 = 0\nl:\nr0 += 1\nif r0 < 100 goto l\nr0 = 0\nexit", TCX)
    assert stats.insns_processed == 1 + 2 * 100 + 2
