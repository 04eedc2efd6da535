"""The ``qdisclab`` command line (typer + rich).

Commands live in ``cmd_*.py`` modules of this package, one command each,
named after its module (``cmd_show_scenario``: ``show-scenario``); each defines
``register(app)``, and an invocation imports only the module of the command it
runs. A user error (``UserError``, ``KernelError`` from bad
input) prints one line and exits with status 2, never a traceback.
"""

from __future__ import annotations

import gc
import importlib
import pkgutil
import sys

import typer

from qdisclab.errors import ExtensionFault, QdiscLabError

HELP = (
    "The Linux kernel's programmable network datapath (BPF qdiscs, tcx, netkit, TCP congestion "
    "control), rebuilt in Python on a deterministic simulator."
)


def _print_error(message: str) -> None:
    """One line on stderr through rich, imported only when there is an error to print."""
    from rich.console import Console

    Console(stderr=True, highlight=False).print(message, markup=False, soft_wrap=True)


def _group() -> None:
    """A callback makes typer keep the command line a group when it holds one command."""


def command_modules() -> dict[str, str]:
    """Each command's name and its module, in help order: ``show-scenario`` is ``cmd_show_scenario``.

    >>> command_modules()["show-scenario"]
    'qdisclab.cli.cmd_show_scenario'
    """
    import qdisclab.cli as pkg

    return {
        info.name.removeprefix("cmd_").replace("_", "-"): f"{pkg.__name__}.{info.name}"
        for info in sorted(pkgutil.iter_modules(pkg.__path__), key=lambda i: i.name)
        if info.name.startswith("cmd_")
    }


def build_app(command: str | None = None) -> typer.Typer:
    """The command line with every command, or with ``command`` alone.

    One invocation runs one command: importing the others and turning each of
    their signatures into click parameters would only delay it. The help, a
    mistyped name or no command at all get every command, as they list them.
    """
    app = typer.Typer(name="qdisclab", help=HELP, no_args_is_help=True, add_completion=False,
                      pretty_exceptions_enable=False)  # fmt: skip
    app.callback()(_group)
    for name, module in command_modules().items():
        if command is None or name == command:
            importlib.import_module(module).register(app)
    return app


def invoked_command(args: list[str]) -> str | None:
    """The command that ``args`` run, when their first word names one."""
    if args and args[0] in command_modules():
        return args[0]
    return None


def __getattr__(name: str) -> typer.Typer:  # ``qdisclab.cli.app``: every command (CliRunner)
    if name == "app":
        return build_app()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _loaded_errors(*names: str) -> tuple[type[BaseException], ...]:
    """The exception classes ``"module:Class"`` whose modules are already imported.

    Looked up when an error arrives: a module that was never imported cannot have
    raised, and importing it only to compare would cost every start (``--help``
    needs neither the unit parsers nor a second click).
    """
    found: list[type[BaseException]] = []
    for name in names:
        module_name, _, class_name = name.partition(":")
        module = sys.modules.get(module_name)
        if module is not None:
            found.append(getattr(module, class_name))
    return tuple(found)


# Click's error base class wherever it lives: recent typer releases vendor click as
# ``typer._click`` and raise that copy's exceptions; older ones use click itself.
CLICK_ERRORS = ("typer._click.exceptions:ClickException", "click.exceptions:ClickException")


def _usage_line(exc: BaseException) -> str:
    """Click's own message for a usage error, on one line (no usage block, no hint)."""
    message = exc.format_message() if hasattr(exc, "format_message") else str(exc)
    return " ".join(message.split())


# Commands whose start-up runs without the cyclic garbage collector (None: the help and
# usage errors, which run none). Start-up allocates much (modules, typer's parameters,
# the pydantic schema, the world) and frees little, so the collections it triggers,
# about 2 % of a short run's instructions, find almost nothing; a command that goes
# on to do its work calls ``resume_collector`` first.
STARTUP_WITHOUT_COLLECTOR = (None, "run")
_paused: list[bool] = [False]  # main turned the collector off and it is not back on yet


def resume_collector() -> None:
    """Collect as usual from here on, with start-up's objects frozen out of each collection.

    Called by a command of ``STARTUP_WITHOUT_COLLECTOR`` when its start-up is
    done (``run``: the world is built); ``main`` does it at the latest on return.
    """
    if _paused[0]:
        gc.freeze()  # long-lived (modules, the world): later full collections skip them
        gc.enable()
        _paused[0] = False


def main(argv: list[str] | None = None) -> int:
    """Entry point: run the app, turning qdisclab errors into one clear line.

    A user error exits 2; a misbehaving extension stopped by ``--policy strict``
    exits 1 with its diagnostic (kind, callback, packet or socket, where).

    >>> main(["nosuch"])  # prints "qdisclab: error: No such command 'nosuch'." to stderr
    2
    """
    args = sys.argv[1:] if argv is None else argv
    if args == ["--version"]:  # no typer needed
        return __import__("qdisclab").print_version()
    command = invoked_command(args)
    pause = command in STARTUP_WITHOUT_COLLECTOR and gc.isenabled()
    if pause:
        gc.disable()
        _paused[0] = True
    try:
        return _run(command, argv)
    finally:
        if pause:
            resume_collector()  # when the command did not
        if argv is None:  # this process's own command line: the interpreter exits next
            # Its last collections would walk every object left (a run's world, its
            # cycles) only to free memory the exit returns anyway: a tenth of a
            # 256-flow run. Frozen, they are left alone; output is flushed as usual.
            gc.freeze()
        elif pause:
            gc.unfreeze()  # an in-process caller's objects stay collectable


def _run(command: str | None, argv: list[str] | None) -> int:
    """``main`` for ``command``: the app's exit status, a qdisclab error as one line."""
    try:
        code = build_app(command)(args=argv, standalone_mode=False)
        # Non-standalone click returns a command's typer.Exit code instead of raising it.
        if type(code) is int and code:
            return code
    except ExtensionFault as exc:
        _print_error(f"qdisclab: fault: {exc}")
        return 1
    except (QdiscLabError, *_loaded_errors("qdisclab.units:UnitError")) as exc:
        _print_error(f"qdisclab: error: {exc}")
        return 2
    except MemoryError:  # the scenario asked for more than this machine has
        _print_error(
            "qdisclab: error: out of memory: lower the scenario's rates, sizes or run.queue_memory"
        )
        return 2
    except typer.Exit as exc:
        return exc.exit_code
    except typer.Abort:
        _print_error("qdisclab: aborted")
        return 1
    except _loaded_errors(*CLICK_ERRORS) as exc:  # usage errors, in non-standalone mode
        if type(exc).__name__ == "NoArgsIsHelpError" and getattr(exc, "ctx", None) is not None:
            typer.echo(exc.ctx.get_help())  # plain `qdisclab`: the help, as `--help` gives it
            return 0
        _print_error(f"qdisclab: error: {_usage_line(exc)}")
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
