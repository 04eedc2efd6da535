"""What tracepoints cost while nothing listens to them (issue 10: within 3 %).

A probe site tests whether anyone listens (``if tp.listeners:``, or a
``traced_*`` flag a site keeps from ``rebind_probes``) before it emits. To
isolate what those tests cost, the same workload runs twice in fresh pure-Python
processes, alternated, best of several:

* **sites**: the sources as they are, nothing attached to any tracepoint;
* **short-circuited**: the same sources with every such test replaced by
  ``False`` as the modules load (an AST rewrite; the compiler then drops the
  test and the probe body entirely), so the sites are gone.

Both processes load every module through the same uncached source loader, so
they differ only by the rewrite; only the simulation's ``run`` is timed (CPU
time). The row reports the ratio sites ÷ short-circuited (target ≤ 1.03) and
how many sites the rewrite removed, so a site written another way (a test the
rewrite does not recognise) shows up as a smaller count rather than passing
silently. The rewrite works on sources, so this row always runs pure.

Run one side by hand: ``python -m qdisclab.bench.bench_tracepoints [--short-circuit] SECONDS``.
"""

from __future__ import annotations

import ast
import gc
import json
import os
import subprocess
import sys
import time
from importlib.machinery import SourceFileLoader
from types import CodeType
from typing import Any

from qdisclab._native import SourceOnlyFinder
from qdisclab.bench import Budget


def is_probe_test(test: ast.expr) -> bool:
    """``x.listeners`` or ``x.traced_*``: the test a probe site makes before emitting."""
    return isinstance(test, ast.Attribute) and (
        test.attr == "listeners" or test.attr.startswith("traced_")
    )


class ShortCircuit(ast.NodeTransformer):
    """Replaces the test of every ``if`` that guards a probe by ``False``; counts them."""

    def __init__(self) -> None:
        self.sites: list[str] = []
        self.module = ""

    def visit_If(self, node: ast.If) -> ast.If:
        self.generic_visit(node)
        if is_probe_test(node.test):
            self.sites.append(f"{self.module}:{node.lineno}")
            node.test = ast.Constant(False)
        return node


class _RewritingLoader(SourceFileLoader):
    """Compiles from source every time (never writing bytecode), rewriting if asked."""

    rewrite: ShortCircuit | None = None

    def get_code(self, fullname: str) -> CodeType:
        path = self.get_filename(fullname)
        tree = ast.parse(self.get_data(path), path)
        if self.rewrite is not None:
            self.rewrite.module = fullname
            tree = ast.fix_missing_locations(self.rewrite.visit(tree))
        code: CodeType = compile(tree, path, "exec", dont_inherit=True)
        return code


def measure(seconds: float, short_circuit: bool) -> dict[str, Any]:
    """Run the four-flow CUBIC dumbbell for ``seconds`` in this process, sites removed or not."""
    rewrite = ShortCircuit()
    _RewritingLoader.rewrite = rewrite if short_circuit else None
    sys.meta_path.insert(0, SourceOnlyFinder(_RewritingLoader))
    from qdisclab.bench.bench_tcp import tcp_dumbbell  # loaded through the rewriting finder

    world, _flows = tcp_dumbbell()
    gc.collect()
    cpu0 = time.process_time()
    world.run(round(seconds * 1e9))
    cpu = time.process_time() - cpu0
    events = world.sched.events
    return {"cpu_s": cpu, "events": events, "sites": sorted(rewrite.sites)}


def _side(seconds: float, short_circuit: bool) -> dict[str, Any]:
    env = {**os.environ, "QDISCLAB_PURE": "1"}
    cmd = [sys.executable, "-m", __name__, *(["--short-circuit"] if short_circuit else [])]
    proc = subprocess.run([*cmd, str(seconds)], env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed: {proc.stderr[-800:]}")
    out = proc.stdout
    result: dict[str, Any] = json.loads(out)
    return result


def tracepoint_cost(budget: Budget) -> dict[str, Any]:
    """Unlistened tracepoints: CPU time with the probe sites ÷ with them short-circuited."""
    seconds = 0.5 if budget.quick else 4.0
    with_sites = without = float("inf")
    sites: list[str] = []
    for _ in range(1 if budget.quick else 5):
        a = _side(seconds, short_circuit=False)
        b = _side(seconds, short_circuit=True)
        if a["events"] != b["events"]:  # removing unlistened probes must change nothing
            raise RuntimeError("short-circuiting the tracepoints changed the simulation")
        with_sites, without, sites = (
            min(with_sites, a["cpu_s"]),
            min(without, b["cpu_s"]),
            b["sites"],
        )
    return {
        "tracepoint_sites_short_circuited": len(sites),
        "tracepoint_unlistened_ratio": round(with_sites / without, 4),
    }


ROWS = [tracepoint_cost]


if __name__ == "__main__":
    args = sys.argv[1:]
    short = "--short-circuit" in args
    print(json.dumps(measure(float(args[-1]), short)))
