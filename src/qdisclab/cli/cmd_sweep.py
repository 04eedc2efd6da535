"""``qdisclab sweep SCENARIO --grid key=v1,v2 --seeds N --db results.db``."""

from __future__ import annotations

from typing import Annotated

import typer


def register(app: typer.Typer) -> None:
    @app.command()
    def sweep(
        scenario: Annotated[str, typer.Argument(help="built-in name or .toml file")],
        grid: Annotated[
            list[str] | None,
            typer.Option("--grid", help="KEY=V1,V2 (dotted path, e.g. link.bottleneck.qdisc_a)"),
        ] = None,
        seeds: Annotated[int, typer.Option(help="seeds 1..N per parameter set")] = 1,
        db: Annotated[str, typer.Option(help="SQLite results database")] = "results.db",
        scheduler: Annotated[
            str | None, typer.Option(help="address of an existing Dask scheduler")
        ] = None,
        workers: Annotated[int, typer.Option(help="local Dask worker processes")] = 2,
        inline: Annotated[
            bool, typer.Option(help="run in this process instead of on Dask")
        ] = False,
        rerun_changed: Annotated[
            bool,
            typer.Option(help="re-run stored runs whose scenario file or overrides changed"),
        ] = False,
    ) -> None:
        """Run the cross product of a grid over seeds; resumable (finished runs are skipped)."""
        from qdisclab.errors import UserError
        from qdisclab.scenario.sweep import parse_grid, run_sweep

        if seeds < 1:
            raise UserError("--seeds must be at least 1")
        try:
            counts = run_sweep(scenario, parse_grid(grid or []), list(range(1, seeds + 1)), db,
                               scheduler=scheduler, workers=workers,
                               executor="inline" if inline else "dask",
                               rerun_changed=rerun_changed,
                               on_result=lambda p, s, r: typer.echo(
                                   f"{r['status']:5} seed {s} {p}"
                                   + (f": {r['error']}" if r["error"] else ""), err=True))  # fmt: skip
        except KeyboardInterrupt:
            typer.echo("interrupted: finished runs are saved; run the same command to resume",
                       err=True)  # fmt: skip
            raise typer.Exit(130) from None
        rerun = f" ({counts['changed']} re-run: the scenario changed)" if counts["changed"] else ""
        typer.echo(f"{counts['total']} runs: {counts['skipped']} already done, "
                   f"{counts['ok']} ok, {counts['error']} failed{rerun} -> {db}")  # fmt: skip
