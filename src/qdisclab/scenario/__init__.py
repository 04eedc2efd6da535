"""Scenarios: built-in experiments, the runner, results collection."""

from qdisclab.scenario.runner import BUILTINS, DEFAULT_SCENARIO, run_builtin

__all__ = ["BUILTINS", "DEFAULT_SCENARIO", "run_builtin"]
