"""Start-up: a command imports only what it uses, and the import_s bench row measures it.

Laziness is checked by what a fresh interpreter has in ``sys.modules`` after a
command, never by timing; the bench row's figures are checked for shape and
for being measured at all (a parse that found nothing would report 0).
"""

from __future__ import annotations

import io
import json
import subprocess
import sys
import time
from contextlib import redirect_stdout

import pytest

from qdisclab.bench import Budget
from qdisclab.bench.startup import RUN_ARGS, WITHOUT_SITE, child_env, parse_importtime, startup
from qdisclab.cli import main

# Libraries only outputs, sweeps, BPF objects, live runs or `check` need.
HEAVY_LIBRARIES = ("matplotlib", "dask", "distributed", "pandas", "pyarrow", "dpkt", "elftools",
                   "hypothesis", "tomli_w")  # fmt: skip
# qdisclab packages a simulated run needs only when its scenario or command asks for them.
OPTIONAL_PACKAGES = ("qdisclab.bpf", "qdisclab.live", "qdisclab.check", "qdisclab.net.tc")
# What only --out, recorded events or sweeps use.
OUTPUT_MODULES = (
    "qdisclab.measure.events",
    "qdisclab.measure.plotdata",
    "qdisclab.measure.pcap",
    "qdisclab.measure.plots",
    "qdisclab.scenario.outputs",
    "qdisclab.scenario.sweep",
)
SCENARIO_PACKAGES = ("qdisclab.scenario", "qdisclab.measure", "qdisclab.net", "qdisclab.sched",
                     "qdisclab.tcp", "qdisclab.traffic")  # fmt: skip

_REPORT = """
import io, json, sys
from contextlib import redirect_stdout
from qdisclab.cli import main
with redirect_stdout(io.StringIO()) as out:
    code = main(sys.argv[1:])
print(json.dumps({"code": code, "out": out.getvalue(), "modules": sorted(sys.modules)}))
"""


def modules_after(tmp_path, *args: str) -> tuple[set[str], str]:
    """The modules a fresh interpreter has loaded after ``qdisclab ARGS``, and its output."""
    result = subprocess.run([sys.executable, "-c", _REPORT, *args], capture_output=True,
                            text=True, timeout=600, env=child_env(str(tmp_path)))  # fmt: skip
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["code"] == 0, result.stderr
    return set(report["modules"]), report["out"]


def loaded(modules: set[str], packages: tuple[str, ...]) -> list[str]:
    return sorted(m for m in modules if any(m == p or m.startswith(p + ".") for p in packages))


def test_a_udp_run_imports_no_tcp_tcx_netkit_outputs_or_rich(tmp_path):
    modules, out = modules_after(tmp_path, "run", "udp-dumbbell", "--duration", "50ms", "--json")
    assert json.loads(out)["scenario"] == "udp-dumbbell"  # it did run
    assert "qdisclab.scenario.build" in modules and "qdisclab.traffic.udp" in modules
    assert loaded(modules, HEAVY_LIBRARIES) == []
    assert loaded(modules, OPTIONAL_PACKAGES + OUTPUT_MODULES) == []
    datapath_extras = ("qdisclab.tcp", "qdisclab.tcx", "qdisclab.netkit", "qdisclab.mprog")
    assert loaded(modules, datapath_extras) == []
    # --json prints no table, and typer brings its own copy of click
    assert loaded(modules, ("rich", "click")) == []
    # the one command it runs: no other command's module, nor their parameters
    assert loaded(modules, ("qdisclab.cli",)) == ["qdisclab.cli", "qdisclab.cli.cmd_run"]


def test_a_tcp_run_imports_tcp_but_not_tcx_netkit_or_pcap_writing(tmp_path):
    # bufferbloat records pcaps, but only with --out: without it dpkt is not needed
    modules, out = modules_after(tmp_path, "run", "bufferbloat", "--duration", "200ms", "--json")
    assert json.loads(out)["tcp"][0]["cc"] == "cubic"
    assert "qdisclab.tcp.sock" in modules
    assert loaded(modules, HEAVY_LIBRARIES) == []
    assert loaded(modules, OPTIONAL_PACKAGES + OUTPUT_MODULES) == []
    assert loaded(modules, ("qdisclab.tcx", "qdisclab.netkit", "qdisclab.mprog")) == []


