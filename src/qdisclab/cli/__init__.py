"""The ``qdisclab`` command line (typer + rich).

Commands live in ``cmd_*.py`` modules of this package; each defines
``register(app)``. A user error (``UserError``, ``KernelError`` from bad
input) prints one line and exits with status 2, never a traceback.
"""

from __future__ import annotations

import importlib
import pkgutil
import sys

import typer
from rich.console import Console

from qdisclab.errors import QdiscLabError
from qdisclab.units import UnitError

app = typer.Typer(
    name="qdisclab",
    help="The Linux kernel's programmable network datapath (BPF qdiscs, tcx, netkit, "
    "TCP congestion control), rebuilt in Python on a deterministic simulator.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
err_console = Console(stderr=True, highlight=False)


def _load_commands() -> None:
    import qdisclab.cli as pkg

    for info in sorted(pkgutil.iter_modules(pkg.__path__), key=lambda i: i.name):
        if info.name.startswith("cmd_"):
            importlib.import_module(f"{pkg.__name__}.{info.name}").register(app)


_load_commands()


def main(argv: list[str] | None = None) -> int:
    """Entry point: run the app, turning qdisclab errors into one clear line and exit 2."""
    try:
        code = app(args=argv, standalone_mode=False)
        # Non-standalone click returns a command's typer.Exit code instead of raising it.
        if type(code) is int and code:
            return code
    except (QdiscLabError, UnitError) as exc:
        err_console.print(f"qdisclab: error: {exc}", markup=False, soft_wrap=True)
        return 2
    except typer.Exit as exc:
        return exc.exit_code
    except typer.Abort:
        err_console.print("qdisclab: aborted", markup=False)
        return 1
    except Exception as exc:  # click usage errors arrive here in non-standalone mode
        import click

        if isinstance(exc, click.ClickException):
            exc.show()
            return 2
        raise
    return 0


if __name__ == "__main__":
    sys.exit(main())
