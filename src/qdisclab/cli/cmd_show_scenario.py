"""``qdisclab show-scenario [NAME]``: print a built-in scenario's TOML (or list them)."""

from __future__ import annotations

from typing import Annotated

import typer


def register(app: typer.Typer) -> None:
    @app.command("show-scenario")
    def show_scenario(
        name: Annotated[str, typer.Argument(help="built-in scenario name (omit to list)")] = "",
    ) -> None:
        """Print a built-in scenario as TOML, to copy and edit; without NAME, list them."""
        from qdisclab.scenario.library import builtin_names, builtin_text
        from qdisclab.scenario.registry import missing

        if not name:
            from qdisclab.scenario.library import load_builtin
            from qdisclab.scenario.loader import ScenarioError

            for n in builtin_names():
                try:
                    s = load_builtin(n).scenario
                    needs = sorted({why for f in s.flow if (why := missing(f.type))}
                                   | {why for k in ("tcx", "netkit") if getattr(s, k)
                                      and (why := missing(k))})  # fmt: skip
                    status = "ready" if not needs else "; ".join(needs)
                except ScenarioError as exc:
                    status = f"not ready: {str(exc).split(': found ', 1)[-1]}"
                typer.echo(f"{n:24} {status}")
            return
        typer.echo(builtin_text(name), nl=False)
