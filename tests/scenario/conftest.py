from qdisclab.scenario.library import load_builtin
from qdisclab.scenario.registry import missing


def require_builtin(name: str):
    """Load built-in ``name``; every traffic type and feature it uses must be registered.

    Every piece the built-ins need (TCP, tcx, netkit, the qdiscs) is part of the
    project, so a missing one is a failure, never a skip.
    """
    loaded = load_builtin(name)
    s = loaded.scenario
    problems = [missing(f.type) for f in s.flow] + [
        missing(k) for k in ("tcx", "netkit") if getattr(s, k)
    ]
    problems = [p for p in problems if p]
    assert not problems, f"{name}: {problems}"
    return loaded
