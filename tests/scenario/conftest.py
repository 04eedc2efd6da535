import pytest

from qdisclab.scenario.library import load_builtin
from qdisclab.scenario.loader import ScenarioError
from qdisclab.scenario.registry import missing


def require_builtin(name: str):
    """Load built-in ``name`` or skip naming exactly which piece is missing."""
    try:
        loaded = load_builtin(name)
    except ScenarioError as exc:
        pytest.skip(f"{name} needs a missing piece: {exc}")
    s = loaded.scenario
    for why in [missing(f.type) for f in s.flow] + [
        missing(k) for k in ("tcx", "netkit") if getattr(s, k)
    ]:
        if why:
            pytest.skip(f"{name}: {why}")
    return loaded
