"""``qdisclab bench``: the benchmark suite, as ratios to a bare heapq loop measured in the same run."""

from __future__ import annotations

import json
from typing import Annotated

import typer


def register(app: typer.Typer) -> None:
    @app.command()
    def bench(
        json_out: Annotated[bool, typer.Option("--json", help="print one JSON object")] = False,
        quick: Annotated[bool, typer.Option(help="short measurement (for smoke tests)")] = False,
        only: Annotated[
            str | None, typer.Option(help="run only rows whose module/name contains this")
        ] = None,
    ) -> None:
        """Measure the engine, the datapath and memory; print figures and ratios."""
        from rich.console import Console
        from rich.table import Table

        from qdisclab.bench import run_bench
        from qdisclab.live.bench import ROWS as LIVE_ROWS

        console = Console(stderr=True)
        with console.status("benchmarking") as status:
            results = run_bench(
                quick=quick, only=only, extra_rows=tuple(LIVE_ROWS),
                progress=lambda name: status.update(f"benchmarking: {name}"),
            )  # fmt: skip
        if json_out:
            typer.echo(json.dumps(results, indent=2))
            return
        table = Table(title="qdisclab bench")
        table.add_column("figure")
        table.add_column("value", justify="right")
        for key, value in results.items():
            table.add_row(key, f"{value:,}" if isinstance(value, int | float) else str(value))
        Console().print(table)
