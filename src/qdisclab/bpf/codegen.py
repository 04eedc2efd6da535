"""Python source for a linked BPF program: what :mod:`qdisclab.bpf.translate` compiles.

Each BPF function becomes one Python function whose registers are locals
and whose ALU operations are inline expressions with their masks. A
function without a jump back is a tree of paths: a conditional jump is an
``if`` holding the path taken, which ends in a ``return``, and a block
reached on several paths is written on each (see
:meth:`_Function._tree_fits`). Otherwise basic blocks are ``if L <= <slot>:``
sections in slot order, so falling through costs one comparison (none for a
block no forward jump passes over), a forward jump sets ``L`` and a
backward jump also ``continue``s the function's loop. In an entry that
counts no budget, a move of a constant, a register or an argument is held
back and its value written where the register is read, so a register no
code reads is never assigned (see :meth:`_Function.held_back`). A register known below 2**32 in its block (an ALU32
result, a narrow load) is used without its 32-bit mask; a spin lock taken
and released within one block of an entry is held in a local (see
:meth:`_Function._held_locks`). Stack accesses through R10 with a
constant offset are checked here and go straight to the frame's bytes;
other accesses read and write plain byte regions in place through the
memory's id-to-bytes tables (a base register's region is looked up once
per block), struct-view fields through the view's precompiled access table,
and fall back to :class:`~qdisclab.bpf.memory.Memory` for faults. A call of
a leaf helper or kfunc (:func:`~qdisclab.bpf.image.leaf`) is a plain call
inside its block. The instruction budget is counted per block; a block that
would cross it calls ``slow``, which finishes it on the interpreter; an
entry function that cannot cross it counts nothing.

>>> from qdisclab.bpf.asm import assemble
>>> from qdisclab.bpf.image import link
>>> from qdisclab.bpf.resolver import TableResolver
>>> src = program_source(link(assemble("r0 = r1\\nw0 += 1\\nexit"), TableResolver()))
>>> "r0 += 0x1" in src and "if r0 > 0xffffffff: r0 &= 0xffffffff" in src
True
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Callable
from collections.abc import Set as AbstractSet
from typing import Any, Protocol

from qdisclab.bpf import isa
from qdisclab.bpf.image import (
    SKB_AT,
    SPIN_LOCK_TAKE,
    SPIN_UNLOCK_GIVE,
    Image,
    gives_address,
    inline_spec,
    is_leaf,
    leaves_views_mapped,
)
from qdisclab.bpf.isa import M64, Insn
from qdisclab.bpf.liveness import live_in, use_def
from qdisclab.bpf.memory import Field, StructView, ignored_write
from qdisclab.bpf.proven import BYTES, CTX, STRUCT, Access, Proven
from qdisclab.bpf.wrap import CallbackWrap

_M = {1: 0xFF, 2: 0xFFFF, 4: 0xFFFF_FFFF, 8: M64}
_SIGN = {1: 0x80, 2: 0x8000, 4: 0x8000_0000, 8: 0x8000_0000_0000_0000}
_UFMT = {1: "B", 2: "H", 4: "I", 8: "Q"}
_SFMT = {1: "b", 2: "h", 4: "i"}
_CMP = {
    isa.BPF_JEQ: "==", isa.BPF_JNE: "!=", isa.BPF_JGT: ">", isa.BPF_JGE: ">=",
    isa.BPF_JLT: "<", isa.BPF_JLE: "<=", isa.BPF_JSGT: ">", isa.BPF_JSGE: ">=",
    isa.BPF_JSLT: "<", isa.BPF_JSLE: "<=",
}  # fmt: skip
_SIGNED_JUMPS = (isa.BPF_JSGT, isa.BPF_JSGE, isa.BPF_JSLT, isa.BPF_JSLE)


def sdiv(a: int, b: int, bits: int) -> int:
    sign, mask = 1 << (bits - 1), (1 << bits) - 1
    sa, sb = ((a & mask) ^ sign) - sign, ((b & mask) ^ sign) - sign
    if sb == 0:
        return 0
    q = abs(sa) // abs(sb)
    return (q if (sa < 0) == (sb < 0) else -q) & mask


def smod(a: int, b: int, bits: int) -> int:
    sign, mask = 1 << (bits - 1), (1 << bits) - 1
    sa, sb = ((a & mask) ^ sign) - sign, ((b & mask) ^ sign) - sign
    if sb == 0:
        return a & mask
    r = abs(sa) % abs(sb)
    return (-r if sa < 0 else r) & mask


class _Function:
    """Source of one BPF function."""

    def __init__(self, tr: _Source, entry: int, end: int) -> None:
        self.tr, self.entry, self.end = tr, entry, end
        img = tr.image
        self.insns = [i for i in img.insns if entry <= i.slot < end]
        leaders = {entry}
        for i in self.insns:
            target = isa.jump_target(i)
            if isa.is_branch(i):
                leaders.add(target)  # type: ignore[arg-type]
            if isa.is_branch(i) or i.code == isa.EXIT or (i.code == isa.CALL and not tr.leaf(i)):
                leaders.add(i.slot + i.width)
        self.leaders = sorted(s for s in leaders if entry <= s < end)
        self.backward = any(
            isa.is_branch(i) and isa.jump_target(i) <= i.slot  # type: ignore[operator]
            for i in self.insns
        )
        # Straight-line code calling only leaf functions runs each instruction at most
        # once: when the function is no longer than the budget, no run can cross it.
        self.bounded = not self.backward and len(self.insns) <= tr.budget
        self.bounded &= all(tr.leaf(i) for i in self.insns if i.code == isa.CALL)
        self.uses_may_goto = any(i.code == isa.BPF_JMP | isa.BPF_JCOND for i in self.insns)
        # Blocks that a forward jump passes over: only these test ``L`` first.
        self.skipped = {
            b
            for i in self.insns
            if isa.is_branch(i)
            for b in self.leaders
            if i.slot < b < isa.jump_target(i)  # type: ignore[operator]
        }
        self.lines: list[str] = []
        self.block = entry
        self.objects_named = 0
        self.ctx_variant = False
        self.ctx_loads: dict[int, int] = {}
        self.tree = False
        self.stk = "stk"
        self.stack_locals: set[int] = set()  # frame offsets held in locals (_stack_locals)
        self.pending: dict[int, str] | None = None
        self.zero_result = False

    def source(self, entry: bool = False, ctx: bool = False) -> list[str]:
        """The Python function; ``entry``: the program's own ``run`` instead.

        A BPF function ``f<slot>(r1..r5, depth, steps)`` returns
        ``(r0, steps)``. The entry variant of the main function is what
        ``Translated.run`` is: R1–R5 default to 0 and are taken modulo
        2**64, it returns R0, and a fault leaves it annotated with the
        program and source line — one Python call per run.
        """
        self.ret = "return r0" if entry else "return r0, steps"
        self.ctx_variant = ctx
        self.wrap = self.tr.wrap if ctx else None  # the callback's own code around it
        self.called = False  # a call was written on the path so far (see _known_object)
        # Registers holding NULL or a mapped address (image.returns_address): known along
        # a tree's path, else per block.
        self.addresses: set[int] = set()
        # Registers written other than by loading an argument: they may not hold it.
        self.rewritten = 0
        for i in self.insns:
            if not (ctx and i.slot in self.ctx_loads):
                self.rewritten |= use_def(i)[1]
        counted = not (entry and self.bounded)  # the entry's count is seen by nobody else
        self.held: dict[int, tuple[int, str]] = {}  # lock slot -> (its unlock, the lock set)
        self.holding: dict[int, int] = {}  # unlock slot -> its lock's slot
        # Locks whose local is set only around the calls in their section (_held_locks),
        # and those calls' slots -> (the local, the lock's address).
        self.quiet: set[int] = set()
        self.guarded: dict[int, tuple[str, str]] = {}
        base = "        " + ("    " if entry else "")
        loop = base
        body_out: list[str] = []
        if self.backward:
            body_out.append(f"{base}while True:")
            loop += "    "
        by_block: dict[int, list[Insn]] = {b: [] for b in self.leaders}
        for i in self.insns:
            by_block[self.leaders[bisect.bisect_right(self.leaders, i.slot) - 1]].append(i)
        self.by_block = by_block
        self.tree = self._tree_fits()
        # Register writes held back until read (see _Function.held_back): without slow(),
        # nothing but the code written here reads a register.
        self.pending = None
        self.arg_registers: dict[int, int] = {}
        self.stk = "stk0" if entry else "stk"
        if self.tree and not counted:
            self.pending = {r: "0x0" for r in (0, 6, 7, 8, 9)} | {10: "fp0"}
            if ctx:
                self.pending.update({r: "0x0" for r in (2, 3, 4, 5)})
                self.arg_registers = self._arg_registers()
                for k, r in self.arg_registers.items():
                    del self.pending[r]
                    if self.wrap is not None:  # its value held back: no parameter to read
                        self.pending[r] = self.wrap.args[k]
        self.stack_locals = self._stack_locals() if self.wrap is not None else set()
        if self.tree:
            self._path(self.entry, base, body_out, counted)
        for start in [] if self.tree else self.leaders:
            self._block(start, counted)
            # A block runs unless a jump went past it: the first one only after a loop's
            # jump back, any other one where some forward jump skips it.
            skipped = self.backward or start in self.skipped
            first = start == self.entry and not self.backward
            head = f"{loop}if L <= {start}:" if skipped and not first else None
            indent = loop + ("    " if head else "")
            if head:
                body_out.append(head)
            body_out.extend(indent + line for line in self.lines)
        used = set(_NAME.findall("\n".join(body_out)))
        out = self._prologue(entry, base, used, counted)
        out.extend(body_out)
        if entry:
            out.append("        except BpfFault as e:")
            for lock, (_, locks) in self.held.items():  # a fault leaves the lock held
                out.append(f"            if h{lock}: {locks}.add(h{lock})")
            fault = (
                "annotate(e)" if self.wrap is None else self.wrap.fault.format(fault="annotate(e)")
            )
            out.append(f"            raise {fault} from None")
        return out

    def _stack_locals(self) -> set[int]:
        """Frame offsets of stack slots held in locals (``sl<offset>``) instead of the bytes.

        In a callback's own function with no ``slow()`` (nothing else reads its frame,
        and the verifier proved no slot is read before it is written), when R10 is
        only ever the base of plain loads and stores of constant offsets — no pointer
        into the frame escapes to a register or a call — and every access of a slot
        has the same width and overlaps no other slot, the slot is a local: a store
        is an assignment, a load a read, and no bytes are packed or unpacked.
        """
        if self.pending is None or self.tr.proven is None:
            return set()
        widths: dict[int, int] = {}
        for i in self.insns:
            uses, _ = use_def(i)
            cls, mode = i.code & 0x07, i.code & 0xE0
            if cls in (isa.BPF_LDX, isa.BPF_ST, isa.BPF_STX) and mode == isa.BPF_MEM:
                base = i.src if cls == isa.BPF_LDX else i.dst
                size = isa.SIZE_BYTES[i.code & 0x18]
                at = self.tr.stack_offset(base, i.off, size)
                if cls == isa.BPF_STX and i.src == 10:
                    return set()  # the frame pointer itself stored
                if base == 10:
                    if at is None or widths.setdefault(at, size) != size:
                        return set()
                    continue
            if uses >> 10 & 1:
                return set()
        spans = sorted(widths.items())
        if any(o + w > spans[k + 1][0] for k, (o, w) in enumerate(spans[:-1])):
            return set()
        return set(widths)

    def _block(self, start: int, counted: bool) -> None:
        """The lines of the block at ``start`` (in ``self.lines``), but for a tree's branch."""
        body = self.by_block[start]
        self.block = start
        if not self.tree and start != self.entry:  # reached on paths not followed here
            self.called = True
        self.lines = []
        self.branch: tuple[str, int] | None = None
        self.cached: dict[tuple[object, ...], bool | str] = {}
        self.narrow: set[int] = set()  # registers known below 2**32 here (see _narrows)
        if not self.tree:
            self.addresses = set()
        self.deferred, self.chains, self.starts = self._kept_chains(body)
        if not counted:  # no slow(): nothing but a fault leaves the block half run
            self._held_locks(body)
        n = len(body)
        if counted:
            self.emit(f"steps += {n}")
            self.emit("if steps > budget:")
            self.emit(f"    slow({start}, depth, steps - {n}, {self._mg()}, {_REGS})")
        for insn in body:
            if insn.slot in self.deferred:
                self.defer(insn)
            else:
                self.insn(insn)
        self._join_misses()

    def _join_misses(self) -> None:
        """One ``if x is None:`` for adjacent reference paths of the same object lookup.

        Kept counters' updates of one object (:meth:`_kept_chains`) each test
        the lookup; the name is assigned only by the lookup, so two tests in a
        row, the first with no ``else``, are one.
        """
        lines, k = self.lines, 0
        # A known object's name (_known_object) is assigned by nothing in the function.
        known = {f"if {o[1]} is None:" for o in self.wrap.objects.values()} if self.wrap else set()
        while k < len(lines):
            if _MISS.fullmatch(lines[k]) or lines[k] in known:
                end = k + 1
                while end < len(lines) and lines[end].startswith("    "):
                    end += 1
                if end < len(lines) and lines[end] == lines[k]:
                    del lines[end]
                    continue
            k += 1

    def _successors(self, start: int) -> tuple[int, ...] | None:
        """Where control goes after the block at ``start`` (a taken jump first); None: off the end."""
        last = self.by_block[start][-1]
        after = last.slot + last.width
        if last.code == isa.EXIT:
            return ()
        if isa.is_branch(last):
            target = isa.jump_target(last)
            assert target is not None
            if last.code & 0xF0 == isa.BPF_JA:
                return (target,)
            return (target, after) if after < self.end else None
        return (after,) if after < self.end else None

    def _tree_fits(self) -> bool:
        """Whether the function is written as a tree of paths (see :meth:`_path`).

        Without a jump back, each block can be written once on every path that
        reaches it: a conditional jump is then an ``if`` holding the taken path,
        which ends in a ``return``, followed by the path that falls through —
        no ``L`` to set or test. Blocks reached on several paths are written once
        per path, so the tree is taken only while it stays within a few times
        the function's length.
        """
        if self.backward or self.uses_may_goto:
            return False
        sizes: dict[int, int] = {}
        for start in reversed(self.leaders):  # a successor comes after its block
            after = self._successors(start)
            if after is None or any(s not in sizes for s in after):
                return False
            sizes[start] = len(self.by_block[start]) + sum(sizes[s] for s in after)
        return sizes[self.entry] <= _TREE_GROWTH * len(self.insns) + _TREE_SLACK

    def _path(self, start: int, indent: str, out: list[str], counted: bool) -> None:
        """The code of every path from the block at ``start``, each ending in a ``return``."""
        while True:
            self._block(start, counted)
            out.extend(indent + line for line in self.lines)
            after = self._successors(start)
            assert after is not None
            if not after:
                return
            if self.branch is not None:  # the taken path nested, then the one falling through
                test, target = self.branch
                out.append(f"{indent}if {test}:")
                saved = None if self.pending is None else dict(self.pending)
                called, addresses = self.called, set(self.addresses)
                self._path(target, indent + "    ", out, counted)
                self.pending, self.called, self.addresses = saved, called, addresses
                start = after[1]
            else:
                start = after[0]

    def _arg_registers(self) -> dict[int, int]:
        """Arguments that ``run_ctx`` takes as the registers they are loaded into.

        When the entry block loads argument ``k`` into ``R<d>`` once, ``R<d>``
        is not read before it is written (not live at the entry) and nothing
        writes it before that load, the parameter is named ``r<d>``: the load
        is then no code at all.
        """
        live = self.tr.live
        if live is None:
            return {}
        loads = [(slot, k) for slot, k in sorted(self.ctx_loads.items())]
        by_slot = {i.slot: i for i in self.by_block[self.entry]}
        written = 0
        dsts: dict[int, list[int]] = {}
        args: dict[int, list[int]] = {}
        for i in self.by_block[self.entry]:
            if i.slot in self.ctx_loads:
                if not written >> i.dst & 1:
                    dsts.setdefault(i.dst, []).append(i.slot)
                args.setdefault(self.ctx_loads[i.slot], []).append(i.slot)
            written |= use_def(i)[1]
        out: dict[int, int] = {}
        for slot, k in loads:
            d = by_slot[slot].dst
            if (
                d != 1
                and args[k] == [slot]
                and dsts.get(d) == [slot]
                and not live.get(self.entry, -1) >> d & 1
            ):
                out[k] = d
        return out

    def held_back(self, i: Insn) -> bool:
        """Hold back a move of a constant, a register or a callback's argument into ``i.dst``.

        Its value is noted instead (``self.pending``) and written into code that
        reads the register; the register itself is assigned only before code that
        reads it otherwise (``_read``), or before the source is written (``_write``).
        A write that nothing reads is then never done: the arguments of a call
        written in place, a lock's address, the zeros a register starts with.
        """
        p = self.pending
        assert p is not None
        cls, op = i.code & 0x07, i.code & 0xF0
        value = None
        if self.ctx_variant and i.slot in self.ctx_loads:
            if self.arg_registers.get(self.ctx_loads[i.slot]) == i.dst:
                self.wrote(i.dst)  # the parameter itself (_arg_registers)
                return True
            value = f"a{self.ctx_loads[i.slot]}"
        elif i.code == isa.LD_IMM64:
            value = f"{self.tr.image.constants[i.slot]:#x}"
        elif cls in (isa.BPF_ALU, isa.BPF_ALU64) and op == isa.BPF_MOV and not i.off:
            if not i.code & isa.BPF_X:
                value = f"{i.imm64 & (M64 if cls == isa.BPF_ALU64 else 0xFFFF_FFFF):#x}"
            elif cls == isa.BPF_ALU64 or i.src in self.narrow:
                value = p.get(i.src, f"r{i.src}")
        if value is None:
            return False
        self._write(1 << i.dst)
        p[i.dst] = value
        self.wrote(i.dst)
        if re.fullmatch(r"r\d+", value) and int(value[1:]) in self.addresses:
            self.addresses.add(i.dst)  # a copy of an address
        return True

    def _folded(self, i: Insn) -> bool:
        """An ALU operation on a held-back register, written as one assignment from its value.

        ``r1 = r6; r1 += 0x18`` is ``r1 = r6 + 0x18``: the held-back move is not
        written at all. A held-back source is read through its value as well.
        """
        p, cls, d = self.pending, i.code & 0x07, i.dst
        if cls not in (isa.BPF_ALU, isa.BPF_ALU64) or p is None or d not in p:
            return False
        lines = _alu(i, self.narrow, self.addresses)
        name = f"r{d}"
        aug = re.fullmatch(rf"{name} (\S+)= (.+)", lines[0])
        if aug is not None:
            first = f"{name} = {name} {aug[1]} {aug[2]}"
        elif lines[0].startswith(name + " = "):
            first = lines[0]
        else:
            return False
        head, _, value = first.partition(" = ")
        src = 1 << i.src if i.code & isa.BPF_X and i.src != d else 0
        self.emit(f"{head} = {self._through(value, 1 << d | src)}")
        for line in lines[1:]:
            self.emit(self._through(line, src))
        p.pop(d)  # held back, so no other value names the register (held_back)
        self.wrote(d)
        if self._narrows(i):
            self.narrow.add(d)
        return True

    def _on_stack(self, i: Insn) -> bool:
        """Whether ``i`` is a plain load or store of the frame through R10 (see ``stack_offset``)."""
        cls, mode = i.code & 0x07, i.code & 0xE0
        if cls not in (isa.BPF_LDX, isa.BPF_ST, isa.BPF_STX) or mode == isa.BPF_ATOMIC:
            return False
        reg = i.src if cls == isa.BPF_LDX else i.dst
        return self.tr.stack_offset(reg, i.off, isa.SIZE_BYTES[i.code & 0x18]) is not None

    def _through(self, text: str, regs: int) -> str:
        """``text`` reading the held-back values of the registers of mask ``regs``."""
        p = self.pending
        assert p is not None
        return _REG.sub(lambda m: p.get(int(m[1]), m[0]) if regs >> int(m[1]) & 1 else m[0], text)

    def _read(self, regs: int) -> None:
        """Assign the held-back registers of mask ``regs``: code is about to read them."""
        p = self.pending
        for r in sorted(p or ()):
            if regs >> r & 1:
                self.emit(f"r{r} = {p.pop(r)}")  # type: ignore[union-attr]

    def _write(self, regs: int) -> None:
        """Before code writes the registers of mask ``regs``: assign those holding their copies."""
        p = self.pending
        if not p:
            return
        names = {f"r{r}" for r in range(11) if regs >> r & 1}
        for r in sorted(p):
            if p[r] in names:
                self.emit(f"r{r} = {p.pop(r)}")
        for r in range(11):
            if regs >> r & 1:
                p.pop(r, None)

    def read(self, text: str) -> str:
        """``text`` reading the held-back registers' values instead of the registers."""
        p = self.pending
        if not p:
            return text
        return _REG.sub(lambda m: p.get(int(m[1]), m[0]), text)

    def _held_locks(self, body: list[Insn]) -> None:
        """Pair each ``bpf_spin_lock`` of a constant lock with its unlock in the block.

        Only the lock and unlock kfuncs read the set of held locks, so between a
        lock and the unlock of the same lock further on in the block, with only
        other kfuncs written in place in between, the lock needs to be in the set
        only if a fault ends the run there: the lock tests that the lock is free
        and notes it in a local (``h<slot>``), the unlock clears the local, and the
        entry's fault handler puts a lock still noted into the set, as the calls
        would have left it. When nothing in between can fault but those kfuncs'
        calls (the rest is ALU and stack work), the local is set only around
        each call, and the common case does not touch it at all.
        """
        calls, consts = self.tr.image.calls, self.tr.image.constants

        def lock_of(k: int, marker: str) -> tuple[int, Any] | None:
            """(lock, state) of a lock or unlock written in place, its R1 a constant."""
            i, spec = body[k], inline_spec(calls.get(body[k].slot))
            if i.code != isa.CALL or i.src == isa.BPF_PSEUDO_CALL or spec is None or k == 0:
                return None
            before = body[k - 1]
            if before.code != isa.LD_IMM64 or before.dst != 1 or marker not in spec[0]:
                return None
            return consts[before.slot], spec[1]

        for k in range(len(body)):
            lock = lock_of(k, SPIN_LOCK_TAKE)
            if lock is None:
                continue
            inside: list[int] = []  # the kfuncs' calls in between
            quiet = True  # nothing else in between can fault
            for j in range(k + 1, len(body)):
                i = body[j]
                if i.code != isa.CALL:
                    quiet = quiet and self._pure(i)
                    continue
                unlock = lock_of(j, SPIN_UNLOCK_GIVE)
                if unlock is not None and unlock == lock:
                    slot = body[k].slot
                    locks = self.tr.bind(f"s{slot}_locks", lock[1].locks)
                    self.held[slot] = (i.slot, locks)
                    self.holding[i.slot] = slot
                    if quiet:
                        self.quiet.add(slot)
                        self.guarded.update(dict.fromkeys(inside, (f"h{slot}", f"{lock[0]:#x}")))
                    break
                inside.append(i.slot)
                spec = inline_spec(calls.get(i.slot))
                if i.src == isa.BPF_PSEUDO_CALL or spec is None or "{S}.locks" in spec[0]:
                    break  # it may look at the held locks

    def _kept_chains(self, body: list[Insn]) -> tuple[set[int], dict[int, list[Insn]], set[int]]:
        """Updates of a counter qdisclab keeps (``sch->q.qlen++``) whose result nothing reads.

        A proven store to a kept counter is skipped (see :meth:`store`); when the
        value it stores is dead after it and was computed in the same block from
        a proven load of a field of the same object by ALU steps alone (and stack
        loads only they read), with only stack and ALU work in between, the load
        and the steps are needed only on
        the reference path (the object not found): they move there, into the
        store's ``None`` branch, and the fast path does none of them. Returns the
        slots moved, by store slot the instructions moved there in order, and the
        slots of the counters' own loads (whose object the store tests).
        """
        deferred: set[int] = set()
        chains: dict[int, list[Insn]] = {}
        starts: set[int] = set()
        live = self.tr.live
        if live is None:
            return deferred, chains, starts
        for k, st in enumerate(body):
            chain = self._kept_chain(body, k, st, live)
            if chain:
                chains[st.slot] = chain
                deferred.update(i.slot for i in chain)
                starts.update(
                    i.slot for i in chain if i.code & 0x07 == isa.BPF_LDX and i.dst == st.src
                )
        return deferred, chains, starts

    def _kept_chain(self, body: list[Insn], k: int, st: Insn, live: dict[int, int]) -> list[Insn]:
        if st.code & 0x07 != isa.BPF_STX or st.code & 0xE0 != isa.BPF_MEM:
            return []
        fact = self.tr.fact(st.slot)
        size = isa.SIZE_BYTES[st.code & 0x18]
        x, base = st.src, st.dst
        if fact is None or fact.kind != STRUCT or x in (base, 10):
            return []
        if (
            self.tr.field_store(fact, st.off, size, st.slot) != ""
            or live.get(st.slot + 1, -1) >> x & 1
        ):
            return []
        later = reads = 0  # registers written and read after the instruction looked at, up to st
        needed = 0  # registers the steps read that a load may feed them
        stored = False  # whether anything after it stores (to the stack: it is pure)
        steps: list[Insn] = []
        start: Insn | None = None  # the field's load, once found
        feeds: list[Insn] = []  # the loads before it that only the steps read
        for j in range(k - 1, -1, -1):
            i = body[j]
            if start is not None and not needed:
                break
            uses, defs = use_def(i)
            cls = i.code & 0x07
            busy = later | reads | live.get(st.slot + 1, -1)
            if self._feeds(i, needed, busy, later | 1 << x, stored):
                (steps if start is None else feeds).append(i)  # it moves with the steps
                needed &= ~(1 << i.dst)
                continue
            if start is not None:  # before the field's load: what leaves the needed alone
                if (uses | defs) & needed or not self._pure(i):
                    break
            elif cls == isa.BPF_LDX and i.dst == x:  # the chain's start: the field's value
                found = self.tr.fact(i.slot)
                if (
                    i.code & 0xE0 != isa.BPF_MEM
                    or i.src != base
                    or later >> base & 1
                    or found is None
                    or (found.kind, found.struct, found.delta) != (STRUCT, fact.struct, fact.delta)
                    or self.tr.field_load(found, i.off, isa.SIZE_BYTES[i.code & 0x18], i.slot)
                    is None
                ):
                    return []
                start = i
            elif cls in (isa.BPF_ALU, isa.BPF_ALU64) and i.dst == x:
                # A step reads what it reads at st's place: nothing may write that between.
                if i.code & 0xF0 == isa.BPF_MOV or uses & ~(1 << x) & later:
                    return []
                steps.append(i)
                needed |= uses & ~(1 << x)
                continue
            elif (uses | defs) >> x & 1 or not self._pure(i):
                return []
            later |= defs
            reads |= uses
            stored |= cls in (isa.BPF_ST, isa.BPF_STX)
        return [] if start is None else [*reversed(feeds), start, *reversed(steps)]

    def _feeds(self, i: Insn, needed: int, busy: int, written: int, stored: bool) -> bool:
        """Whether load ``i`` feeds only a kept counter's update (:meth:`_kept_chain`).

        ``needed``: registers the update's steps after ``i`` read; ``busy``: those
        anything else reads or writes after ``i`` (or reads after the update);
        ``written``: those written after ``i``, up to the update; ``stored``:
        something after ``i`` stores, which may change what it loads. A stack
        load qualifies, and so does a proven load of a modelled field of another
        object whose pointer stays put (``sch->qstats.backlog -= skb->len``): the
        verifier proved it cannot fault, so the fast path, which does not need
        its value, may skip it as it skips the rest of the update.
        """
        y = i.dst
        if (
            i.code & 0x07 != isa.BPF_LDX
            or i.code & 0xE0 != isa.BPF_MEM
            or not needed >> y & 1
            or busy >> y & 1
            or stored
        ):
            return False
        size = isa.SIZE_BYTES[i.code & 0x18]
        if self.tr.stack_offset(i.src, i.off, size) is not None:
            return True
        fact = self.tr.fact(i.slot)
        return (
            fact is not None
            and fact.kind == STRUCT
            and i.src != 10
            and not written >> i.src & 1
            and self.tr.field_load(fact, i.off, size, i.slot) is not None
        )

    def _pure(self, i: Insn) -> bool:
        """Whether ``i`` can neither fault nor touch memory outside its own stack frame."""
        cls = i.code & 0x07
        if cls in (isa.BPF_ALU, isa.BPF_ALU64) or i.code == isa.LD_IMM64:
            return True
        if cls == isa.BPF_LDX and i.code & 0xE0 == isa.BPF_MEM:
            return self.tr.stack_offset(i.src, i.off, isa.SIZE_BYTES[i.code & 0x18]) is not None
        if cls in (isa.BPF_ST, isa.BPF_STX) and i.code & 0xE0 == isa.BPF_MEM:
            return self.tr.stack_offset(i.dst, i.off, isa.SIZE_BYTES[i.code & 0x18]) is not None
        return False

    def defer(self, i: Insn) -> None:
        """An instruction of a kept counter's update: only its object is looked up here."""
        if self.pending is not None:  # the update reads the others at the store, unchanged
            uses, defs = use_def(i)
            self._read(uses & ~(1 << i.dst) & ~(self._on_stack(i) << 10))
            self._write(defs)
        fact = self.tr.fact(i.slot) if i.slot in self.starts else None
        if fact is not None and fact.kind == STRUCT:  # the object the update's store tests
            self.proven_object(i.src, fact.struct, fact.delta)
        self.wrote(i.dst)

    def ctx_arg_loads(self, nargs: int) -> dict[int, int] | None:
        """Slot -> argument index of the entry block's loads of the callback's arguments.

        For a struct_ops entry (the context is the array of the callback's
        ``nargs`` u64 arguments): when the verifier proved each load reading R1's
        incoming value to be ``*(u64 *)(r1 + 8 * k)`` of the context, and nothing
        else reads it, ``run_ctx`` takes the arguments themselves and the context's
        bytes are never read. None when any other use of R1 (or no proof) is found.
        """
        proven, live = self.tr.proven, self.tr.live
        if proven is None or not proven.ctx_bytes or live is None or not self.bounded:
            return None
        block_end = self.leaders[1] if len(self.leaders) > 1 else self.end
        loads: dict[int, int] = {}
        for i in self.insns:
            if i.slot >= block_end:
                break
            uses, defs = use_def(i)
            if uses & 0b10:
                fact = proven.accesses.get(i.slot)
                if (
                    i.code != isa.BPF_LDX | isa.BPF_MEM | isa.BPF_DW
                    or i.src != 1
                    or fact is None
                    or fact.kind != CTX
                    or i.off % 8
                    or not 0 <= i.off < 8 * nargs
                ):
                    return None
                loads[i.slot] = i.off // 8
            if defs & 0b10:
                return loads
        return None if live.get(block_end, 0) & 0b10 else loads  # past the end: nothing reads

    def _prologue(self, entry: bool, base: str, used: set[str], counted: bool) -> list[str]:
        """The function's head and the set-up of what its body uses (nothing else)."""
        wrap = self.wrap
        if entry and wrap is not None:
            # The callback itself: its prologue gives the arguments' values (R1, the
            # context's address, is read by nothing but the argument loads: ctx_arg_loads).
            out = [f"    def callback({wrap.params}):"]
            out.extend("        " + line for line in wrap.prologue)
            for k in range(self.tr.ctx_args):
                reg = self.arg_registers.get(k)
                name = f"a{k}" if reg is None else f"r{reg}"
                if name in used and (reg is None or self.pending is None):
                    out.append(f"        {name} = {wrap.args[k]}")
            out.append("        try:")
            if "steps" in used or "depth" in used:
                out.append(f"{base}depth = steps = 0")
        elif entry and self.ctx_variant:
            # The caller passes R1 in range and the callback's arguments (ctx_arg_loads).
            names = {k: f"r{r}" for k, r in self.arg_registers.items()}
            params = ", ".join(names.get(k, f"a{k}") for k in range(self.tr.ctx_args))
            out = [f"    def run_ctx(r1, {params}):", "        try:"]
            zero = [r for r in ("r2", "r3", "r4", "r5") if r in used]
            if zero and self.pending is None:  # held back as zeros otherwise
                out.append(f"{base}{' = '.join(zero)} = 0")
            if "steps" in used or "depth" in used:
                out.append(f"{base}depth = steps = 0")
        elif entry:
            out = ["    def run(r1=0, r2=0, r3=0, r4=0, r5=0):", "        try:"]
            # Modulo 2**64, compared first: ``&`` with the 64-bit mask builds a new int.
            if "r1" in used:
                out.append(f"{base}if not 0 <= r1 <= {M64:#x}: r1 &= {M64:#x}")
            args = [r for r in ("r2", "r3", "r4", "r5") if r in used]
            if args:
                out.append(f"{base}if {' or '.join(args)}:")
                out.append(f"{base}    " + "; ".join(f"{r} &= {M64:#x}" for r in args))
            if "steps" in used or "depth" in used:
                out.append(f"{base}depth = steps = 0")
        else:
            out = [f"    def f{self.entry}(r1, r2, r3, r4, r5, depth, steps):"]
        zeroed = [r for r in ("r0", "r6", "r7", "r8", "r9") if r in used]
        live = self.tr.live
        if not counted and live is not None:  # no slow(): a register is named only where read
            zeroed = [r for r in zeroed if live.get(self.entry, -1) >> int(r[1:]) & 1]
        if zeroed and self.pending is None:  # a register never written holds 0
            out.append(f"{base}{' = '.join(zeroed)} = 0")
        out.extend(
            f"{base}{name} = {start}" for name, start in self.tr.keeps.items() if name in used
        )
        # The entry's frame is the first: its pointer and bytes are bound at build.
        if "r10" in used:
            out.append(f"{base}r10 = " + ("fp0" if entry else "fps[depth]"))
        if "stk" in used:  # the entry names its frame's bytes as bound at build
            out.append(f"{base}stk = stacks[depth]")
        if self.uses_may_goto:
            out.append(f"{base}mg = max_loops")
        if self.held:
            out.append(f"{base}{' = '.join(f'h{lock}' for lock in self.held)} = 0")
        if "L" in used:
            out.append(f"{base}L = {self.entry}")
        return out

    def _mg(self) -> str:
        return "mg" if self.uses_may_goto else "max_loops"

    def emit(self, line: str) -> None:
        self.lines.append(line)

    def goto(self, target: int, indent: str = "") -> None:
        self.emit(f"{indent}L = {target}")
        if target <= self.block:
            self.emit(f"{indent}continue")

    def insn(self, i: Insn) -> None:
        cls = i.code & 0x07
        if self.pending is not None:
            if self.held_back(i):
                if self._narrows(i):
                    self.narrow.add(i.dst)
                return
            if self._folded(i):
                return
            if cls not in (isa.BPF_JMP, isa.BPF_JMP32):  # jumps and calls read through read()
                uses, defs = use_def(i)
                if self._on_stack(i):  # the frame's bytes, not R10
                    uses &= ~(1 << 10)
                self._read(uses)
                self._write(defs)
        if cls in (isa.BPF_ALU, isa.BPF_ALU64):
            for line in _alu(i, self.narrow, self.addresses):
                self.emit(line)
            copied = i.code == isa.BPF_ALU64 | isa.BPF_MOV | isa.BPF_X and not i.off
            address = copied and i.src in self.addresses
            self.wrote(i.dst)
            if address:
                self.addresses.add(i.dst)
        elif cls in (isa.BPF_JMP, isa.BPF_JMP32):
            self.jump(i)
        elif i.code == isa.LD_IMM64:
            self.emit(f"r{i.dst} = {self.tr.image.constants[i.slot]:#x}")
            self.wrote(i.dst)
        else:
            self.memory(i)
        if self._narrows(i):
            self.narrow.add(i.dst)

    def _narrows(self, i: Insn) -> bool:
        """Whether ``i`` leaves its destination below 2**32 (its mask is then a no-op).

        Every ALU32 result is masked to 32 bits (a byte swap to 64 bits
        aside), as is an unsigned load of at most 4 bytes; a 64-bit move
        copies a constant or a register already known narrow. Known per
        block: a fact ends with the block, a call (R0-R5) or another write.
        """
        cls, op = i.code & 0x07, i.code & 0xF0
        if cls == isa.BPF_ALU:
            return not (op == isa.BPF_END and i.imm == 64)
        if cls == isa.BPF_ALU64:
            if op != isa.BPF_MOV or i.off:
                return False
            if i.code & isa.BPF_X:
                return i.src in self.narrow
            return 0 <= i.imm64 & M64 <= 0xFFFF_FFFF
        if i.code == isa.LD_IMM64:
            return self.tr.image.constants[i.slot] <= 0xFFFF_FFFF
        if cls == isa.BPF_LDX:
            return i.code & 0xE0 == isa.BPF_MEM and isa.SIZE_BYTES[i.code & 0x18] <= 4
        return False

    def jump(self, i: Insn) -> None:
        cls, op, pc = i.code & 0x07, i.code & 0xF0, i.slot
        if i.code == isa.EXIT:
            if self.wrap is not None:  # the callback's own return, from R0's value
                for line in self.wrap.ret(self.read("r0")):
                    self.emit(line)
            else:
                self.emit(self.read(self.ret))
        elif i.code == isa.CALL:
            first = len(self.lines)
            if self.pending is not None:
                self._write(1)  # R0 takes the result; R1-R5 stay as they are
            if i.src == isa.BPF_PSEUDO_CALL:
                self.emit(f"if depth >= {isa.MAX_CALL_FRAMES - 1}: raise deep({pc})")
                self.emit(f"r0, steps = f{pc + 1 + i.imm}(r1, r2, r3, r4, r5, depth + 1, steps)")
            else:
                leaf = self.tr.leaf(i)
                call = [
                    "try:",
                    f"    r0 = c{pc}(vm, r1, r2, r3, r4, r5) & {M64:#x}",
                    "except BpfFault as e:",
                    f"    raise at(e, {pc})",
                ]
                spec = inline_spec(self.tr.image.calls.get(pc))
                if pc in self.held:  # the lock noted in a local (_held_locks)
                    # An empty set (the usual case) answers without hashing the address.
                    self.emit(f"if {self.held[pc][1]} and r1 in {self.held[pc][1]}:")
                    self.lines.extend("    " + c for c in call)
                    if pc not in self.quiet:
                        self.emit(f"h{pc} = r1")
                    self.returns_zero()
                elif pc in self.holding:
                    if self.holding[pc] not in self.quiet:
                        self.emit(f"h{self.holding[pc]} = 0")
                    self.returns_zero()
                elif spec is not None:  # the common case in place, the call for the rest
                    self.tr.inlined.add(pc)
                    for name, value in spec[2].items():
                        self.tr.bind(name, value)
                    for name, value in spec[3].items():  # set before its first call reads it
                        self.tr.keeps[name] = self.tr.bind(f"{name}_start", value)
                    template = self._known_skbs(spec[0])
                    # The state's attributes the template names are globals, read once.
                    template = _STATE_ATTR.sub(
                        lambda m: self.tr.bind(f"s{pc}_{m[1]}", getattr(spec[1], m[1])), template
                    )
                    text = template.format(S=f"s{pc}", CALL="{CALL}", PC=pc)
                    if _ARG_WRITE.search(text):  # it changes an argument: none is held back
                        self._read(0b111110)
                    held = self.guarded.get(pc)  # the lock a fault in the call leaves held
                    around = (f"{held[0]} = {held[1]}", *call, f"{held[0]} = 0") if held else call
                    for line in text.splitlines():
                        indent = line[: len(line) - len(line.lstrip())]
                        if line.strip() == "{CALL}":
                            for c in around:
                                self.emit(indent + c)
                        else:
                            self.emit(line)
                else:
                    if not leaf:  # it may run a callback, which goes on from here
                        self.emit("vm.depth = depth; vm.steps = steps")
                    for c in call:
                        self.emit(c)
                    if not leaf:
                        self.emit("steps = vm.steps")
            self.lines[first:] = map(self.read, self.lines[first:])
            if self.pending is not None and self.zero_result:
                self.pending[0] = "0x0"
            self.zero_result = False
            self.cached = {}  # the call may have unmapped a region (bpf_obj_drop, a freed skb)
            bound = self.tr.image.calls.get(pc)
            if i.src == isa.BPF_PSEUDO_CALL or not leaves_views_mapped(bound):
                self.called = True
            self.narrow -= {0, 1, 2, 3, 4, 5}  # a call's result and its clobbered scratch registers
            self.addresses -= {0, 1, 2, 3, 4, 5}
            if i.src != isa.BPF_PSEUDO_CALL and gives_address(self.tr.image.calls.get(pc)):
                self.addresses.add(0)
        elif op == isa.BPF_JCOND:
            self.emit("if mg:")
            self.emit("    mg -= 1")
            self.emit("else:")
            self.goto(pc + 1 + i.off, "    ")
        elif op == isa.BPF_JA:
            if not self.tree:  # a tree's path goes on with the target (_path)
                self.goto(pc + 1 + (i.imm if cls == isa.BPF_JMP32 else i.off))
        elif self.tree:
            self.branch = (self.read(_condition(i, self.narrow)), pc + 1 + i.off)
        else:
            self.emit(f"if {_condition(i, self.narrow)}:")
            self.goto(pc + 1 + i.off, "    ")

    def _known_skbs(self, template: str) -> str:
        """``template`` taking the callback's own skb where an argument register holds it.

        Where in-place code looks an argument's SkBuff up (``SKB_AT``) and the
        register passed there still holds the callback's skb argument
        (``_known_object``), it names that skb instead of looking it up.
        """
        for k in range(1, 6):
            lookup = SKB_AT.format(reg=f"r{k}")
            held = self.read(f"r{k}")  # the register whose value the argument holds
            if lookup not in template or not re.fullmatch(r"r\d+", held):
                continue
            known = self._known_object(int(held[1:]), "sk_buff", 0)
            if known is not None:
                template = template.replace(lookup, known)
        return template

    def returns_zero(self) -> None:
        """A lock or unlock written here returns 0: held back as R0's value, or assigned."""
        if self.pending is not None:
            self.zero_result = True
        else:
            self.emit("r0 = 0")

    def memory(self, i: Insn) -> None:
        cls, mode, pc = i.code & 0x07, i.code & 0xE0, i.slot
        size = isa.SIZE_BYTES[i.code & 0x18]
        if cls == isa.BPF_LDX:
            self.load(f"r{i.dst}", i.src, i.off, size, pc, signed=mode == isa.BPF_MEMSX)
        elif cls == isa.BPF_ST:
            self.store(i.dst, i.off, size, f"{i.imm64 & _M[size]:#x}", pc)
        elif mode == isa.BPF_MEM:
            self.store(i.dst, i.off, size, f"r{i.src}", pc)
        else:
            self.atomic(i, size)

    def base(self, reg: int, off: int, table: str, views: bool = True) -> tuple[str, str] | None:
        """The cached bytes and offset expressions for ``reg + off``, or None.

        Within a block a base register's region is looked up once (``R`` for
        reads, ``W`` for writes) and reused until the register is written;
        a lookup that finds nothing leaves None there, where the access looks
        for a struct view instead (``views``; an access the verifier proved to
        be on bytes needs none). Negative offsets are not cached: the sum could
        go below the region's start, which ``unpack_from`` would take from the end.
        """
        if off < 0:
            return None
        key = (reg, table)
        t = table.lower()
        if key not in self.cached:
            if not any(k[0] == reg and k[1] in ("R", "W") for k in self.cached):
                self.emit(f"o{reg} = r{reg} & 0xffffffff")
            self.emit(f"d{t}{reg} = {table}.get(r{reg} >> 32)")
            self.cached[key] = False
        if views and not self.cached[key]:
            # No bytes there: the struct view (or None), looked up once for the block too.
            self.emit(
                f"if d{t}{reg} is None: v{t}{reg} = V.get(r{reg} >> 32); k{reg} = o{reg} << 4"
            )
            self.cached[key] = True
        where = f"o{reg} + {off}" if off else f"o{reg}"
        return f"d{t}{reg}", where

    def wrote(self, reg: int) -> None:
        """Forget the cached region and the range of ``reg`` once an instruction writes it."""
        self.narrow.discard(reg)
        self.addresses.discard(reg)
        for key in [k for k in self.cached if k[0] == reg]:
            del self.cached[key]

    def proven_object(self, reg: int, struct: str, delta: int) -> str:
        """The variable holding the object a proven ``struct`` pointer ``reg`` points into.

        Looked up once per block, in the views of that struct by the address
        of the struct's start: None when ``reg`` points anywhere else.
        """
        known = self._known_object(reg, struct, delta)
        if known is not None:
            return known
        key = (reg, "S", struct, delta)
        if key not in self.cached:
            self.objects_named += 1  # a name of its own: another may still be live
            name = f"x{reg}_{self.objects_named}"
            table = self.tr.bind(f"O_{struct}", self.tr.views.objects_of(struct))  # type: ignore[union-attr]
            at = f"r{reg} - {delta}" if delta else f"r{reg}"
            self.emit(f"{name} = {table}.get({at})")
            self.cached[key] = name
        return str(self.cached[key])

    def _known_object(self, reg: int, struct: str, delta: int) -> str | None:
        """The wrap's expression of the object ``reg`` points at, if it still holds that argument.

        The callback's own code mapped the argument's object (``CallbackWrap.objects``):
        while the register holds the argument — never written but by its load — and no
        call may have unmapped the view, the object is known without a lookup.
        """
        wrap = self.wrap
        if wrap is None or delta or self.rewritten >> reg & 1:
            return None
        for k, r in self.arg_registers.items():
            found = wrap.objects.get(k) if r == reg else None
            if found is not None and found[0] == struct and (found[2] or not self.called):
                return found[1]
        return None

    def load(
        self, target: str, reg: int, off: int, size: int, pc: int, signed: bool = False
    ) -> None:
        """``target = *(size *)(reg + off)``, sign-extended to 64 bits when ``signed``.

        An in-bounds R10 access reads the frame's bytes directly; otherwise a
        plain byte region is read in place (an access past its end raises, and
        the ``except`` hands it to ``Memory.load``, which raises the fault),
        and a struct view's field through its layout's table (see :meth:`access`).
        """
        self._load(target, reg, off, size, pc, signed, proven=target != "old")
        if target.startswith("r"):
            self.wrote(int(target[1:]))  # after the load, which may read it as its base

    def _load(
        self, target: str, reg: int, off: int, size: int, pc: int, signed: bool, proven: bool
    ) -> None:
        fmt = _SFMT[size] if signed else _UFMT[size]
        unpack = self.tr.packer("u" + fmt)
        extend = f" & {M64:#x}" if signed else ""
        fast = self.tr.stack_offset(reg, off, size)
        if fast is not None:
            if fast in self.stack_locals and not signed:
                self.emit(f"{target} = sl{fast}")
                return
            self.emit(f"{target} = {unpack}({self.stk}, {fast})[0]{extend}")
            return
        if self.ctx_variant and pc in self.ctx_loads:  # the callback's argument itself
            self.emit(f"{target} = a{self.ctx_loads[pc]}")
            return
        sign = _SIGN[size]
        slow = f"ld((r{reg} + {off}) & {M64:#x}, {size}, {pc})"
        view = f"(va[0](v.obj) >> va[1]) & va[2] if va is not None else {slow}"
        if signed:
            slow = f"(({slow} ^ {sign:#x}) - {sign:#x}) & {M64:#x}"
            view = f"((({view}) ^ {sign:#x}) - {sign:#x}) & {M64:#x}"
        fact = self.tr.fact(pc) if proven else None
        if fact is not None and fact.kind == STRUCT:
            value = self.tr.field_load(fact, off, size, pc)
            if value is not None:
                obj = self.proven_object(reg, fact.struct, fact.delta)
                value = value.format(obj=obj)
                if signed:
                    value = f"((({value}) ^ {sign:#x}) - {sign:#x}) & {M64:#x}"
                self.emit(f"{target} = {slow} if {obj} is None else {value}")
                return
        # No byte region there: a struct view's field (see StructView.loads), or a fault.
        self.access(
            reg,
            off,
            size,
            "R",
            fact is not None and fact.kind == BYTES,
            lambda data, where: f"{target} = {unpack}({data}, {where})[0]{extend}",
            f"{target} = {slow}",
            lambda v, key: [
                f"va = {v}.loads.get({key}) if {v} is not None else None",
                f"{target} = {view.replace('v.obj', v + '.obj')}",
            ],
        )

    def store(
        self, reg: int, off: int, size: int, value: str, pc: int, proven: bool = True
    ) -> None:
        """``*(size *)(reg + off) = value``; ``proven``: as the verifier's fact at ``pc`` says."""
        known = size == 4 and re.fullmatch(r"r\d+", value) and int(value[1:]) in self.narrow
        masked = (
            value
            if (size == 8 and value.startswith(("r", "0x"))) or known
            else f"({value}) & {_M[size]:#x}"
        )
        pack = self.tr.packer("p" + _UFMT[size])
        fast = self.tr.stack_offset(reg, off, size)
        if fast is not None:
            if fast in self.stack_locals:
                self.emit(f"sl{fast} = {masked}")
                return
            self.emit(f"{pack}({self.stk}, {fast}, {masked})")
            return
        slow = f"st((r{reg} + {off}) & {M64:#x}, {size}, {masked}, {pc})"
        fact = self.tr.fact(pc) if proven else None
        if fact is not None and fact.kind == STRUCT:
            statement = self.tr.field_store(fact, off, size, pc)
            if statement is not None:
                obj = self.proven_object(reg, fact.struct, fact.delta)
                self.emit(f"if {obj} is None:")
                for i in self.chains.get(pc, ()):  # the update moved here (_kept_chains)
                    width = isa.SIZE_BYTES[i.code & 0x18]
                    fed = self.tr.stack_offset(i.src, i.off, width)
                    if i.code & 0x07 == isa.BPF_LDX and fed is not None:  # a stack load (_feeds)
                        unpack = self.tr.packer("u" + _UFMT[width])
                        if fed in self.stack_locals:
                            self.emit(f"    r{i.dst} = sl{fed}")
                            continue
                        self.emit(f"    r{i.dst} = {unpack}({self.stk}, {fed})[0]")
                    elif i.code & 0x07 == isa.BPF_LDX:
                        self.emit(
                            f"    r{i.dst} = ld((r{i.src} + {i.off}) & {M64:#x}, {width}, {i.slot})"
                        )
                    else:
                        self.lines.extend("    " + line for line in _alu(i))
                self.emit(f"    {slow}")
                if statement:  # nothing to do for a counter qdisclab keeps
                    self.emit("else:")
                    self.emit("    " + statement.format(obj=obj, value=masked))
                return
        # No writable byte region there: a struct view's field (StructView.stores), or a fault.
        self.access(
            reg,
            off,
            size,
            "W",
            fact is not None and fact.kind == BYTES,
            lambda data, where: f"{pack}({data}, {where}, {masked})",
            slow,
            lambda v, key: [
                f"va = {v}.stores.get({key}) if {v} is not None else None",
                "if va is not None:",
                f"    if va is not KEPT: va({v}.obj, {masked})",
                "else:",
                f"    {slow}",
            ],
        )

    def access(
        self,
        reg: int,
        off: int,
        size: int,
        table: str,
        on_bytes: bool,
        in_place: Callable[[str, str], str],
        fallback: str,
        view: Callable[[str, str], list[str]],
    ) -> None:
        """One access of ``reg + off`` that is not on the stack.

        ``in_place(data, where)`` is the statement on a byte region's bytes
        (a miss raises, and ``fallback`` hands the access to ``Memory``);
        ``view(v, key)`` the lines run when the block's lookup found no bytes:
        ``v`` names the struct view there (None if nothing is mapped) and
        ``key`` the access's key in its field tables. ``on_bytes``: the
        verifier proved the region bytes, so a miss goes to ``fallback`` too.
        """
        cached = self.base(reg, off, table, views=not on_bytes)
        if cached is None:
            self.emit(f"a = r{reg} + {off}")
            self.emit("try:")
            self.emit("    " + in_place(f"{table}[a >> 32]", "a & 0xffffffff"))
            self.emit("except E:")
            self.emit("    " + fallback)
            return
        data, where = cached
        if on_bytes:  # None there raises TypeError, which the fallback takes as well
            self.emit("try:")
            self.emit("    " + in_place(data, where))
            self.emit("except E:")
            self.emit("    " + fallback)
            return
        self.emit(f"if {data} is None:")
        key = f"k{reg} + {off << 4 | size:#x}"  # (o + off) << 4 | size, as StructView keys it
        for line in view(f"v{table.lower()}{reg}", key):
            self.emit("    " + line)
        self.emit("else:")
        self.emit("    try:")
        self.emit("        " + in_place(data, where))
        self.emit("    except E:")
        self.emit("        " + fallback)

    def atomic(self, i: Insn, size: int) -> None:
        pc, imm, s, m = i.slot, i.imm, i.src, _M[size]
        if imm == isa.BPF_LOAD_ACQ:
            self.load(f"r{i.dst}", s, i.off, size, pc)
            return
        if imm == isa.BPF_STORE_REL:
            self.store(i.dst, i.off, size, f"r{s}", pc)
            return
        self.load("old", i.dst, i.off, size, pc)
        if imm == isa.BPF_CMPXCHG:
            self.base(i.dst, i.off, "W")  # looked up before the `if`, so later stores see it
            self.emit(f"if old == r0 & {m:#x}:")
            saved, self.lines = self.lines, []
            self.store(i.dst, i.off, size, f"r{s}", pc, proven=False)
            saved.extend("    " + line for line in self.lines)
            self.lines = saved
            self.emit("r0 = old")
            self.wrote(0)
            return
        op = imm & ~isa.BPF_FETCH
        new = {
            isa.BPF_ADD: f"old + r{s}", isa.BPF_OR: f"old | r{s}",
            isa.BPF_AND: f"old & r{s}", isa.BPF_XOR: f"old ^ r{s}",
        }.get(op, f"r{s}")  # fmt: skip
        self.store(i.dst, i.off, size, new, pc, proven=False)
        if imm & isa.BPF_FETCH:
            self.emit(f"r{s} = old")
            self.wrote(s)


