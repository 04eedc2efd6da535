"""An object's programs loaded once and bound to qdisclab: what every attach shares.

:class:`BoundObject` builds the :class:`~qdisclab.bpf.kfunc_binding.ProgramEnv`
(memory, views, the object's graph state), binds its helpers, kfuncs, global
data and maps through an :class:`~qdisclab.bpf.runner.ObjectResolver`, and
prepares the programs it is asked for on an engine. ``env_class`` picks how
kfunc arguments are converted (a qdisc's ``sch``, a congestion control's
socket, a tc program's ``__sk_buff``).

>>> from qdisclab.bpf.objects import load_object
>>> bound = BoundObject(load_object("examples/bpf/tc_count_mark.bpf.o"), "tcx")  # doctest: +SKIP
>>> sorted(bound.load(["count_ingress"]))                                        # doctest: +SKIP
['count_ingress']
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, Literal

from qdisclab.bpf import isa
from qdisclab.bpf.errors import BpfLoadError
from qdisclab.bpf.kfunc_binding import ProgramEnv
from qdisclab.bpf.objects import BpfObject
from qdisclab.bpf.program import BpfProgram
from qdisclab.bpf.runner import Global, ObjectResolver, load
from qdisclab.bpf.struct_ops_maps import StructOpsMap
from qdisclab.errors import UserError

Engine = Literal["translate", "interp"]
ENGINES: tuple[Engine, ...] = ("translate", "interp")


def check_engine(engine: str) -> None:
    if engine not in ENGINES:
        raise UserError(f"unknown BPF engine {engine!r} (use {' or '.join(ENGINES)})")


def find_ops_map(obj: BpfObject, struct: str, name: str | None = None) -> StructOpsMap:
    """The object's one ``struct`` struct_ops map (``name`` picks one when there are several)."""
    found = [m for m in obj.struct_ops.values() if m.struct == struct]
    if name is not None:
        found = [m for m in found if m.name == name]
    if len(found) != 1:
        what = "no" if not found else "several"
        raise BpfLoadError(obj.path, f"{what} struct {struct} map(s) {name or ''}".rstrip())
    return found[0]


def attached_before(existing: object, base: type, obj: BpfObject, engine: str) -> bool:
    """Whether ``existing`` (a registered kind) is ``obj`` attached on ``engine`` already."""
    return (
        isinstance(existing, type)
        and issubclass(existing, base)
        and Path(existing.obj.path).resolve() == Path(obj.path).resolve()  # type: ignore[attr-defined]
        and existing.engine == engine  # type: ignore[attr-defined]
    )


def where(program: BpfProgram, slot: int) -> str:
    """``insn N [file:line: text]``: where an instruction is, for a diagnostic."""
    line = program.source_line(slot)
    text = f"insn {slot}"
    return f"{text} [{line[0]}:{line[1]}: {line[2].strip()}]" if line else text


class BoundObject:
    """One attach of ``obj``: its environment, resolver and prepared programs."""

    def __init__(
        self,
        obj: BpfObject,
        interface: str,
        env_class: type[ProgramEnv] = ProgramEnv,
        engine: Engine = "translate",
        budget: int = isa.BPF_COMPLEXITY_LIMIT_INSNS,
    ) -> None:
        check_engine(engine)
        self.obj = obj
        self.engine = engine
        self.budget = budget
        env = self.env = env_class(obj, interface)
        self.resolver = ObjectResolver(
            env.memory,
            helpers=env.helpers(),
            kfuncs=env.kfuncs(),
            globals={n: Global(bytearray(g.data), g.read_only) for n, g in obj.globals.items()},
            maps=obj.create_maps(),
        )
        env.map_at = self.resolver.map_at

    def map(self, name: str) -> Any:
        """The qdisclab map behind the object's map ``name`` (what its programs update)."""
        base = self.resolver.map_base.get(name)
        if base is None:
            raise BpfLoadError(self.obj.path, f"no map {name!r} (maps: {', '.join(self.obj.maps)})")
        return self.resolver.map_at(base)

    def load(self, programs: Iterable[str]) -> dict[str, Callable[..., int]]:
        """``name -> run(r1, ...)`` for each program named (a load error for a missing one)."""
        runs = {}
        for name in programs:
            program = self.obj.programs.get(name)
            if program is None:
                raise BpfLoadError(self.obj.path, f"no program {name!r}")
            runs[name] = load(program, self.resolver, self.env.memory, self.engine, self.budget).run
        return runs


__all__ = [
    "ENGINES",
    "BoundObject",
    "Engine",
    "attached_before",
    "check_engine",
    "find_ops_map",
    "where",
]
