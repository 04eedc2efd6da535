"""``qdisclab report DB``: compare a sweep's parameter sets (mean ± std over seeds), plot them."""

from __future__ import annotations

import json
from typing import Annotated

import typer


def register(app: typer.Typer) -> None:
    @app.command()
    def report(
        db: Annotated[str, typer.Argument(help="SQLite database written by 'qdisclab sweep'")],
        plots: Annotated[str, typer.Option(help="directory for comparison plots")] = "report",
        json_out: Annotated[bool, typer.Option("--json", help="print the table as JSON")] = False,
    ) -> None:
        """Print a comparison table and write metric-vs-parameter plots."""
        from rich.console import Console
        from rich.table import Table

        from qdisclab.scenario.sweep import compare, load_rows, report_plots

        table = compare(load_rows(db))
        written = report_plots(table, plots)
        if json_out:
            typer.echo(json.dumps(table, indent=2))
            return
        metrics = sorted({m for t in table for m in t["metrics"]})
        out = Table(title=f"sweep results: {db}")
        for col in ("scenario", "parameters", "runs", *metrics):
            out.add_column(col, justify="left" if col in ("scenario", "parameters") else "right")
        identical: dict[int, list[str]] = {}  # seeds -> metrics that never changed
        for t in table:
            params = ", ".join(f"{k}={v}" for k, v in t["params"].items()) or "-"
            cells = []
            for m in metrics:
                v = t["metrics"].get(m)
                if v is None:
                    cells.append("-")
                elif v.get("identical"):  # a zero spread is a fact to see, not an error bar
                    cells.append(f"{v['mean']:.3f} ± 0 *")
                    identical.setdefault(v["n"], []).append(f"{m} ({params})")
                else:
                    cells.append(f"{v['mean']:.3f} ± {v['std']:.3f}")
            runs = f"{t['runs']}" + (f" ({t['errors']} failed)" if t["errors"] else "")
            out.add_row(t["scenario"], params, runs, *cells)
        console = Console(width=200)
        console.print(out)
        for n, where in sorted(identical.items()):
            console.print(f"* identical over {n} seeds: {'; '.join(where)}")
        console.print(f"wrote {len(written)} plots to {plots}")
