"""What must hold when a program, a subprogram or a callback returns.

At the main program's ``exit``: R0 is in the attach point's range (or, for
an op returning a struct pointer such as ``dequeue``, NULL or a referenced
pointer of that struct it owns, whose reference goes back to the kernel),
no ``bpf_spin_lock`` is held and every other acquired reference is
released (``Unreleased reference id=N alloc_insn=M``). At a callback's
``exit``: R0 is in the range its helper allows and the callback released
what it acquired.

>>> from qdisclab.bpf.verifier.state import Reg
>>> range_message("At program exit the register R0", Reg.const(3), 0, 2)
'At program exit the register R0 has smin=3 smax=3 should have been in [0, 2]'
"""

from __future__ import annotations

from collections.abc import Callable

from qdisclab.bpf.verifier.bounds import S32_MAX, S32_MIN, S64_MAX, S64_MIN
from qdisclab.bpf.verifier.log import Reject
from qdisclab.bpf.verifier.proto import ArgKind, ProgramProto
from qdisclab.bpf.verifier.state import PTR_TO_BTF_ID, SCALAR, Callback, Frame, Ref, Reg, State


def check_main_exit(
    st: State, proto: ProgramProto, r0: Reg, source_line: Callable[[int], str | None] | None
) -> None:
    returned = check_return(proto, r0)
    if st.lock is not None:
        raise Reject(
            "spin-lock",
            "BPF_EXIT instruction in main prog cannot be used inside bpf_spin_lock-ed region",
        )
    for ref in st.refs:
        if ref.id != returned:
            where = source_line(ref.insn) if source_line else None
            at = f" [{where}]" if where else ""
            raise _unreleased(
                ref, f"{ref.what} (acquired at insn {ref.insn}{at}) is not released on this path"
            )


def check_return(proto: ProgramProto, r0: Reg) -> int:
    """Check R0 against the attach point; returns the reference id R0 hands back, or 0."""
    if proto.ret_btf is not None:
        if r0.is_null_const:
            return 0
        owned = r0.type == PTR_TO_BTF_ID and r0.ref_obj_id and not r0.alloc and not r0.off
        if owned and r0.btf == proto.ret_btf:
            return r0.ref_obj_id
        raise Reject(
            "return-range",
            f"At program exit the register R0 is not a known value ({r0.type_str()})",
            f"{proto.program_name} returns NULL or a referenced struct {proto.ret_btf} pointer it owns",
        )
    if proto.ret_range is None:
        return 0
    lo, hi = proto.ret_range
    if r0.type != SCALAR:
        raise Reject(
            "return-range",
            f"At program exit the register R0 is not a known value ({r0.type_str()})",
        )
    # the member returns a C int: its low 32 bits, sign-extended, are the value (w0 = -1 is TCX_NEXT)
    if r0.var.s32_min < lo or r0.var.s32_max > hi:
        raise Reject(
            "return-range", range_message("At program exit the register R0", r0, lo, hi, 32)
        )
    return 0


def check_callback_return(st: State, cb: Callback, r0: Reg) -> None:
    lo, hi = cb.ret_range
    if r0.type != SCALAR or r0.var.smin < lo or r0.var.smax > hi:
        raise Reject(
            "return-range", range_message("At callback return the register R0", r0, lo, hi)
        )
    if len(st.refs) > cb.refs_at_entry:
        ref = st.refs[-1]
        raise _unreleased(ref, f"{ref.what} is still held when the {cb.helper} callback returns")


def callback_args(frame: Frame, cb: Callback) -> None:
    """A callback's R1.. : an unknown number for a scalar argument, else the context passed on."""
    for j, arg in enumerate(cb.args):
        if arg.kind == ArgKind.SCALAR:
            frame.regs[j + 1] = Reg.unknown()
        elif cb.ctx is not None:
            frame.regs[j + 1] = cb.ctx


def _unreleased(ref: Ref, why: str) -> Reject:
    return Reject("reference-leak", f"Unreleased reference id={ref.id} alloc_insn={ref.insn}", why)


def range_message(what: str, r0: Reg, lo: int, hi: int, bits: int = 64) -> str:
    """The kernel's ``verbose_invalid_scalar`` line (the 32-bit subregister's bounds if ``bits`` is 32)."""
    text = what + " has"
    if r0.type != SCALAR:
        return f"{what} is not a known value ({r0.type_str()})"
    known = False
    smin, smax = (r0.var.s32_min, r0.var.s32_max) if bits == 32 else (r0.var.smin, r0.var.smax)
    floor, ceil = (S32_MIN, S32_MAX) if bits == 32 else (S64_MIN, S64_MAX)
    if smin > floor:
        text += f" smin={smin}"
        known = True
    if smax < ceil:
        text += f" smax={smax}"
        known = True
    if not known:
        text += " unknown scalar value"
    return f"{text} should have been in [{lo}, {hi}]"