_REGS = "(r0, r1, r2, r3, r4, r5, r6, r7, r8, r9, r10)"
_NAME = re.compile(r"\b[A-Za-z_]\w*\b")
_REG = re.compile(r"\br(\d+)\b")
_MISS = re.compile(r"if x\d+_\d+ is None:")
_ARG_WRITE = re.compile(r"^\s*r[1-5]\s*[-+*/%&|^<>]*=(?!=)", re.MULTILINE)
# A tree of paths (_Function._tree_fits) is written while no longer than this many
# times the function's instructions, plus a few for the blocks a short function repeats.
_TREE_GROWTH, _TREE_SLACK = 4, 64
_STATE_ATTR = re.compile(r"\{S\}\.(\w+)")


def _condition(i: Insn, narrow: AbstractSet[int]) -> str:
    """The Python test of conditional jump ``i``; ``narrow``: registers known below 2**32."""
    cls, op = i.code & 0x07, i.code & 0xF0
    bits = 64 if cls == isa.BPF_JMP else 32
    mask, sign = (1 << bits) - 1, 1 << (bits - 1)
    a = f"r{i.dst}" if bits == 64 or i.dst in narrow else f"(r{i.dst} & {mask:#x})"
    if i.code & isa.BPF_X:
        b = f"r{i.src}" if bits == 64 or i.src in narrow else f"(r{i.src} & {mask:#x})"
        if op in _SIGNED_JUMPS:
            return f"({a} ^ {sign:#x}) {_CMP[op]} ({b} ^ {sign:#x})"
    else:
        value = i.imm64 & mask
        if op in _SIGNED_JUMPS:
            return f"({a} ^ {sign:#x}) {_CMP[op]} {value ^ sign:#x}"
        b = f"{value:#x}"
    if op == isa.BPF_JSET:
        return f"{a} & {b}"
    return f"{a} {_CMP[op]} {b}"


