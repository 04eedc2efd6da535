"""Run a BPF program as Python compiled once at load: the :class:`Translated` engine.

:mod:`qdisclab.bpf.codegen` writes the program as Python source (registers
as locals, masks inline, plain byte regions read in place); it is compiled
with ``compile()`` once, and a run is one call of the generated entry
function. Results and faults are exactly the reference interpreter's: a
block that would cross the instruction budget is finished by the
interpreter from the same state, so the fault (budget, or an earlier memory
fault) is the one the interpreter raises.

>>> from qdisclab.bpf.asm import assemble
>>> from qdisclab.bpf.resolver import TableResolver
>>> prog = Translated(assemble("r0 = r1\\nr0 *= 3\\nexit"), TableResolver())
>>> prog.run(14)
42
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from typing import Any

from qdisclab.bpf import isa
from qdisclab.bpf.code import Code
from qdisclab.bpf.codegen import StructLayouts, program_module, sdiv, smod
from qdisclab.bpf.fault import BpfFault
from qdisclab.bpf.image import Image
from qdisclab.bpf.interp import Interpreter, bswap, callback_slot, deep_call_fault
from qdisclab.bpf.isa import M64
from qdisclab.bpf.memory import BytesRegion, Memory, ignored_write
from qdisclab.bpf.proven import Proven
from qdisclab.bpf.resolver import Resolver
from qdisclab.bpf.wrap import CallbackWrap


class Translated:
    """A program translated to Python and compiled once; runs like :class:`Interpreter`.

    Same constructor and :meth:`run` as the interpreter, and the same
    results and faults; ``source`` is the generated Python, for reading.
    ``proven`` (the verifier's facts about the program's accesses) and
    ``views`` (where its kernel-struct pointers lead) specialise the code;
    ``ctx_args`` (a struct_ops callback's argument count) may add ``run_ctx``,
    or with ``wrap`` ``callback``: the callback itself (:class:`CallbackWrap`).
    """

    def __init__(
        self,
        code: Code | Image,
        resolver: Resolver,
        memory: Memory | None = None,
        budget: int = isa.BPF_COMPLEXITY_LIMIT_INSNS,
        max_loops: int = isa.BPF_MAX_LOOPS,
        proven: Proven | None = None,
        views: StructLayouts | None = None,
        ctx_args: int = 0,
        wrap: CallbackWrap | None = None,
    ) -> None:
        # The reference interpreter links the program and finishes budget-crossing blocks.
        self._reference = ref = Interpreter(code, resolver, memory, budget, max_loops)
        self.image, self.name, self.memory = ref.image, ref.name, ref.memory
        self.budget, self.max_loops = budget, max_loops
        self.steps = 0
        self.depth = 0
        self.source, bound = program_module(self.image, budget, proven, views, ctx_args, wrap)
        # The module's globals: what a wrap binds there may be set again later (at init).
        self.namespace = namespace = {"struct": struct, **bound}
        exec(compile(self.source, f"<bpf {self.name}>", "exec"), namespace)
        fps = [self.memory.frame_pointer(d) for d in range(isa.MAX_CALL_FRAMES)]
        stacks = []
        for fp in fps:
            found = self.memory.region_at(fp - isa.MAX_BPF_STACK)
            assert found is not None and isinstance(found[0], BytesRegion)
            stacks.append(found[0].data)
        calls = [self.image.calls[s] for s in sorted(self.image.calls)]
        self._functions = namespace["build"](  # type: ignore[operator]
            *calls,
            ld=self.memory.load,
            st=self.memory.store,
            R=self.memory.readable,
            W=self.memory.writable,
            V=self.memory.views,
            E=(KeyError, TypeError, struct.error),
            KEPT=ignored_write,  # a counter qdisclab keeps: the program's write is not called
            fps=fps,
            stacks=stacks,
            budget=budget,
            max_loops=max_loops,
            slow=self._slow,
            deep=deep_call_fault,
            at=_at,
            vm=self,
            bswap=bswap,
            sdiv=sdiv,
            smod=smod,
            BpfFault=BpfFault,
            annotate=self._reference.annotate,
        )
        self.run = self._functions.pop("run")  # type: ignore[method-assign]
        # run(r1) of a struct_ops callback given its arguments, not their packed bytes
        self.run_ctx: Callable[..., int] | None = self._functions.pop("run_ctx", None)
        # the callback with its own code around the program (wrap), when the proof allows it
        self.callback: Callable[..., Any] | None = self._functions.pop("callback", None)

    def run(self, r1: int = 0, r2: int = 0, r3: int = 0, r4: int = 0, r5: int = 0) -> int:
        """Run the program with R1–R5 set; returns R0 (64 bits, unsigned).

        Replaced in each instance by the generated entry function, which does
        exactly this without a call in between.
        """
        raise AssertionError("replaced in __init__")

    def call_function(
        self, address: int, r1: int = 0, r2: int = 0, r3: int = 0, r4: int = 0, r5: int = 0
    ) -> int:
        """Call the function at code ``address`` from a helper (one frame deeper)."""
        slot = callback_slot(self.image, address, self.depth)
        depth = self.depth
        try:
            r0, self.steps = self._functions[slot](
                r1 & M64, r2 & M64, r3 & M64, r4 & M64, r5 & M64, depth + 1, self.steps
            )
        finally:
            self.depth = depth
        return r0

    def _slow(self, pc: int, depth: int, steps: int, loops: int, regs: tuple[int, ...]) -> None:
        """Finish a block that crosses the budget on the interpreter: it faults there."""
        ref = self._reference
        ref.steps = steps
        ref.run_frame(list(regs), pc, depth, loops)
        raise AssertionError(f"{self.name}: block at {pc} crossed the budget without faulting")


def _at(fault: BpfFault, pc: int) -> BpfFault:
    if fault.pc < 0:
        fault.pc = pc
    return fault