def test_help_imports_no_scenario_measurement_or_datapath_module(tmp_path):
    modules, out = modules_after(tmp_path, "--help")
    assert "run" in out and "sweep" in out
    assert loaded(modules, SCENARIO_PACKAGES + OPTIONAL_PACKAGES + ("qdisclab.units",)) == []
    assert loaded(modules, HEAVY_LIBRARIES) == []


def test_the_importtime_sum_counts_top_level_imports_after_site_once():
    log = "\n".join([
        "import time: self [us] | cumulative | imported package",
        "import time:       100 |        100 | encodings",  # the interpreter's own start
        "import time:       200 |       3000 | site",
        "import time:       400 |        400 |   certifi",  # inside site (a .pth hook)
        "import time:       300 |        300 |   qdisclab.units",  # counted in its parent
        "import time:      1000 |      20000 | qdisclab.cli",
        "import time:      5000 |       5000 | qdisclab.scenario.model",  # imported later
    ])  # fmt: skip
    assert parse_importtime(log) == pytest.approx(0.025)
    assert parse_importtime("no importtime lines here") == 0
    # a child without site imports os first: what came before it is the interpreter's
    bare = "\n".join(["import time: 100 | 100 | encodings", "import time: 300 | 700 | os",
                      "import time: 2000 | 9000 | typer"])  # fmt: skip
    assert parse_importtime(bare) == pytest.approx(0.009)


def test_the_measured_child_runs_without_other_packages_site_hooks(tmp_path):
    result = subprocess.run([sys.executable, "-X", "importtime", *WITHOUT_SITE, "--help"],
                            capture_output=True, text=True, timeout=120,
                            env=child_env(str(tmp_path), without_site=True))  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "Usage" in result.stdout and "show-scenario" in result.stdout
    names = {line.rpartition("|")[2].strip() for line in result.stderr.splitlines()}
    assert "typer" in names and "site" not in names  # no .pth hook ran before the count
    assert parse_importtime(result.stderr) > 0


@pytest.mark.slow
def test_the_startup_bench_row_measures_real_imports(tmp_path):
    figures = startup(Budget(quick=True))
    assert set(figures) == {"import_s", "import_target_s", "help_import_s",
                            "bufferbloat_1s_wall_s", "python_start_s"}  # fmt: skip
    assert figures["import_s"] > 0 and figures["help_import_s"] > 0
    assert figures["python_start_s"] > 0
    # What is summed is what the command imported: less than the lifetime of that same
    # process (the row's figures come from separate processes, which machine noise can
    # put in either order).
    started = time.perf_counter()
    result = subprocess.run([sys.executable, "-X", "importtime", *WITHOUT_SITE, *RUN_ARGS],
                            capture_output=True, text=True, timeout=300,
                            env=child_env(str(tmp_path), without_site=True))  # fmt: skip
    elapsed = time.perf_counter() - started
    assert result.returncode == 0, result.stderr
    assert 0 < parse_importtime(result.stderr) < elapsed


def test_each_command_module_defines_the_command_named_after_it():
    import typer.main

    from qdisclab.cli import build_app, command_modules

    names = list(command_modules())
    assert {"run", "show-scenario", "bpf", "tc"} <= set(names)
    for name in names:
        group = typer.main.get_command(build_app(name))
        assert list(group.commands) == [name]  # so `qdisclab NAME` needs only that module
    assert sorted(typer.main.get_command(build_app()).commands) == sorted(names)  # help: all