def _alu(
    i: Insn, narrow: AbstractSet[int] = frozenset(), addresses: AbstractSet[int] = frozenset()
) -> list[str]:
    """The lines of one ALU instruction; ``narrow``: registers known below 2**32,
    ``addresses``: registers holding NULL or a mapped address (``returns_address``).

    Registers always hold ints in [0, 2**64), so a sum, product, left shift
    or 32-bit OR/XOR is never negative and needs its mask only past the
    mask's top (``if d > m: d &= m``), a difference only below 0 or past it:
    a comparison, where ``&`` with a mask wider than CPython's one-digit ints
    builds a new int every time. An address plus a non-negative 32-bit
    constant (a field's address) needs no mask at all.
    """
    cls, op, d = i.code & 0x07, i.code & 0xF0, f"r{i.dst}"
    bits = 64 if cls == isa.BPF_ALU64 else 32
    m = f"{(1 << bits) - 1:#x}"
    sign = f"{1 << (bits - 1):#x}"
    if op == isa.BPF_END:
        if cls == isa.BPF_ALU and not i.code & isa.BPF_TO_BE:  # to little endian: truncate
            return [f"{d} &= {(1 << i.imm) - 1:#x}"]
        return [f"{d} = bswap({d}, {i.imm})"]
    if i.code & isa.BPF_X:
        s = f"r{i.src}"
        s_low = s if bits == 64 or i.src in narrow else f"({s} & {m})"
    else:
        value = i.imm64 & ((1 << bits) - 1)
        s = s_low = f"{value:#x}"
    shift = f"({s} & {bits - 1})"
    d_low = d if bits == 64 or i.dst in narrow else f"({d} & {m})"
    signed_d = f"(({d_low} ^ {sign}) - {sign})"
    if op == isa.BPF_MOV:
        if i.off:
            bit = 1 << (i.off - 1)
            return [f"{d} = ((({s} & {(1 << i.off) - 1:#x}) ^ {bit:#x}) - {bit:#x}) & {m}"]
        if bits == 32 and i.code & isa.BPF_X and i.src not in narrow:
            return [f"{d} = {s} if {s} <= {m} else {s} & {m}"]
        return [f"{d} = {s_low}"]
    if op == isa.BPF_DIV:
        if i.off:
            return [f"{d} = sdiv({d}, {s}, {bits})"]
        return [f"{d} = {d_low} // {s_low} if {s_low} else 0"]
    if op == isa.BPF_MOD:
        if i.off:
            return [f"{d} = smod({d}, {s}, {bits})"]
        return [f"{d} = {d_low} % {s_low} if {s_low} else {d_low}"]
    grows = {isa.BPF_ADD: "+", isa.BPF_MUL: "*"}
    if bits == 32:
        grows.update({isa.BPF_OR: "|", isa.BPF_XOR: "^"})
    if op in grows:
        if op == isa.BPF_ADD and bits == 64 and i.dst in addresses and _offset(i):
            return [f"{d} += {s}"]
        return [f"{d} {grows[op]}= {s}", f"if {d} > {m}: {d} &= {m}"]
    if op == isa.BPF_LSH:
        return [f"{d} <<= {shift}", f"if {d} > {m}: {d} &= {m}"]
    if op == isa.BPF_SUB:
        below = f"{d} < 0" if bits == 64 else f"not 0 <= {d} <= {m}"
        return [f"{d} -= {s}", f"if {below}: {d} &= {m}"]
    expr = {
        isa.BPF_OR: f"{d} | {s}",
        isa.BPF_AND: f"{d} & {s_low}",
        isa.BPF_XOR: f"{d} ^ {s}",
        isa.BPF_RSH: f"{d_low} >> {shift}",
        isa.BPF_ARSH: f"({signed_d} >> {shift}) & {m}",
        isa.BPF_NEG: f"-{d} & {m}",
    }[op]
    return [f"{d} = {expr}"]


