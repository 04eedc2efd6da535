"""State equivalence for pruning: may a new state reuse an explored one's proof?

An explored state ``old`` whose every continuation was verified proves the
same for any ``cur`` it subsumes: every live register of ``cur`` is within
``old``'s (same pointer kind and offset, a scalar range inside the old
range, a packet range at least as long), every stack byte ``old`` relied
on is at least as initialized, and the references and lock agree up to a
consistent renaming of ids (the kernel's ``states_equal``/``regsafe``/
``stacksafe``/``check_ids``). Registers dead at the instruction never make
states differ.

>>> from qdisclab.bpf.verifier.bounds import Scalar
>>> old, cur = Reg.scalar(Scalar.unknown()), Reg.const(3)
>>> regsafe(old, cur, {}), regsafe(cur, old, {})
(True, False)
"""

from __future__ import annotations

from qdisclab.bpf.verifier.cfg import Cfg
from qdisclab.bpf.verifier.state import (
    EMPTY_SLOT,
    ITERATOR,
    NOT_INIT,
    PTR_TO_PACKET,
    SCALAR,
    STACK_INVALID,
    STACK_MISC,
    STACK_SPILL,
    STACK_ZERO,
    Reg,
    Slot,
    State,
)

_CALLEE_SAVED = 0b1111000000  # R6-R9
_ZERO_REG = Reg.const(0)


def check_ids(old_id: int, cur_id: int, idmap: dict[int, int]) -> bool:
    """Ids match when both are unset or ``old_id`` maps consistently onto ``cur_id``."""
    if (old_id == 0) != (cur_id == 0):
        return False
    if old_id == 0:
        return True
    mapped = idmap.get(old_id)
    if mapped is None:
        if cur_id in idmap.values():
            return False
        idmap[old_id] = cur_id
        return True
    return mapped == cur_id


def regsafe(old: Reg, cur: Reg, idmap: dict[int, int]) -> bool:
    """``cur`` is a value ``old``'s verified continuation already covers."""
    if old.type == NOT_INIT:
        return True
    if cur.type == NOT_INIT:
        return False
    if old.type == SCALAR:
        return cur.type == SCALAR and cur.var.within(old.var)
    if (old.type, old.off, old.maybe_null, old.trusted, old.alloc, old.non_owning) != (
        cur.type,
        cur.off,
        cur.maybe_null,
        cur.trusted,
        cur.alloc,
        cur.non_owning,
    ):
        return False
    if (old.btf, old.map, old.frameno, old.subprog) != (cur.btf, cur.map, cur.frameno, cur.subprog):
        return False
    if not cur.var.within(old.var):
        return False
    if old.type == PTR_TO_PACKET and cur.range < old.range:
        return False
    return check_ids(old.id, cur.id, idmap) and check_ids(old.ref_obj_id, cur.ref_obj_id, idmap)


def _byte_safe(old: str, cur: str, cur_slot: Slot) -> bool:
    if old == STACK_INVALID:
        return True
    if old == STACK_MISC:
        spilled = cur_slot.spilled
        return cur in (STACK_MISC, STACK_ZERO) or (
            cur == STACK_SPILL and spilled is not None and spilled.type == SCALAR
        )
    if old == STACK_ZERO:
        spilled = cur_slot.spilled
        return cur == STACK_ZERO or (
            cur == STACK_SPILL and spilled is not None and spilled.is_null_const
        )
    return cur == old  # a spill or an iterator: the spilled values are compared by the caller


def stacksafe(old: dict[int, Slot], cur: dict[int, Slot], idmap: dict[int, int]) -> bool:
    for spi, old_slot in old.items():
        cur_slot = cur.get(spi, EMPTY_SLOT)
        if old_slot == cur_slot and old_slot.spilled is None:
            continue
        if old_slot.spilled is not None:
            if cur_slot.spilled is not None:
                if not regsafe(old_slot.spilled, cur_slot.spilled, idmap):
                    return False
                continue
            # a spilled scalar against plain bytes: zeros are the constant 0, other
            # initialized bytes are any value
            if cur_slot.kinds == STACK_ZERO * 8:
                if not regsafe(old_slot.spilled, _ZERO_REG, idmap):
                    return False
            elif old_slot.spilled != Reg.unknown() or STACK_INVALID in cur_slot.kinds:
                return False
            continue
        for o, c in zip(old_slot.kinds, cur_slot.kinds, strict=True):
            if not _byte_safe(o, c, cur_slot):
                return False
    return True


def states_equal(old: State, cur: State, pc: int, cfg: Cfg) -> bool:
    """True when ``cur`` at ``pc`` is subsumed by the explored ``old``."""
    if len(old.frames) != len(cur.frames) or old.lock != cur.lock or len(old.refs) != len(cur.refs):
        return False
    idmap: dict[int, int] = {}
    last = len(old.frames) - 1
    for i, (fo, fc) in enumerate(zip(old.frames, cur.frames, strict=True)):
        if fo.callsite != fc.callsite or fo.entry != fc.entry:
            return False
        live = (
            cfg.live_mask(pc)
            if i == last
            else cfg.live_mask(old.frames[i + 1].callsite + 1) & _CALLEE_SAVED
        )
        for r in range(10):
            if live >> r & 1 and not regsafe(fo.regs[r], fc.regs[r], idmap):
                return False
        if not stacksafe(fo.stack, fc.stack, idmap):
            return False
    return all(check_ids(ro.id, rc.id, idmap) for ro, rc in zip(old.refs, cur.refs, strict=True))


def loop_key(st: State) -> int:
    """A hash of what :func:`maybe_looping` compares, to skip most comparisons."""
    return hash((len(st.frames), *st.cur.regs))


def maybe_looping(old: State, cur: State) -> bool:
    """The innermost frames' registers are identical (the kernel's ``states_maybe_looping``)."""
    return len(old.frames) == len(cur.frames) and old.cur.regs == cur.cur.regs


def runtime_bounded(st: State) -> bool:
    """Inside an open iterator, a ``may_goto`` body or a callback: the run time bounds the loop.

    A state equal to one still being explored on its own path, on a cycle
    through the iterator's next call (or the ``may_goto``, or the callback's
    entry), is then the loop converging (the kernel's iterator rule), not an
    infinite loop; a cycle that avoids it still is one.
    """
    if st.may_goto_depth or any(f.callback is not None for f in st.frames):
        return True
    return any(
        slot.spilled is not None and slot.spilled.type == ITERATOR
        for frame in st.frames
        for slot in frame.stack.values()
    )
