"""``qdisclab run [SCENARIO]``: run a scenario and print per-flow results."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from qdisclab.errors import UserError
from qdisclab.units import parse_time


def print_results(results: dict[str, Any], console: Console) -> None:
    table = Table(
        title=f"{results['scenario']} (seed {results['seed']}, {results['duration_s']:g} s)"
    )
    for col in (
        "flow",
        "sent",
        "delivered",
        "Mbit/s",
        "p50 ms",
        "p90 ms",
        "p99 ms",
        "max ms",
        "drops",
    ):
        table.add_column(col, justify="left" if col in ("flow", "drops") else "right")
    for row in results["flows"]:
        delay = row.get("delay_ms") or {}

        def ms(key: str, delay: dict = delay) -> str:
            value = delay.get(key)
            return "-" if value is None else f"{value:.2f}"

        drops = ", ".join(f"{k} {v}" for k, v in row["dropped"].items()) or "0"
        mbps = row.get("throughput_mbps")
        table.add_row(
            row["flow"], str(row["sent_packets"]), str(row["delivered_packets"]),
            "-" if mbps is None else f"{mbps:.2f}", ms("p50"), ms("p90"), ms("p99"), ms("max"), drops,
        )  # fmt: skip
    console.print(table)
    books = results["conservation"]
    dropped = sum(books["dropped"].values())
    console.print(
        f"conservation: sent {books['sent']} = delivered {books['delivered']} + dropped {dropped}"
        f" + in flight {books['in_flight']}  (balanced)"
    )
    for node, kind, fault in results.get("faults", []):
        console.print(f"[yellow]contained fault on {node}: {kind}: {fault}[/yellow]")


def register(app: typer.Typer) -> None:
    @app.command()
    def run(
        scenario: Annotated[str, typer.Argument(help="built-in scenario name")] = "",
        seed: Annotated[int, typer.Option(help="run seed (same seed, same results)")] = 1,
        duration: Annotated[
            str | None, typer.Option(help="simulated time, tc units (e.g. 10s)")
        ] = None,
        json_out: Annotated[bool, typer.Option("--json", help="print results as JSON")] = False,
        policy: Annotated[
            str, typer.Option(help="ownership policy: strict, contain or off")
        ] = "strict",
    ) -> None:
        """Run a scenario (default: the built-in default) and print per-flow results."""
        from qdisclab.scenario import DEFAULT_SCENARIO, run_builtin

        duration_ns = parse_time(duration) if duration else None
        if duration_ns is not None and duration_ns <= 0:
            raise UserError("--duration must be positive")
        results = run_builtin(
            scenario or DEFAULT_SCENARIO, seed=seed, duration_ns=duration_ns, policy=policy
        )
        if json_out:
            typer.echo(json.dumps(results, indent=2))
        else:
            print_results(results, Console())