def _offset(i: Insn) -> bool:
    """Whether ``i``'s operand is a constant in [0, 2**31): an offset into an object."""
    return not i.code & isa.BPF_X and 0 <= i.imm < 1 << 31


class StructLayouts(Protocol):
    """Where the translator finds kernel-struct views (:class:`~qdisclab.bpf.views.Views`)."""

    def layout(self, struct: str) -> StructView: ...

    def objects_of(self, struct: str) -> dict[int, Any]: ...

    def read_path(self, struct: str, attr: str) -> str: ...


class _Source:
    """The module source of a whole program."""

    def __init__(
        self,
        image: Image,
        budget: int,
        proven: Proven | None = None,
        views: StructLayouts | None = None,
        ctx_args: int = 0,
        wrap: CallbackWrap | None = None,
    ) -> None:
        self.image = image
        self.budget = budget
        self.proven = proven if views is not None else None
        self.ctx_args = ctx_args
        self.wrap = wrap
        self.views = views
        self.packers: dict[str, str] = {}
        self.inlined: set[int] = set()  # slots of calls written in place (their state: s<slot>)
        # Registers live before each slot, for the updates nothing reads (_kept_chains).
        self.live = live_in(image.insns) if self.proven is not None else None
        self.bound: dict[str, object] = dict(wrap.bound) if wrap else {}  # globals the source names
        # Locals an inlined call keeps for the next (image.inline's keeps) -> their start's global
        self.keeps: dict[str, str] = {}

    def bind(self, name: str, value: object) -> str:
        """``name`` as a global of the generated module, bound to ``value``."""
        assert self.bound.get(name, value) is value, name
        self.bound[name] = value
        return name

    def fact(self, slot: int) -> Access | None:
        """What the verifier proved about the access at ``slot`` (None: nothing)."""
        return None if self.proven is None else self.proven.at(slot)

    def _field(self, fact: Access, off: int, size: int) -> tuple[StructView, int, Field] | None:
        assert self.views is not None
        layout = self.views.layout(fact.struct)
        at = fact.delta + off
        hit = layout.field_at(at) if 0 <= at < layout.size else None
        return None if hit is None else (layout, at << 4 | size, hit[1])

    def field_load(self, fact: Access, off: int, size: int, slot: int) -> str | None:
        """The value of a proven struct load, ``{obj}`` for the object; None if it faults.

        Exactly what the view's load table gives (``StructView.loads``): the
        field's attribute read in place when its getter is only that read.
        """
        found = self._field(fact, off, size)
        access = None if found is None else found[0].loads.get(found[1])
        if found is None or access is None:
            return None  # not a modelled field: the reference path raises the fault
        getter, shift, mask = access
        attr = found[2].attr and self.views.read_path(fact.struct, found[2].attr)  # type: ignore[union-attr]
        value = "{obj}." + attr if attr else self.bind(f"g{slot}", getter) + "({obj})"
        value = f"({value} >> {shift})" if shift else value
        return f"{value} & {mask:#x}"

    def field_store(self, fact: Access, off: int, size: int, slot: int) -> str | None:
        """The statement of a proven struct store (``{obj}``, ``{value}``); '' for a kept counter.

        None when the view refuses the store (its fault comes from the reference path).
        """
        found = self._field(fact, off, size)
        setter = None if found is None else found[0].stores.get(found[1])
        if found is None or setter is None:
            return None
        if setter is ignored_write:
            return ""
        attr = found[2].attr
        if attr and "." not in attr:  # the setter is setattr(obj, attr, value)
            return "{obj}." + attr + " = {value}"
        return self.bind(f"w{slot}", setter) + "({obj}, {value})"

    def leaf(self, i: Insn) -> bool:
        """Whether ``i`` calls a helper or kfunc that never calls back into the program."""
        return (
            i.code == isa.CALL and i.slot in self.image.calls and is_leaf(self.image.calls[i.slot])
        )

    def stack_offset(self, reg: int, off: int, size: int) -> int | None:
        """Offset into the frame's bytes of an in-bounds R10 access, else None."""
        o = isa.MAX_BPF_STACK + off
        return o if reg == 10 and o >= 0 and o + size <= isa.MAX_BPF_STACK else None

    def packer(self, key: str) -> str:
        return self.packers.setdefault(key, f"_{key}")

    def source(self) -> str:
        img = self.image
        funcs = [_Function(self, e, img.function_end[e]) for e in img.functions]
        body: list[str] = []
        for f in funcs:
            body.extend(f.source())
        body.extend(funcs[0].source(entry=True))
        loads = funcs[0].ctx_arg_loads(self.ctx_args) if self.ctx_args else None
        if loads is not None:
            funcs[0].ctx_loads = loads
            body.extend(funcs[0].source(entry=True, ctx=True))
        calls = ", ".join(f"c{slot}" for slot in sorted(img.calls))
        head = [
            f"def build({calls}{', ' if calls else ''}*, ld, st, R, W, V, E, KEPT, fps, stacks,",
            "          budget, max_loops,",
            "          slow, deep, at, vm, bswap, sdiv, smod, BpfFault, annotate):",
            "    fp0, stk0 = fps[0], stacks[0]",
        ]
        for key, name in sorted(self.packers.items()):
            kind, fmt = key[0], key[1:]
            method = "unpack_from" if kind == "u" else "pack_into"
            head.append(f"    {name} = struct.Struct('<{fmt}').{method}")
        for slot in sorted(self.inlined):
            head.append(f"    s{slot} = c{slot}.bpf_inline[1]")
        table = ", ".join(f"{e}: f{e}" for e in img.functions) + ', "run": run'
        if loads is not None:
            table += ', "callback": callback' if self.wrap else ', "run_ctx": run_ctx'
        return "\n".join([*head, *body, f"    return {{{table}}}", ""])