def test_a_command_alone_parses_and_explains_itself_as_with_every_command(tmp_path):
    def cli(entry: str, args: list[str]) -> subprocess.CompletedProcess[str]:
        code = f"import sys; from qdisclab.cli import {entry}; sys.argv[0] = 'qdisclab'; "
        code += "sys.exit(main())" if entry == "main" else "app(sys.argv[1:])"
        return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True,
                              timeout=120, env=child_env(str(tmp_path)))  # fmt: skip

    for args in (["run", "--help"], ["run", "--seed", "x"], ["bpf", "--help"], ["nosuch"]):
        alone, full = cli("main", args), cli("app", args)  # main() registers only what it runs
        assert alone.stdout == full.stdout, args
        assert (alone.returncode == 0) == (full.returncode == 0), args


def _collections_during(*args: str) -> int:
    """How many cyclic collections ran while ``main(ARGS)`` ran in this process."""
    import gc

    seen = []

    def count(phase: str, info: dict) -> None:
        if phase == "start":
            seen.append(info["generation"])

    gc.callbacks.append(count)
    try:
        with redirect_stdout(io.StringIO()):
            assert main(list(args)) == 0
    finally:
        gc.callbacks.remove(count)
    return len(seen)


def test_start_up_runs_without_the_collector_and_the_event_loop_with_it(monkeypatch):
    import gc

    from qdisclab.scenario.simulation import Simulation

    frozen_before = gc.get_freeze_count()
    assert _collections_during("--help") == 0  # start-up only: nothing worth collecting
    # When the event loop starts, the collector is on again and start-up's objects
    # (modules, the world) are frozen out of its passes. (Whether it then collects
    # depends on how many objects the loop keeps alive, not on the command line.)
    at_loop_start = []
    run = Simulation.run

    def observed_run(self, *args, **kwargs):
        at_loop_start.append((gc.isenabled(), gc.get_freeze_count()))
        return run(self, *args, **kwargs)

    monkeypatch.setattr(Simulation, "run", observed_run)
    _collections_during("run", "udp-dumbbell", "--duration", "200ms", "--json")
    [(enabled, frozen)] = at_loop_start
    assert enabled and frozen > frozen_before
    assert gc.isenabled()  # main gives the caller its collector back, and nothing frozen
    assert gc.get_freeze_count() == frozen_before


_AT_EXIT = """
import gc, sys
from qdisclab.cli import main
sys.argv = ["qdisclab", "run", "udp-dumbbell", "--duration", "200ms", "--json"]
code = main()
print(gc.get_freeze_count(), sum(gc.get_count()), code, file=sys.stderr)
"""


def test_the_processs_own_command_line_leaves_its_objects_frozen_for_the_exit(tmp_path):
    # The interpreter's last collections would walk (and free) the whole run's world
    # only for the exit to return the memory anyway; the output is whole all the same.
    done = subprocess.run([sys.executable, "-c", _AT_EXIT], capture_output=True, text=True,
                          timeout=300, env=child_env(str(tmp_path)))  # fmt: skip
    frozen, young, code = map(int, done.stderr.split()[-3:])
    assert code == 0 and frozen > 0 and young == 0
    books = json.loads(done.stdout)["conservation"]
    assert books["sent"] == books["delivered"] + sum(books["dropped"].values()) + books["in_flight"]


_VALIDATORS = """
import json
from qdisclab.scenario import model
from qdisclab.scenario.library import load_builtin
plots = [load_builtin(name).scenario.run.record.plots for name in ("udp-dumbbell", "bufferbloat")]
built = [m.__name__ for m in vars(model).values()
         if isinstance(m, type) and issubclass(m, model.Strict) and m.__pydantic_complete__]
print(json.dumps({"plots": plots, "built": built}))
"""


def test_a_run_builds_one_scenario_validator_and_no_nested_ones(tmp_path):
    # udp-dumbbell has no [run.record] table, bufferbloat has one: defaults come all the same
    result = subprocess.run([sys.executable, "-c", _VALIDATORS], capture_output=True, text=True,
                            timeout=120, env=child_env(str(tmp_path)))  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {"plots": [True, True], "built": ["Scenario"]}
