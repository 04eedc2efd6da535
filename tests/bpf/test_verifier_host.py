"""The verdict agrees with the running kernel's verifier on tc programs at each rule's boundary.

Every program is listed with both verdicts: qdisclab's and the host
kernel's (``"ok"`` or the kernel's message). Where they differ on purpose
the reason is given: qdisclab holds programs to the unprivileged reading of
a rule that a root-loaded program may relax, and to the tcx return codes
the issue asks for. Runs as root (CI); skipped elsewhere with the reason.
Callbacks (``bpf_loop``) are not compared: the kernel wants BTF func info
for them, which these hand-assembled programs do not carry.
"""

import os

import pytest
from host_bpf import BPF_MAP_TYPE_HASH, available, create_map, load
from test_verifier_rules import LOAD_BYTES, LOOKUP, PACKET, TAIL
from verifier_protos import TCX

from qdisclab.bpf.asm import assemble
from qdisclab.bpf.verifier import VerificationError, verify

REASON = available()
pytestmark = pytest.mark.skipif(REASON is not None, reason=REASON or "")

CHECKED = LOOKUP + "if r0 == 0 goto out\n"

# name, program, qdisclab's verdict, the kernel's verdict (root), why they differ (or "")
CASES = [
    ("null check present", CHECKED + "r1 = *(u64 *)(r0 + 0)\n" + TAIL, "ok", "ok", ""),
    (
        "null check missing",
        LOOKUP + "r1 = *(u64 *)(r0 + 0)\nr0 = 0\nexit",
        "R0 invalid mem access 'map_value_or_null'",
        "R0 invalid mem access 'map_value_or_null'",
        "",
    ),
    ("map value last word", CHECKED + "r1 = *(u64 *)(r0 + 8)\n" + TAIL, "ok", "ok", ""),
    (
        "map value one byte past",
        CHECKED + "r1 = *(u64 *)(r0 + 9)\n" + TAIL,
        "R0 min value is outside of the allowed memory range",
        "R0 min value is outside of the allowed memory range",
        "",
    ),
    (
        "index bounded",
        CHECKED
        + "r1 = *(u32 *)(r0 + 0)\nif r1 > 8 goto out\nr0 += r1\nr2 = *(u64 *)(r0 + 0)\n"
        + TAIL,
        "ok",
        "ok",
        "",
    ),
    (
        "index bound off by one",
        CHECKED
        + "r1 = *(u32 *)(r0 + 0)\nif r1 > 9 goto out\nr0 += r1\nr2 = *(u64 *)(r0 + 0)\n"
        + TAIL,
        "R0 max value is outside of the allowed memory range",
        "R0 max value is outside of the allowed memory range",
        "",
    ),
    (
        "index unchecked",
        CHECKED + "r1 = *(u32 *)(r0 + 0)\nr0 += r1\nr2 = *(u8 *)(r0 + 0)\n" + TAIL,
        "R0 unbounded memory access",
        "R0 unbounded memory access",
        "",
    ),
    ("packet read inside the check", PACKET + "r0 = *(u8 *)(r2 + 13)\n" + TAIL, "ok", "ok", ""),
    (
        "packet read one byte past",
        PACKET + "r0 = *(u8 *)(r2 + 14)\n" + TAIL,
        "R2 offset is outside of the packet",
        "R2 offset is outside of the packet",
        "",
    ),
    (
        "packet read unchecked",
        "r2 = *(u32 *)(r1 + 76)\nr0 = *(u8 *)(r2 + 0)\nr0 = 0\nexit",
        "R2 offset is outside of the packet",
        "R2 offset is outside of the packet",
        "",
    ),
    ("stack bottom", "r1 = 1\n*(u64 *)(r10 - 512) = r1\nr0 = 0\nexit", "ok", "ok", ""),
    (
        "stack one slot below",
        "r1 = 1\n*(u64 *)(r10 - 520) = r1\nr0 = 0\nexit",
        "invalid write to stack R10 off=-520 size=8",
        "invalid write to stack R10 off=-520 size=8",
        "",
    ),
    (
        "stack half written then read",
        "r1 = 5\n*(u32 *)(r10 - 8) = r1\nr0 = *(u64 *)(r10 - 8)\nr0 = 0\nexit",
        "invalid read from stack off -8+4 size 8",
        "ok",
        "root may read uninitialized stack (allow_uninit_stack); qdisclab requires initialized bytes "
        "unless the attach point sets ProgramProto.allow_uninit_stack",
    ),
    ("register read before written", "r0 = r2\nexit", "R2 !read_ok", "R2 !read_ok", ""),
    ("exit without return value", "r1 = 0\nexit", "R0 !read_ok", "R0 !read_ok", ""),
    (
        "pointer filled back whole",
        CHECKED
        + "*(u64 *)(r10 - 16) = r0\nr1 = *(u64 *)(r10 - 16)\nr2 = *(u64 *)(r1 + 0)\n"
        + TAIL,
        "ok",
        "ok",
        "",
    ),
    (
        "pointer filled back in part",
        CHECKED + "*(u64 *)(r10 - 16) = r0\nr1 = *(u32 *)(r10 - 16)\n" + TAIL,
        "invalid size of register fill",
        "invalid size of register fill",
        "",
    ),
    ("context field written", "r2 = 1\n*(u32 *)(r1 + 8) = r2\nr0 = 0\nexit", "ok", "ok", ""),
    (
        "read-only context field written",
        "r2 = 1\n*(u32 *)(r1 + 0) = r2\nr0 = 0\nexit",
        "invalid bpf_context access off=0 size=4",
        "invalid bpf_context access off=0 size=4",
        "",
    ),
    ("bounded loop", "r0 = 0\nl:\nr0 += 1\nif r0 < 10 goto l\nr0 = 0\nexit", "ok", "ok", ""),
    (
        "loop without progress",
        "r0 = 0\nl:\nr0 += 0\nif r0 < 10 goto l\nexit",
        "infinite loop detected at insn 1",
        "infinite loop detected at insn 1",
        "",
    ),
    (
        "may_goto loop",
        "r6 = 0\nl:\nmay_goto out\nr6 += 1\ngoto l\nout:\nr0 = 0\nexit",
        "ok",
        "ok",
        "",
    ),
    ("return TCX_REDIRECT", "r0 = 7\nexit", "ok", "ok", ""),
    (
        "return 8",
        "r0 = 8\nexit",
        "should have been in [-1, 7]",
        "ok",
        "the kernel does not range-check tc return codes; qdisclab holds tcx programs to TCX_*",
    ),
    ("load_bytes fills its buffer", LOAD_BYTES, "ok", "ok", ""),
    (
        "load_bytes one byte past its buffer",
        LOAD_BYTES.replace("r4 = 14", "r4 = 17"),
        "invalid write to stack R3 off=-16 size=17",
        "invalid write to stack R3 off=-16 size=17",
        "",
    ),
    (
        "load_bytes of nothing",
        LOAD_BYTES.replace("r4 = 14", "r4 = 0"),
        "R4 invalid zero-sized read",
        "R4 invalid zero-sized read",
        "",
    ),
    (
        "read of a byte load_bytes did not fill",
        LOAD_BYTES.replace("r4 = 14", "r4 = 12"),
        "invalid read from stack off -3+0 size 1",
        "ok",
        "root may read stack bytes never written (CAP_PERFMON); qdisclab holds every program "
        "to the unprivileged rule",
    ),
    (
        "arithmetic on a maybe-NULL pointer",
        LOOKUP + "r0 += 8\nr0 = 0\nexit",
        "R0 pointer arithmetic on map_value_or_null prohibited",
        "R0 pointer arithmetic on map_value_or_null prohibited",
        "",
    ),
]


def _ours(text: str) -> str:
    try:
        verify(assemble(text), TCX)
    except VerificationError as err:
        return err.message
    return "ok"


@pytest.fixture(scope="module")
def maps():
    # the "counts" map of the fixtures, as a hash map: the kernel knows an array lookup with a
    # constant key in range cannot fail, which qdisclab does not track
    fd = create_map(BPF_MAP_TYPE_HASH, 4, 16, 64)
    yield {"counts": fd}
    os.close(fd)


@pytest.mark.parametrize(("name", "text", "ours", "host", "why"), CASES, ids=[c[0] for c in CASES])
def test_verdicts_match_the_host_kernel(maps, name, text, ours, host, why):
    got_ours = _ours(text)
    accepted, log = load(assemble(text), maps)
    got_host = "ok" if accepted else log
    assert (ours == "ok") == (got_ours == "ok") and ours in got_ours, f"qdisclab: {got_ours}"
    assert (host == "ok") == accepted and host in got_host, f"kernel: {got_host}"
    assert (ours == host) == (not why), "a difference needs its reason, and only a difference"


def test_enough_boundary_programs():
    assert len(CASES) >= 20
