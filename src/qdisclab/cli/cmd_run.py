"""``qdisclab run [SCENARIO]``: run a scenario and print per-flow results."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer

from qdisclab.errors import UserError

if TYPE_CHECKING:  # rich is imported only when there is a table to print, not for --json
    from rich.console import Console
    from rich.table import Table


def print_results(results: dict[str, Any], console: Console) -> None:
    from rich.table import Table

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
    tcp = {t["flow"]: t for t in results.get("tcp", [])}
    acks = {f"{name}.r" for name in tcp}  # the receivers' ACK streams: in the JSON, not here
    for row in results["flows"]:
        if row["flow"] in acks:
            continue
        delay = row.get("delay_ms") or {}

        def ms(key: str, delay: dict = delay) -> str:
            value = delay.get(key)
            return "-" if value is None else f"{value:.2f}"

        drops = str(sum(row["dropped"].values()))
        mbps = row.get("throughput_mbps")
        table.add_row(
            row["flow"], str(row["sent_packets"]), str(row["delivered_packets"]),
            "-" if mbps is None else f"{mbps:.2f}", ms("p50"), ms("p90"), ms("p99"), ms("max"), drops,
        )  # fmt: skip
    console.print(table)
    if tcp:
        console.print(tcp_table(results))
    books = results["conservation"]
    dropped = sum(books["dropped"].values())
    console.print(
        f"conservation: sent {books['sent']} = delivered {books['delivered']} + dropped {dropped}"
        f" + in flight {books['in_flight']}  (balanced)"
    )
    for probe in results.get("probes", []):
        rtt = probe.get("rtt_ms") or {}
        if rtt:
            console.print(f"probe {probe['probe']}: {probe['samples']} RTT samples, "
                          + ", ".join(f"{k} {'-' if v is None else f'{v:.2f}'} ms" for k, v in rtt.items()))  # fmt: skip
    for q in results.get("qdiscs", []):
        soj = q.get("sojourn_ms") or {}
        if soj.get("packets"):
            console.print(f"qdisc {q['node']}:{q['dev']} {q['kind']} {q['handle']}: sojourn "
                          f"p50 {soj['p50']:.2f} ms, p99 {soj['p99']:.2f} ms, max {soj['max']:.2f}"
                          f" ms over {soj['packets']:,} packets in the window")  # fmt: skip
    wall = getattr(results, "wall_s", None)
    console.print(f"{results['events']:,} events" + (f" in {wall:.2f} s" if wall else ""))
    for node, kind, fault in results.get("faults", []):
        console.print(f"[yellow]contained fault on {node}: {kind}: {fault}[/yellow]")


def tcp_table(results: dict[str, Any]) -> Table:
    """Goodput over the measurement window, RTT, retransmissions, completion time per TCP flow."""
    from rich.table import Table

    w0, w1 = results["window_s"]
    table = Table(title=f"TCP flows (goodput over {w0:.3g}-{w1:.3g} s)")
    for col in ("flow", "cc", "goodput Mbit/s", "RTT p50 ms", "RTT p99 ms", "retrans", "FCT ms"):
        table.add_column(col, justify="left" if col in ("flow", "cc") else "right")

    def num(value: Any) -> str:
        return "-" if value is None else f"{value:.2f}"

    for t in results["tcp"]:
        table.add_row(t["flow"], t["cc"], num(t["goodput_mbps"]), num(t["rtt_ms"]["p50"]),
                      num(t["rtt_ms"]["p99"]), str(t["retrans"]), num(t.get("fct_ms")))  # fmt: skip
    return table


def parse_sets(items: list[str] | None) -> dict[str, Any]:
    """``["link.bottleneck.qdisc_a=fq_codel", ...]`` -> overrides dict (values typed as TOML would)."""
    from qdisclab.scenario.loader import coerce

    out: dict[str, Any] = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise UserError(f"--set expects KEY=VALUE (e.g. run.duration=5s), found {item!r}")
        out[key.strip()] = coerce(value.strip())
    return out


def register(app: typer.Typer) -> None:
    @app.command()
    def run(
        scenario: Annotated[
            str, typer.Argument(help="built-in scenario name or path to a .toml file")
        ] = "",
        seed: Annotated[int | None, typer.Option(help="run seed (default: the scenario's)")] = None,
        duration: Annotated[
            str | None, typer.Option(help="simulated time, tc units (e.g. 10s)")
        ] = None,
        json_out: Annotated[bool, typer.Option("--json", help="print results as JSON")] = False,
        policy: Annotated[
            str, typer.Option(help="ownership policy: strict, contain or off")
        ] = "strict",
        out: Annotated[
            str | None, typer.Option("--out", help="write CSVs, tc stats, pcaps, plots here")
        ] = None,
        set_: Annotated[
            list[str] | None,
            typer.Option("--set", help="override a scenario key: KEY=VALUE (repeatable)"),
        ] = None,
        no_plots: Annotated[
            bool, typer.Option("--no-plots", help="with --out: write data files but no PNGs")
        ] = False,
    ) -> None:
        """Run a scenario (default: the built-in default) and print per-flow results."""
        import time

        from qdisclab.cli import resume_collector
        from qdisclab.scenario import prepare_scenario
        from qdisclab.scenario.simulation import without_collector
        from qdisclab.units import UnitError, parse_time

        try:
            duration_ns = parse_time(duration) if duration else None
        except UnitError as exc:
            raise UserError(f"--duration: {exc}") from None
        if duration_ns is not None and duration_ns <= 0:
            raise UserError("--duration must be positive")
        progress = None
        bar = None
        if not json_out:
            from rich.console import Console
            from rich.progress import BarColumn, Progress, TextColumn

            started = time.monotonic()
            state: dict[str, Any] = {}

            def progress(now: int, total: int) -> None:
                nonlocal bar
                wall = time.monotonic() - started
                if bar is None and wall > 2.0:  # only long runs get a bar
                    bar = Progress(TextColumn("simulating"), BarColumn(),
                                   TextColumn("{task.description}"),
                                   console=Console(stderr=True), transient=True)  # fmt: skip
                    bar.start()
                    state["task"] = bar.add_task("", total=total)
                if bar is not None:
                    speed = now / 1e9 / wall if wall else 0.0
                    bar.update(state["task"], completed=now,
                               description=f"{now / 1e9:.1f}/{total / 1e9:g} s sim, {speed:.2f}x")  # fmt: skip

        sim = prepare_scenario(scenario, seed=seed, duration_ns=duration_ns, policy=policy,
                               overrides=parse_sets(set_), out_dir=out,
                               plots=False if no_plots else None)  # fmt: skip
        resume_collector()  # start-up is over: the event loop makes garbage to collect
        try:
            results = sim.run(progress=progress)
        finally:
            if bar is not None:
                bar.stop()
        with without_collector():  # printing frees nothing worth walking the run's objects for
            if json_out:
                import sys

                from qdisclab.measure.jsontext import dumps_indented

                # What typer.echo would write, minus its scan for ANSI codes (JSON has none).
                sys.stdout.write(dumps_indented(results.to_json()) + "\n")
                sys.stdout.flush()
            else:
                print_results(results, Console())
                if out:
                    Console().print(f"wrote results to {out}")
