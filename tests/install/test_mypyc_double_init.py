"""Guard against mypyc running an inherited ``__init__`` twice.

mypyc (2.4.1) compiles a subclass that has no ``__init__`` of its own, whose
compiled base allows interpreted subclasses, so that constructing it runs the
base's ``__init__`` twice. Harmless for an ``__init__`` that only sets
attributes; wrong for one with side effects (a UDP source that schedules its
first send twice sends at twice its rate). The check reads the sources of the
compiled modules (pyproject ``[tool.qdisclab.compile] modules``) with ``ast``,
so it runs in a pure install too, and names every class of that shape.
"""

from __future__ import annotations

import ast
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# Calls an ``__init__`` may repeat without effect outside the object: fresh containers.
_FRESH = {"deque", "set", "dict", "list", "tuple", "frozenset", "array", "bytearray", "count"}


@dataclass
class ClassInfo:
    module: str
    name: str
    bases: list[tuple[str, str]]  # (module, class) of each base found in the compiled set
    open_to_interpreted: bool  # @mypyc_attr(allow_interpreted_subclasses=True)
    native: bool  # not @mypyc_attr(native_class=False)
    init: ast.FunctionDef | None  # its own __init__
    calls_super_init: bool = False
    side_effects: list[str] = field(default_factory=list)  # what its own __init__ does


def _mypyc_flags(node: ast.ClassDef) -> tuple[bool, bool]:
    open_to_interpreted, native = False, True
    for dec in node.decorator_list:
        if isinstance(dec, ast.Call) and getattr(dec.func, "id", None) == "mypyc_attr":
            for kw in dec.keywords:
                value = isinstance(kw.value, ast.Constant) and kw.value.value is True
                if kw.arg == "allow_interpreted_subclasses" and value:
                    open_to_interpreted = True
                if kw.arg == "native_class" and not value:
                    native = False
    return open_to_interpreted, native


def _is_super_init(call: ast.Call) -> bool:
    func = call.func
    return (
        isinstance(func, ast.Attribute)
        and func.attr == "__init__"
        and isinstance(func.value, ast.Call)
        and getattr(func.value.func, "id", None) == "super"
    )


