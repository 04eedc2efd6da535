"""A struct_ops callback's own code around its translated program (``CallbackWrap``).

A per-packet callback (a BPF qdisc's ``enqueue`` and ``dequeue``) does a little
work of its own before and after its program runs: it maps the skb it was
handed to an address, unmaps the one the program returns, checks what the
program left owned and turns a fault into the extension fault. Written by the
translator into the generated function itself (see
``codegen._Function.source``), that work costs no Python call of its own: the
trampoline calls the generated function as the ops table's member.

>>> w = CallbackWrap("sch", [], ["0x100000000"], lambda v: [f"return {v}"], "f({fault})", {})
>>> w.params, w.ret("0x0")
('sch', ['return 0x0'])
"""

from __future__ import annotations

from collections.abc import Callable


class CallbackWrap:
    """What the translator writes around a ``run_ctx`` to make it the callback itself.

    * ``params``: the callback's parameter list (the ops table member's);
    * ``prologue``: lines run first (outside the fault handler);
    * ``args``: per argument of the program's context, the expression of its
      u64 value (a literal, or a name the prologue or the module binds);
    * ``ret(value)``: the lines that stand for ``return value`` (R0's
      expression): they end in the callback's own ``return``;
    * ``fault``: the expression of the exception a program fault raises,
      ``{fault}`` standing for the annotated ``BpfFault``;
    * ``bound``: the module globals these lines name;
    * ``objects``: per argument that is a struct's address, ``(struct, expression,
      stable)``: the object whose view starts there, which a proven access reads
      without looking it up while the register still holds the argument — until
      the first call unless ``stable`` (no call can unmap that view).
    """

    __slots__ = ("args", "bound", "fault", "objects", "params", "prologue", "ret")

    def __init__(
        self,
        params: str,
        prologue: list[str],
        args: list[str],
        ret: Callable[[str], list[str]],
        fault: str,
        bound: dict[str, object],
        objects: dict[int, tuple[str, str, bool]] | None = None,
    ) -> None:
        self.params, self.prologue, self.args = params, prologue, args
        self.ret, self.fault, self.bound = ret, fault, bound
        self.objects = objects or {}
