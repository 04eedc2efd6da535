"""Scenarios: TOML files (validated), built-ins, the runner, results, sweeps.

The notebook API (``Scenario``, ``run``) is in ``qdisclab.scenario.api``, also
reachable as ``qdisclab.Scenario`` and ``qdisclab.run``.
"""

from qdisclab.scenario.build import run_loaded
from qdisclab.scenario.library import builtin_names, default_scenario, load_any, load_builtin
from qdisclab.scenario.loader import ScenarioError, load_file, load_text
from qdisclab.scenario.registry import register_extension_kind, register_feature, register_traffic
from qdisclab.scenario.runner import (
    BUILTINS,
    DEFAULT_SCENARIO,
    prepare_scenario,
    run_builtin,
    run_scenario,
)

__all__ = [
    "BUILTINS",
    "DEFAULT_SCENARIO",
    "ScenarioError",
    "builtin_names",
    "default_scenario",
    "load_any",
    "load_builtin",
    "load_file",
    "load_text",
    "prepare_scenario",
    "register_extension_kind",
    "register_feature",
    "register_traffic",
    "run_builtin",
    "run_loaded",
    "run_scenario",
]