def program_source(image: Image, budget: int = isa.BPF_COMPLEXITY_LIMIT_INSNS) -> str:
    """The module source defining ``build(...)``, which returns the program's functions.

    ``budget`` is the instruction budget of a run: a function that provably
    stays within it is generated without counting.
    """
    return _Source(image, budget).source()


def program_module(
    image: Image,
    budget: int = isa.BPF_COMPLEXITY_LIMIT_INSNS,
    proven: Proven | None = None,
    views: StructLayouts | None = None,
    ctx_args: int = 0,
    wrap: CallbackWrap | None = None,
) -> tuple[str, dict[str, object]]:
    """:func:`program_source` specialised by the verifier's ``proven`` accesses, and its globals.

    A proven struct access reads or writes the attribute of the object found
    in ``views`` (one dict lookup per base register and block), a proven byte
    access its bytes in place; the globals are the tables and functions the
    source names. ``ctx_args``: the program is a struct_ops callback of that
    many arguments; its module also defines ``run_ctx(r1, a0, ...)`` taking them
    (see ``_Function.ctx_arg_loads``) when the proof allows it; with ``wrap``, it
    defines ``callback``, that function with the callback's own code around it, instead.
    """
    src = _Source(image, budget, proven, views, ctx_args, wrap)
    return src.source(), src.bound
