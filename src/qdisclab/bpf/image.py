"""Linking: decoded, checked bytecode with every external reference bound.

Both engines start from the same :class:`Image`, so they see the same
functions, the same bound helpers and kfuncs and the same ``ld_imm64``
values; they differ only in how they execute it. Checks done here are the
structural ones the kernel's verifier does first (valid opcodes, jumps that
land on an instruction of the same function, calls to function starts,
every function ending in ``exit`` or ``goto``); a violation is a
:class:`~qdisclab.bpf.errors.BpfLoadError` naming program and slot.

>>> from qdisclab.bpf.asm import assemble
>>> img = link(assemble("r0 = 7\\nexit", name="seven"), TableResolver())
>>> img.functions, img.insns[0].imm
([0], 7)
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Mapping
from typing import TypeVar

from qdisclab.bpf import isa
from qdisclab.bpf.code import Code
from qdisclab.bpf.errors import BpfLoadError
from qdisclab.bpf.isa import Insn
from qdisclab.bpf.resolver import BpfFunction, Resolver, TableResolver

T = TypeVar("T")
CODE_REGION = 0xFFFF_FFFF  # region id of code addresses: never mapped as data
CODE_BASE = CODE_REGION << 32

_FUNCTION_ENDS = (isa.EXIT, isa.BPF_JMP | isa.BPF_JA, isa.BPF_JMP32 | isa.BPF_JA)

__all__ = ["CODE_BASE", "Image", "TableResolver", "func_address", "is_leaf", "leaf", "link"]

F = TypeVar("F")


def leaf(function: F) -> F:
    """Mark a helper or kfunc as a leaf: it never calls back into the program.

    The translator then needs neither the call depth nor the instruction
    count handed over around the call, and does not end a block there. A
    function not marked (``bpf_loop``, a callback-taking kfunc) is treated as
    one that may call back, which is always correct.

    >>> is_leaf(leaf(lambda vm, *regs: 0)), is_leaf(lambda vm, *regs: 0)
    (True, False)
    """
    function.bpf_leaf = True  # type: ignore[attr-defined]
    return function


def is_leaf(function: object) -> bool:
    """Whether ``function`` was marked with :func:`leaf`."""
    return getattr(function, "bpf_leaf", False) is True


def returns_address(function: F) -> F:
    """Mark a helper or kfunc whose result is NULL or an address qdisclab mapped.

    An address is a region's id shifted past its 32-bit offset, so adding a
    non-negative 32-bit constant to it (``&node->skb``) cannot pass 2**64:
    the translator writes that sum without its overflow test.

    >>> gives_address(returns_address(lambda vm, *regs: 0)), gives_address(lambda vm: 0)
    (True, False)
    """
    function.bpf_address = True  # type: ignore[attr-defined]
    return function


def gives_address(function: object) -> bool:
    """Whether ``function`` was marked with :func:`returns_address`."""
    return getattr(function, "bpf_address", False) is True


def keeps_views(function: F) -> F:
    """Mark a helper or kfunc that unmaps no struct view (it frees no skb, say).

    What the callback's own code knew before the call, such as the object
    its skb argument's address names, the translator still knows after it.

    >>> leaves_views_mapped(keeps_views(lambda vm, *regs: 0)), leaves_views_mapped(len)
    (True, False)
    """
    function.bpf_keeps_views = True  # type: ignore[attr-defined]
    return function


def leaves_views_mapped(function: object) -> bool:
    """Whether ``function`` was marked with :func:`keeps_views`."""
    return getattr(function, "bpf_keeps_views", False) is True


def inline(
    function: F,
    template: str,
    state: object,
    names: Mapping[str, object] | None = None,
    keeps: Mapping[str, object] | None = None,
) -> F:
    """Mark a leaf whose common case the translator writes in place of the call.

    ``template`` is Python lines using the argument registers ``r1``–``r5``
    and setting ``r0``, with ``{S}`` for ``state`` (bound once when the
    program is built; an attribute named as ``{S}.name`` is read then too,
    so it must stay the same object), ``{PC}`` for the calling instruction's slot (to stamp
    a fault raised in place: ``raise at(fault, {PC})``) and a line ``{CALL}``
    where the call of ``function`` itself goes: the uncommon case (a fault,
    or rare work) stays in one place. ``names`` are further globals the
    template uses (classes, constants), bound in the translated program's
    module. ``keeps`` are locals the template reads before it sets them, kept
    from one call to the next within a run (what the last call found), each
    with its value at the start of a translated function. The reference
    interpreter always makes the call.

    >>> f = inline(leaf(lambda vm, *regs: 0), "r0 = len({S})", [1, 2])
    >>> inline_spec(f)
    ('r0 = len({S})', [1, 2], {}, {})
    """
    spec = (template, state, dict(names or {}), dict(keeps or {}))
    function.bpf_inline = spec  # type: ignore[attr-defined]
    return leaf(function)


#: How the in-place code of ``bpf_spin_lock`` and ``bpf_spin_unlock`` (kfunc_binding's
#: templates) takes and gives the lock: the translator pairs a block's lock with its
#: unlock by these statements (codegen's held locks), so both sides name them from here.
SPIN_LOCK_TAKE = "{S}.locks.add(r1)"
SPIN_UNLOCK_GIVE = "{S}.locks.remove(r1)"
#: How in-place code finds the SkBuff whose view address is in an argument register
#: (``{reg}``): where the register holds the callback's own skb argument, the translator
#: writes that skb instead.
SKB_AT = "{{S}}.skbs.get({reg})"


def inline_spec(
    function: object,
) -> tuple[str, object, Mapping[str, object], Mapping[str, object]] | None:
    """``(template, state, names, keeps)`` of a function marked with :func:`inline`, else None."""
    spec = getattr(function, "bpf_inline", None)
    return spec if isinstance(spec, tuple) else None


def func_address(slot: int) -> int:
    """The code address ``ld_imm64`` pseudo func gives for a function at ``slot``."""
    return CODE_BASE | slot * isa.INSN_SIZE


class Image:
    """A linked program: instructions, function entries and bound references.

    ``functions`` are the entry slots, sorted, ``0`` first; ``calls`` maps a
    call slot to its bound helper or kfunc and ``call_names`` to its name;
    ``constants`` maps an ``ld_imm64`` slot to its value.
    """

    __slots__ = (
        "at",
        "call_names",
        "calls",
        "code",
        "constants",
        "function_end",
        "functions",
        "insns",
        "name",
    )

    def __init__(self, code: Code) -> None:
        self.code = code
        self.name = code.name
        self.insns: list[Insn] = isa.decode(code.insns, code.name)
        self.at: dict[int, Insn] = {i.slot: i for i in self.insns}
        self.functions: list[int] = [0]
        self.function_end: dict[int, int] = {}
        self.calls: dict[int, BpfFunction] = {}
        self.call_names: dict[int, str] = {}
        self.constants: dict[int, int] = {}

    def function_of(self, slot: int) -> int:
        """The entry slot of the function holding ``slot``."""
        return self.functions[bisect.bisect_right(self.functions, slot) - 1]

    def error(self, slot: int, message: str) -> BpfLoadError:
        return BpfLoadError(self.name, f"insn {slot}: {message}")


def link(code: Code, resolver: Resolver) -> Image:
    """Decode and check ``code`` and bind its references through ``resolver``."""
    img = Image(code)
    if not img.insns:
        raise BpfLoadError(code.name, "program has no instructions")
    entries = {0}
    for insn in img.insns:
        reason = isa.invalid_reason(insn)
        if reason:
            raise img.error(insn.slot, reason)
        if (insn.code == isa.CALL and insn.src == isa.BPF_PSEUDO_CALL) or (
            insn.code == isa.LD_IMM64 and insn.src == isa.BPF_PSEUDO_FUNC
        ):
            target = isa.jump_target(insn)
            if target not in img.at:
                raise img.error(insn.slot, f"call to slot {target}, not an instruction")
            entries.add(target)
    img.functions = sorted(entries)
    ends = [*img.functions[1:], code.slots]
    slots = [i.slot for i in img.insns]
    for entry, end in zip(img.functions, ends, strict=True):
        img.function_end[entry] = end
        last = img.insns[bisect.bisect_left(slots, end) - 1]
        if last.code not in _FUNCTION_ENDS:
            raise img.error(last.slot, "last insn of a function is not an exit or jmp")
    for insn in img.insns:
        _bind(img, insn, resolver)
    return img


def _bind(img: Image, insn: Insn, resolver: Resolver) -> None:
    slot = insn.slot
    name = img.code.symbols.get(slot)
    if isa.is_branch(insn):
        target = isa.jump_target(insn)
        func = img.function_of(slot)
        if target not in img.at or not func <= target < img.function_end[func]:
            raise img.error(slot, f"jump out of range to slot {target}")
    elif insn.code == isa.CALL:
        if insn.src == isa.BPF_PSEUDO_KFUNC_CALL:
            if name is None:
                raise img.error(slot, f"kfunc call (btf id {insn.imm}) has no name")
            img.calls[slot] = _named(img, slot, lambda: resolver.kfunc(name))
            img.call_names[slot] = name
        elif insn.src == 0:
            img.calls[slot] = _named(img, slot, lambda: resolver.helper(insn.imm))
            img.call_names[slot] = name or f"helper #{insn.imm}"
    elif insn.code == isa.LD_IMM64:
        if insn.src == isa.BPF_PSEUDO_FUNC:
            img.constants[slot] = func_address(slot + 1 + insn.imm)
        elif insn.src:
            value = _named(
                img, slot, lambda: resolver.pseudo_imm64(insn.src, insn.imm, insn.next_imm, name)
            )
            img.constants[slot] = value & 0xFFFF_FFFF_FFFF_FFFF
        else:
            img.constants[slot] = insn.imm64


def _named(img: Image, slot: int, bind: Callable[[], T]) -> T:
    """``bind()``, with a load error it raises pinned to ``slot``."""
    try:
        return bind()
    except BpfLoadError as exc:
        raise img.error(slot, str(exc)) from None
