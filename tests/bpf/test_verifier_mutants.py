"""Mutation testing: single changes to good programs that break one rule are refused naming it.

Mutants are generated, not hand-picked: every NULL check, bounds check,
release call and return value of the good programs is changed in turn.
A second sweep changes each instruction's fields at random and checks the
verifier only ever accepts or refuses with a named rule — never crashes.
"""

import dataclasses
import random
import re

import pytest
from test_verifier_graph import FIFO_DEQUEUE, FIFO_ENQUEUE
from test_verifier_rules import DROP, ENQ, LOOKUP, PACKET, TAIL
from verifier_protos import DEQUEUE, ENQUEUE, TCX, accepts

from qdisclab.bpf.asm import assemble
from qdisclab.bpf.code import Code
from qdisclab.bpf.errors import BpfLoadError
from qdisclab.bpf.verifier import VerificationError, verify
from qdisclab.bpf.verifier.log import RULES

GOOD = {
    "fifo_enqueue": (FIFO_ENQUEUE, ENQUEUE),
    "fifo_dequeue": (FIFO_DEQUEUE, DEQUEUE),
    "drop_or_free": (ENQ + "r1 = r6\ncall bpf_kfree_skb\nr0 = 0\nexit\n" + DROP, ENQUEUE),
    "tc_packet": (PACKET + "r0 = *(u8 *)(r2 + 13)\n" + TAIL, TCX),
    "tc_map": (
        LOOKUP + "if r0 == 0 goto out\nr1 = *(u32 *)(r0 + 0)\nif r1 > 8 goto out\n"
        "r0 += r1\nr2 = *(u64 *)(r0 + 0)\n" + TAIL,
        TCX,
    ),
}

RELEASES = ("call bpf_kfree_skb", "call bpf_qdisc_skb_drop", "call bpf_obj_drop_impl", "call 94")
NULL_CHECK = re.compile(r"if (r\d+) (==|!=) 0 goto (\w+)")
MEMORY = re.compile(r"(?:(r\d+) = )?\*\(u(\d+) \*\)\(r(\d+) \+ (\d+)\)(?: = r\d+)?")
OUT_OF_REGION = {"map-value-bounds", "packet-bounds", "stack-bounds", "btf-access", "ctx-access"}
BOUND_CHECK = re.compile(r"if (r\d+) (>|<) (r\d+|\d+) goto (\w+)")


def mutants():
    """(name, text, proto, rules that name the broken rule) for every generated mutant."""
    for prog, (text, proto) in GOOD.items():
        lines = text.splitlines()
        for i, line in enumerate(lines):
            stripped = line.strip()

            def swap(new: str, lines: list[str] = lines, i: int = i) -> str:
                return "\n".join([*lines[:i], new, *lines[i + 1 :]])

            m = NULL_CHECK.fullmatch(stripped)
            if m:
                # the same jump on the frame pointer never (==) / always (!=) branches
                yield (
                    f"{prog}: NULL check at line {i} disabled",
                    swap(f"if r10 {m[2]} 0 goto {m[3]}"),
                    proto,
                    {"null-check"},
                )
            m = BOUND_CHECK.fullmatch(stripped)
            if m and proto is TCX:
                yield (
                    f"{prog}: bounds check at line {i} disabled",
                    swap(f"if r10 {m[2]} {m[3]} goto {m[4]}"),
                    proto,
                    {"packet-bounds", "map-value-bounds"},
                )
            if stripped in RELEASES:
                yield (
                    f"{prog}: {stripped} at line {i} removed",
                    swap(""),
                    proto,
                    {"reference-leak", "spin-lock"},
                )
                if (
                    stripped != "call 94"
                    and i
                    and re.fullmatch(r"r1 = r[6-9]", lines[i - 1].strip())
                ):
                    again = "\n".join([*lines[: i + 1], lines[i - 1], line, *lines[i + 1 :]])
                    yield (
                        f"{prog}: {stripped} at line {i} repeated",
                        again,
                        proto,
                        {"double-release", "use-after-release"},
                    )
            if stripped == "call 93":
                yield f"{prog}: bpf_spin_lock at line {i} removed", swap(""), proto, {"spin-lock"}
            m = MEMORY.fullmatch(stripped)
            if m and m[3] != "10":
                moved = stripped.replace(f"(r{m[3]} + {m[4]})", f"(r{m[3]} + {int(m[4]) + 4096})")
                yield (
                    f"{prog}: access at line {i} moved out of its region",
                    swap(moved),
                    proto,
                    OUT_OF_REGION,
                )
            if re.fullmatch(r"\*\(u\d+ \*\)\(r10 - \d+\) = r\d+", stripped):
                yield f"{prog}: stack store at line {i} removed", swap(""), proto, {"stack-uninit"}
            if stripped == "r0 = 0" and i + 1 < len(lines) and lines[i + 1].strip() == "exit":
                wrong = "r0 = 9" if proto.ret_range else "r0 = r10"
                yield (
                    f"{prog}: return value at line {i} changed",
                    swap(wrong),
                    proto,
                    {"return-range"},
                )


MUTANTS = list(mutants())


def test_enough_mutants_are_generated():
    assert len(MUTANTS) >= 30


@pytest.mark.parametrize("prog", sorted(GOOD))
def test_good_programs_are_accepted(prog):
    text, proto = GOOD[prog]
    accepts(text, proto)


@pytest.mark.parametrize(("name", "text", "proto", "rules"), MUTANTS, ids=[m[0] for m in MUTANTS])
def test_mutant_is_refused_naming_the_rule(name, text, proto, rules):
    with pytest.raises(VerificationError) as info:
        verify(assemble(text, name=name), proto)
    assert info.value.rule in rules, info.value.report()


def _fuzzed(code: Code, rng: random.Random) -> Code:
    raw = bytearray(code.insns)
    slot = rng.randrange(len(raw) // 8)
    at = slot * 8
    field = rng.choice(["regs", "off", "imm", "opcode"])
    if field == "regs":
        raw[at + 1] = rng.randrange(256)
    elif field == "off":
        raw[at + 2 : at + 4] = rng.randrange(-16, 16).to_bytes(2, "little", signed=True)
    elif field == "imm":
        raw[at + 4 : at + 8] = rng.choice([0, 1, -1, 8, 4096, 2**31 - 1]).to_bytes(
            4, "little", signed=True
        )
    else:
        raw[at] ^= 1 << rng.randrange(8)
    return Code(code.name, bytes(raw), code.symbols)


@pytest.mark.parametrize("prog", sorted(GOOD))
def test_random_mutants_are_accepted_or_refused_by_rule(prog):
    text, proto = GOOD[prog]
    proto = dataclasses.replace(proto, insn_limit=20_000)  # a mutant may loop
    code = assemble(text, name=prog)
    rng = random.Random(prog)
    refused = 0
    for _ in range(150):
        try:
            verify(_fuzzed(code, rng), proto)
        except VerificationError as err:
            assert err.rule in RULES
            refused += 1
        except BpfLoadError:
            refused += 1  # not even a well-formed program: refused by the loader's checks
    assert refused > 0
