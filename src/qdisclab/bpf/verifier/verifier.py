"""The path-sensitive abstract interpreter: every path of a program, explored once enough.

:func:`verify` walks the program depth-first from its entry with an
abstract :class:`~qdisclab.bpf.verifier.state.State`, forking at each
conditional jump whose outcome is not decided, as the kernel's
``do_check`` does. At prune points it compares the current state with the
states explored there before (:mod:`~qdisclab.bpf.verifier.prune`): a state
subsumed by one whose every continuation is verified is not explored again;
a state equal to one still on the current path is an ``infinite loop``.
Loops therefore terminate by pruning (a bounded loop runs out of new states,
a ``may_goto`` or ``bpf_loop`` callback converges after its scalars are
widened); the number of instructions processed is bounded, and past it the
program is ``too large``, as the kernel's 1M-instruction limit.

>>> from qdisclab.bpf.asm import assemble
>>> from qdisclab.bpf.verifier.proto import ProgramProto
>>> proto = ProgramProto("tc", "", ret_range=(0, 2))
>>> verify(assemble("r0 = 2\\nexit"), proto).insns_processed
2
>>> verify(assemble("r0 = 3\\nexit", name="bad"), proto)
Traceback (most recent call last):
...
qdisclab.bpf.verifier.log.VerificationError: bad: insn 1: At program exit the register R0 has smin=3 smax=3 should have been in [0, 2] (return-range)
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from dataclasses import field as dataclass_field

from qdisclab.bpf import isa
from qdisclab.bpf.code import Code
from qdisclab.bpf.isa import MAX_CALL_FRAMES, Insn
from qdisclab.bpf.proven import BYTES, CTX, STRUCT, Access
from qdisclab.bpf.verifier import alu, calls, exits, mem
from qdisclab.bpf.verifier.bounds import s64
from qdisclab.bpf.verifier.cfg import Cfg, CfgError
from qdisclab.bpf.verifier.log import Reject, VerificationError, decisions, exit_source, tail
from qdisclab.bpf.verifier.proto import CtxKind, MapProto, ProgramProto, RetKind
from qdisclab.bpf.verifier.prune import loop_key, maybe_looping, runtime_bounded, states_equal
from qdisclab.bpf.verifier.state import (
    CONST_PTR_TO_MAP,
    NOT_INIT,
    NOT_INIT_REG,
    PTR_TO_BTF_ID,
    PTR_TO_CTX,
    PTR_TO_FUNC,
    PTR_TO_MAP_VALUE,
    PTR_TO_MEM,
    PTR_TO_STACK,
    SCALAR,
    Callback,
    Frame,
    Ref,
    Reg,
    Slot,
    State,
)

BPF_COMPLEXITY_LIMIT_JMP_SEQ = 8192
_BYTES, _CTX = Access(BYTES), Access(CTX)
BPF_COMPLEXITY_LIMIT_STATES = 64  # stored states per instruction before new ones stop being added


@dataclass(frozen=True)
class VerifyStats:
    """How much work a successful verification took (the kernel's ``processed N insns``)."""

    insns_processed: int
    states: int
    pruned: int
    peak_states_per_insn: int
    reached: frozenset[int] = frozenset()  # the instructions some path executes
    # what each memory access's base register points to, where every path agrees
    accesses: Mapping[int, Access] = dataclass_field(default_factory=dict)


def _unreleased_in_loop(ref: Ref, pc: int) -> Reject:
    return Reject(
        "reference-leak",
        f"Unreleased reference id={ref.id} alloc_insn={ref.insn}",
        f"{ref.what} is acquired in every turn of the loop at insn {pc} and never released",
    )


class _Checkpoint:
    """An explored state at ``pc``; ``pending`` counts its paths not yet finished."""

    __slots__ = ("hits", "loop_key", "misses", "parent", "pc", "pending", "state")

    def __init__(self, pc: int, state: State, parent: _Checkpoint | None) -> None:
        self.pc, self.state, self.parent = pc, state, parent
        self.pending, self.hits, self.misses = 1, 0, 0
        self.loop_key = loop_key(state)


def verify(
    code: Code, proto: ProgramProto, source_line: Callable[[int], str | None] | None = None
) -> VerifyStats:
    """Verify ``code`` for the attach point ``proto``; raise :class:`VerificationError` if refused."""
    return _Verifier(code, proto, source_line).run()


class _Verifier:
    def __init__(
        self, code: Code, proto: ProgramProto, source_line: Callable[[int], str | None] | None
    ) -> None:
        self.code, self.proto = code, proto
        self.source_line = source_line or code.source_line
        self.symbols = dict(code.symbols)
        self.cfg = Cfg(code)
        self.explored: dict[int, list[_Checkpoint]] = {}
        # may_goto and iterator next() calls: the runtime bounds the loop, so a state there may
        # be pruned against one still being explored (after widening), as the kernel does
        self.loop_points: set[int] = {
            i.slot
            for i in self.cfg.insns
            if i.code == isa.BPF_JMP | isa.BPF_JCOND or self._iter_next(i)
        }
        self.cfg.prune_points |= self.loop_points
        self.entry_refs: dict[str, int] = {}
        self.work: list[tuple[int, State]] = []
        self.ids = 0
        self.insns_processed = self.states = self.pruned = 0
        self.reached: set[int] = set()
        self.accesses: dict[int, Access | None] = {}  # None: paths disagree
        self.since_jmps = self.since_insns = 0

    def _iter_next(self, insn: Insn) -> bool:
        if insn.code != isa.CALL or insn.src != isa.BPF_PSEUDO_KFUNC_CALL:
            return False
        fn = self.proto.kfuncs.get(self.symbols.get(insn.slot, ""))
        return fn is not None and fn.ret == RetKind.ITER_NEXT

    def new_id(self) -> int:
        self.ids += 1
        return self.ids

    # ------------------------------------------------------------------ driver
    def run(self) -> VerifyStats:
        try:
            self.cfg.check(self.proto.allow_loops)
        except CfgError as exc:
            raise VerificationError(
                self.code.name, exc.rule, exc.message, exc.slot, log=[exc.message]
            ) from None
        self.work.append((0, self._initial()))
        while self.work:
            pc, st = self.work.pop()
            self._path(pc, st)
        peak = max((len(v) for v in self.explored.values()), default=0)
        accesses = {slot: a for slot, a in self.accesses.items() if a is not None}
        return VerifyStats(
            self.insns_processed, self.states, self.pruned, peak, frozenset(self.reached), accesses
        )

    def _initial(self) -> State:
        st = State()
        frame = Frame(0, 0)
        frame.regs[1] = Reg(PTR_TO_CTX)
        st.frames.append(frame)
        for field in self.proto.ctx:
            if field.kind == CtxKind.BTF_PTR and field.ref:
                ref_id = self.new_id()
                self.entry_refs[field.name] = ref_id
                st.refs = (*st.refs, Ref(ref_id, 0, f"the {field.name} argument"))
        return st

    def _path(self, pc: int, st: State) -> None:
        while True:
            try:
                if pc in self.cfg.prune_points and self._visited(pc, st):
                    self._finish(st)
                    return
                insn = self.cfg.at[pc]
                self.reached.add(pc)
                self.insns_processed += 1
                self.since_insns += 1
                if self.insns_processed > self.proto.insn_limit:
                    raise Reject(
                        "too-complex",
                        f"BPF program is too large. Processed {self.insns_processed} insn",
                        "the verifier explored its instruction budget without finishing: simplify the loops or branches",
                    )
                nxt = self._step(st, insn)
            except Reject as r:
                raise self._error(r, pc, st) from None
            st.history = (pc, st.cur.frameno, tuple(st.cur.regs), st.history)
            if nxt is None:
                self._finish(st)
                return
            pc = nxt

    def _error(self, r: Reject, pc: int, st: State) -> VerificationError:
        log = tail(st.history, self.cfg.at, self.symbols, self.source_line, pc)
        if r.before:
            log.append(r.before)
        source = self.source_line(pc) if self.source_line else None
        insn = self.cfg.at.get(pc)
        if source is not None and insn is not None and insn.code == isa.EXIT:
            source = exit_source(r.rule, st.history, self.cfg.at, self.source_line, source)
        return VerificationError(
            self.code.name,
            r.rule,
            r.message,
            pc,
            log=log,
            source=source,
            path=decisions(st.decisions),
            detail=r.detail,
        )

    def _fork(self, st: State, pc: int) -> None:
        if len(self.work) >= BPF_COMPLEXITY_LIMIT_JMP_SEQ:
            raise Reject("too-complex", f"The sequence of {len(self.work)} jumps is too complex.")
        cp = st.checkpoint
        if isinstance(cp, _Checkpoint):
            cp.pending += 1
        self.work.append((pc, st))

    def _finish(self, st: State) -> None:
        cp = st.checkpoint
        while isinstance(cp, _Checkpoint):
            cp.pending -= 1
            if cp.pending > 0:
                return
            cp = cp.parent

    # ---------------------------------------------------------------- pruning
    def _visited(self, pc: int, st: State) -> bool:
        entries = self.explored.setdefault(pc, [])
        loop_point = pc in self.loop_points
        if loop_point:
            self._widen(pc, st)
            self._growing_refs(pc, st)
        key = loop_key(st) if any(cp.pending for cp in entries) else 0
        for cp in list(entries):
            if cp.pending == 0:
                if states_equal(cp.state, st, pc, self.cfg):
                    cp.hits += 1
                    self.pruned += 1
                    return True
                cp.misses += 1
                if cp.misses > cp.hits * 3 + 3:
                    entries.remove(cp)
            elif (
                (loop_point or (cp.loop_key == key and maybe_looping(cp.state, st)))
                and self._ancestor(cp, st)
                and states_equal(cp.state, st, pc, self.cfg)
            ):
                if loop_point or (runtime_bounded(st) and self._through_loop_point(cp, st)):
                    self.pruned += 1
                    return True
                raise Reject(
                    "infinite-loop",
                    f"infinite loop detected at insn {pc}",
                    "the loop comes back to this instruction in the same state: nothing bounds it",
                )
        force = loop_point
        if not force and (self.since_jmps < 2 or self.since_insns < 8):
            return False
        if len(entries) >= BPF_COMPLEXITY_LIMIT_STATES and not force:
            return False
        cp = _Checkpoint(
            pc, st.copy(), st.checkpoint if isinstance(st.checkpoint, _Checkpoint) else None
        )
        entries.append(cp)
        st.checkpoint = cp
        self.states += 1
        self.since_jmps = self.since_insns = 0
        return False

    def _through_loop_point(self, cp: _Checkpoint, st: State) -> bool:
        """Whether the path from ``cp`` back to here passed a loop point (an iterator's next,
        a ``may_goto``, a callback's entry): only such a cycle does the run time bound."""
        node = st.checkpoint
        while isinstance(node, _Checkpoint) and node is not cp:
            if node.pc in self.loop_points:
                return True
            node = node.parent
        return False

    @staticmethod
    def _ancestor(cp: _Checkpoint, st: State) -> bool:
        node = st.checkpoint
        while isinstance(node, _Checkpoint):
            if node is cp:
                return True
            node = node.parent
        return False

    def _growing_refs(self, pc: int, st: State) -> None:
        """A loop holding one more reference at each of its last two turns leaks in every turn."""
        last = self._previous_at(pc, st)
        before = self._previous_at(pc, last.parent) if last is not None else None
        if before is None or last is None:
            return
        if len(st.refs) > len(last.state.refs) > len(before.state.refs):
            ref = st.refs[-1]
            raise _unreleased_in_loop(ref, pc)

    @staticmethod
    def _previous_at(pc: int, st: State | _Checkpoint | None) -> _Checkpoint | None:
        node = st.checkpoint if isinstance(st, State) else st
        while isinstance(node, _Checkpoint):
            if node.pc == pc:
                return node
            node = node.parent
        return None

    def _widen(self, pc: int, st: State) -> None:
        """At a loop point, scalars that changed since the last visit become unknown (convergence)."""
        prev = self._previous_at(pc, st)
        if prev is None or len(prev.state.frames) != len(st.frames):
            return
        for old, cur in zip(prev.state.frames, st.frames, strict=True):
            for r in range(10):
                a, b = old.regs[r], cur.regs[r]
                if a.type == SCALAR and b.type == SCALAR and a != b:
                    cur.regs[r] = Reg.unknown()
            for spi, slot in cur.stack.items():
                before = old.stack.get(spi)
                if (
                    slot.spilled is not None
                    and slot.spilled.type == SCALAR
                    and before is not None
                    and before.spilled is not None
                    and before.spilled != slot.spilled
                ):
                    cur.stack[spi] = Slot(slot.kinds, Reg.unknown())

    def _note_access(self, slot: int, reg: Reg) -> None:
        """Remember the region ``reg`` (a safe access's base) points into; None once paths differ."""
        if reg.type == PTR_TO_BTF_ID and not reg.alloc and reg.btf and reg.var.is_const():
            access: Access | None = Access(STRUCT, reg.btf, reg.off + s64(reg.var.value))
        elif reg.type in (PTR_TO_MAP_VALUE, PTR_TO_STACK, PTR_TO_MEM) or reg.alloc:
            access = _BYTES
        elif reg.type == PTR_TO_CTX:
            access = _CTX
        else:
            access = None
        seen = self.accesses.get(slot, access)
        self.accesses[slot] = access if seen == access else None

    # -------------------------------------------------------------- execution
    def _step(self, st: State, insn: Insn) -> int | None:
        cls = insn.cls
        nxt = insn.slot + insn.width
        if cls in (isa.BPF_ALU, isa.BPF_ALU64):
            alu.do_alu(self, st, insn)
            return nxt
        if cls in (isa.BPF_LDX, isa.BPF_ST, isa.BPF_STX):
            acquire = insn.code & 0xE0 == isa.BPF_ATOMIC and insn.imm == isa.BPF_LOAD_ACQ
            reg = st.cur.regs[insn.src if cls == isa.BPF_LDX or acquire else insn.dst]
            mem.do_mem(self, st, insn)  # raises unless the access is safe
            self._note_access(insn.slot, reg)
            return nxt
        if insn.code == isa.LD_IMM64:
            st.cur.regs[insn.dst] = self._ld_imm64(insn)
            return nxt
        if insn.code == isa.EXIT:
            return self._exit(st, insn)
        if insn.code == isa.CALL:
            return self._call(st, insn)
        self.since_jmps += 1
        op = insn.code & 0xF0
        if op == isa.BPF_JA:
            return isa.jump_target(insn)
        target = isa.jump_target(insn)
        assert target is not None
        if op == isa.BPF_JCOND:  # may_goto: the budget-exhausted exit now, the loop body later
            body = st.copy()
            body.may_goto_depth += 1
            body.history = (insn.slot, body.cur.frameno, tuple(body.cur.regs), body.history)
            self._fork(body, nxt)
            return target
        outcomes = alu.cond_jump(st, insn)
        if len(outcomes) == 1:
            return target if outcomes[0][0] else nxt
        text = f"insn {insn.slot} ({self._asm(insn)})"
        (first_taken, first), (_, second) = outcomes
        first.history = (insn.slot, first.cur.frameno, tuple(first.cur.regs), first.history)
        first.decisions = (
            insn.slot,
            f"{'taken' if first_taken else 'not taken'} [{text}]",
            st.decisions,
        )
        second.decisions = (
            insn.slot,
            f"{'not taken' if first_taken else 'taken'} [{text}]",
            st.decisions,
        )
        self._fork(first, target if first_taken else nxt)
        return nxt if first_taken else target

    def _asm(self, insn: Insn) -> str:
        from qdisclab.bpf.asm import format_insn

        return format_insn(insn, self.symbols)

    def _ld_imm64(self, insn: Insn) -> Reg:
        if insn.src == 0:
            return Reg.const(insn.imm64)
        if insn.src == isa.BPF_PSEUDO_FUNC:
            return Reg(PTR_TO_FUNC, subprog=insn.slot + 1 + insn.imm)
        name = self.symbols.get(insn.slot, "")
        if insn.src in (isa.BPF_PSEUDO_MAP_FD, isa.BPF_PSEUDO_MAP_IDX):
            return Reg(CONST_PTR_TO_MAP, map=self._map(name))
        if insn.src in (isa.BPF_PSEUDO_MAP_VALUE, isa.BPF_PSEUDO_MAP_IDX_VALUE):
            return Reg(PTR_TO_MAP_VALUE, map=self._map(name), off=insn.next_imm)
        return Reg(PTR_TO_BTF_ID, btf=name or None, trusted=True)

    def _map(self, name: str) -> MapProto:
        m = self.proto.maps.get(name)
        if m is None:
            raise Reject(
                "invalid-insn",
                f"fd {name!r} is not pointing to valid bpf_map",
                f"the program references map or global {name!r}, which the object does not define",
            )
        return m

    def _call(self, st: State, insn: Insn) -> int:
        if insn.src == isa.BPF_PSEUDO_CALL:
            if len(st.frames) >= MAX_CALL_FRAMES:
                raise Reject(
                    "call-depth", f"the call stack of {len(st.frames) + 1} frames is too deep"
                )
            target = isa.jump_target(insn)
            assert target is not None
            callee = Frame(len(st.frames), target, insn.slot)
            callee.regs[1:6] = st.cur.regs[1:6]
            st.frames.append(callee)
            return target
        fn = calls.lookup(self, insn, self.symbols)
        call = calls.do_call(self, st, insn, fn)
        if call.callback < 0:
            return insn.slot + 1
        if len(st.frames) >= MAX_CALL_FRAMES:
            raise Reject("call-depth", f"the call stack of {len(st.frames) + 1} frames is too deep")
        self.cfg.prune_points.add(call.callback)
        self.loop_points.add(call.callback)
        frame = Frame(len(st.frames), call.callback, insn.slot)
        frame.callback = Callback(
            fn.name, fn.callback_ret, len(st.refs), fn.callback_args, call.callback_ctx
        )
        exits.callback_args(frame, frame.callback)
        st.frames.append(frame)
        return call.callback

    def _exit(self, st: State, insn: Insn) -> int | None:
        frame = st.cur
        r0 = frame.regs[0]
        main_void = len(st.frames) == 1 and self.proto.void_return
        if r0.type == NOT_INIT and not main_void:
            raise Reject("uninit-register", "R0 !read_ok", "set the return value before exit")
        if len(st.frames) > 1:
            return self._return(st, frame, r0)
        exits.check_main_exit(st, self.proto, r0, self.source_line)
        return None

    def _return(self, st: State, frame: Frame, r0: Reg) -> int:
        cb = frame.callback
        if cb is not None:
            exits.check_callback_return(st, cb, r0)
            again = st.copy()  # the helper may call the callback once more
            fresh = Frame(frame.frameno, frame.entry, frame.callsite)
            fresh.callback = cb
            exits.callback_args(fresh, cb)
            again.frames[-1] = fresh
            self._fork(again, frame.entry)
        if r0.type == PTR_TO_STACK and r0.frameno == frame.frameno:
            raise Reject("invalid-mem-access", "cannot return stack pointer to the caller")
        st.frames.pop()
        caller = st.cur
        caller.regs[0] = Reg.unknown() if cb is not None else r0
        caller.regs[1:6] = [NOT_INIT_REG] * 5
        return frame.callsite + 1


__all__ = ["VerificationError", "VerifyStats", "verify"]