def _side_effects(init: ast.FunctionDef) -> tuple[list[str], bool]:
    """What ``init`` does besides setting its own attributes (line:what), and whether it
    calls ``super().__init__``."""
    self_name = init.args.args[0].arg if init.args.args else "self"
    found: list[str] = []
    calls_super = False
    for node in ast.walk(init):
        if isinstance(node, ast.Call):
            if _is_super_init(node):
                calls_super = True
            elif getattr(node.func, "id", None) not in _FRESH:
                found.append(f"{node.lineno}: calls {ast.unparse(node.func)}")
        elif isinstance(node, (ast.Assign, ast.AugAssign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:
                own = isinstance(target, ast.Name) or (
                    isinstance(target, ast.Attribute)
                    and isinstance(target.value, ast.Name)
                    and target.value.id == self_name
                )
                if not own:
                    found.append(f"{node.lineno}: assigns {ast.unparse(target)}")
    return found, calls_super


def collect(sources: dict[str, str]) -> dict[tuple[str, str], ClassInfo]:
    """Every top-level class of the modules ``{dotted name: source}``, bases resolved."""
    classes: dict[tuple[str, str], ClassInfo] = {}
    raw: list[tuple[str, ast.ClassDef, dict[str, tuple[str, str]]]] = []
    for module, text in sources.items():
        tree = ast.parse(text)
        names: dict[str, tuple[str, str]] = {}  # local name -> (module, class)
        for node in tree.body:
            if isinstance(node, ast.ImportFrom) and node.module:
                for alias in node.names:
                    names[alias.asname or alias.name] = (node.module, alias.name)
            elif isinstance(node, ast.ClassDef):
                names[node.name] = (module, node.name)
                raw.append((module, node, names))
    for module, node, names in raw:
        bases = [names[b.id] for b in node.bases if isinstance(b, ast.Name) and b.id in names]
        init = next(
            (f for f in node.body if isinstance(f, ast.FunctionDef) and f.name == "__init__"),
            None,
        )
        open_to_interpreted, native = _mypyc_flags(node)
        info = ClassInfo(module, node.name, bases, open_to_interpreted, native, init)
        if init is not None:
            info.side_effects, info.calls_super_init = _side_effects(init)
        classes[(module, node.name)] = info
    for info in classes.values():  # keep only the bases that are compiled classes
        info.bases = [b for b in info.bases if b in classes]
    return classes


def _init_has_side_effects(cls: ClassInfo, classes: dict[tuple[str, str], ClassInfo]) -> bool:
    if cls.side_effects:
        return True
    if cls.init is not None and not cls.calls_super_init:
        return False
    return any(_init_has_side_effects(classes[b], classes) for b in cls.bases)


def double_init_classes(sources: dict[str, str]) -> list[str]:
    """The native classes that would run a side-effecting inherited ``__init__`` twice.

    A class qualifies when it has no ``__init__`` of its own, a compiled base of it
    (any ancestor along its native bases) allows interpreted subclasses, and the
    ``__init__`` it inherits (with the ones that calls through ``super``) does more
    than set the new object's attributes.
    """
    classes = collect(sources)
    found = []
    for cls in classes.values():
        if cls.init is not None or not cls.native or not cls.bases:
            continue
        ancestors, base = [], classes[cls.bases[0]]
        while True:
            ancestors.append(base)
            if not base.bases:
                break
            base = classes[base.bases[0]]
        definer = next((b for b in ancestors if b.init is not None), None)
        if definer is None or not any(b.open_to_interpreted for b in ancestors):
            continue
        if _init_has_side_effects(definer, classes):
            base = definer
            where = f"{base.module}.{base.name}.__init__"
            found.append(f"{cls.module}.{cls.name} (inherits {where}: define its own __init__)")
    return sorted(found)


def _compiled_sources() -> dict[str, str]:
    with open(ROOT / "pyproject.toml", "rb") as f:
        modules = tomllib.load(f)["tool"]["qdisclab"]["compile"]["modules"]
    src = ROOT / "src"
    return {m: (src / (m.replace(".", "/") + ".py")).read_text() for m in modules}


def test_no_compiled_class_inherits_a_side_effecting_init_from_an_open_base():
    assert double_init_classes(_compiled_sources()) == []


# The shape that once made every Poisson source send at twice its rate.
_SOURCES = """
from mypy_extensions import mypyc_attr
from pkg.sched import Scheduler

@mypyc_attr(allow_interpreted_subclasses=True)
class UdpSource:
    def __init__(self, sched: Scheduler) -> None:
        self.sched = sched
        self.event = sched.call_at(0, self.send, None)

class CbrSource(UdpSource):
    pass

class PoissonSource(UdpSource):
    def __init__(self, sched: Scheduler) -> None:
        super().__init__(sched)
"""


def test_the_udp_source_shape_is_named():
    found = double_init_classes({"pkg.sources": _SOURCES})
    assert found == [
        "pkg.sources.CbrSource (inherits pkg.sources.UdpSource.__init__: define its own __init__)"
    ]


def test_a_base_closed_to_interpreted_subclasses_or_a_plain_init_passes():
    closed = _SOURCES.replace("@mypyc_attr(allow_interpreted_subclasses=True)\n", "")
    assert double_init_classes({"pkg.sources": closed}) == []
    plain = """
from collections import deque
from mypy_extensions import mypyc_attr

@mypyc_attr(allow_interpreted_subclasses=True)
class WireEnd:
    def __init__(self) -> None:
        self.rx_line = deque()

class Port(WireEnd):
    pass
"""
    assert double_init_classes({"pkg.wire": plain}) == []


def test_a_side_effect_two_levels_up_and_across_modules_is_found():
    base = """
from mypy_extensions import mypyc_attr

@mypyc_attr(allow_interpreted_subclasses=True)
class Device:
    def __init__(self, world) -> None:
        world.devices.append(self)
"""
    middle = """
from pkg.base import Device

class Veth(Device):
    def __init__(self, world) -> None:
        super().__init__(world)
        self.peer = None

class Tun(Veth):
    pass
"""
    found = double_init_classes({"pkg.base": base, "pkg.veth": middle})
    assert found == ["pkg.veth.Tun (inherits pkg.veth.Veth.__init__: define its own __init__)"]


def test_reopening_the_real_udp_source_to_interpreted_subclasses_is_caught():
    sources = _compiled_sources()
    text = sources["qdisclab.traffic.sources"]
    assert "\nclass UdpSource:" in text
    sources["qdisclab.traffic.sources"] = text.replace(
        "\nclass UdpSource:", "\n@mypyc_attr(allow_interpreted_subclasses=True)\nclass UdpSource:"
    )
    found = double_init_classes(sources)
    assert [entry.split(" ")[0] for entry in found] == [
        "qdisclab.traffic.sources.CbrSource",
        "qdisclab.traffic.sources.PoissonSource",
    ]
