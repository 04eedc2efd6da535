"""``qdisclab live``: qdisclab's qdiscs on real packets between two network namespaces.

Runs a bounded experiment (iperf3 TCP from namespace a to b, ping alongside)
through a qdisclab bottleneck and prints ``tc -s``-style statistics and a
result table, or one JSON object (``--json``). ``--scenario FILE`` takes the
path from a scenario file; ``--compare NAME`` runs a built-in scenario both
simulated and live and prints them side by side.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Annotated, Any

import typer

from qdisclab.errors import UserError

if TYPE_CHECKING:
    from rich.table import Table

SHELL_HOURS = 8  # a --shell session ends by itself after this, unless --duration says otherwise


def parse_loss(text: str) -> float:
    """``0.1%`` or ``0.001`` → a probability in [0, 1)."""
    try:
        value = float(text[:-1]) / 100 if text.endswith("%") else float(text)
    except ValueError:
        raise UserError(f"--loss {text!r}: expected a percentage like 0.1% or a fraction") from None
    if not 0.0 <= value < 1.0:
        raise UserError(f"--loss {text!r}: must be at least 0 and below 100%")
    return value


def _ms(value: Any) -> str:
    return "-" if value is None else f"{value:.2f}"


def _cwnd(r: dict[str, Any]) -> str:
    cwnd = r.get("cwnd") or {}
    return "-" if cwnd.get("p50") is None else f"{cwnd['p50']:g} / {cwnd['max']:g}"


def _flow(i: int, figure: str) -> Any:
    """A cell of bulk flow ``i`` (``flows`` of a result), when a run has several."""

    def cell(r: dict[str, Any]) -> str:
        flows = r.get("flows") or []
        if i >= len(flows):
            return "-"
        return _ms(flows[i]["throughput_mbps"]) if figure == "goodput" else _cwnd(flows[i])

    return cell


def result_table(results: list[tuple[str, dict[str, Any]]]) -> Table:
    """One column per run (``live``, ``simulated`` ...) of the figures both kinds report."""
    from rich.table import Table

    table = Table(title="qdisclab live")
    table.add_column("figure")
    for label, _ in results:
        table.add_column(label, justify="right")
    flows = max(len(r.get("flows") or []) for _, r in results)
    per_flow = [
        (f"flow {i + 1} {name}", _flow(i, figure))
        for i in range(flows if flows > 1 else 0)
        for name, figure in (("goodput Mbit/s", "goodput"), ("cwnd p50 / max", "cwnd"))
    ]
    rows = [
        ("goodput Mbit/s", lambda r: _ms(r.get("throughput_mbps"))),
        ("ping RTT p50 ms", lambda r: _ms(r["ping_rtt_ms"].get("p50"))),
        ("ping RTT p90 ms", lambda r: _ms(r["ping_rtt_ms"].get("p90"))),
        ("ping RTT p99 ms", lambda r: _ms(r["ping_rtt_ms"].get("p99"))),
        ("ping RTT max ms", lambda r: _ms(r["ping_rtt_ms"].get("max"))),
        ("retransmits", lambda r: "-" if r.get("retransmits") is None else str(r["retransmits"])),
        ("cc", lambda r: str(r.get("cc") or "-")),
        ("cwnd p50 / max", _cwnd),
        *per_flow,
        ("qdisc sent pkt", lambda r: str(r["qdisc"]["packets"])),
        ("qdisc drops", lambda r: str(r["qdisc"]["drops"])),
    ]
    for name, cell in rows:
        table.add_row(name, *(cell(r) for _, r in results))
    return table


def register(app: typer.Typer) -> None:
    @app.command()
    def live(
        qdisc: Annotated[str, typer.Option(help="root qdisc of the a→b bottleneck (tc syntax)")] = (
            "pfifo"
        ),
        rate: Annotated[str, typer.Option(help="bottleneck rate, tc units (10mbit)")] = "10mbit",
        delay: Annotated[str, typer.Option(help="one-way delay each direction (10ms)")] = "10ms",
        loss: Annotated[str, typer.Option(help="random loss per direction (0.1%)")] = "0",
        jitter: Annotated[str, typer.Option(help="uniform extra delay up to this")] = "0ms",
        io: Annotated[
            str, typer.Option(help="how packets reach qdisclab: tun, or packet (AF_PACKET on veth)")
        ] = "tun",
        duration: Annotated[
            str | None,
            typer.Option(help="how long the load runs [default: 10s, or the scenario's]"),
        ] = None,
        load: Annotated[str, typer.Option(help="iperf3 (bulk TCP a→b) or none")] = "iperf3",
        probe: Annotated[str, typer.Option(help="ping (a→b every 100 ms) or none")] = "ping",
        cc: Annotated[str, typer.Option(help="the kernel congestion control iperf3 uses")] = (
            "cubic"
        ),
        streams: Annotated[int, typer.Option(help="parallel bulk TCP flows a→b (iperf3 -P)")] = 1,
        reverse_qdisc: Annotated[str, typer.Option(help="root qdisc of b→a")] = "pfifo",
        warmup: Annotated[str, typer.Option(help="ignore probe replies before this")] = "0s",
        seed: Annotated[int, typer.Option(help="seed of the loss and jitter streams")] = 1,
        scenario: Annotated[
            str | None, typer.Option(help="take the path and traffic from a scenario file")
        ] = None,
        compare: Annotated[
            str | None,
            typer.Option(help="run a scenario (built-in name or file) simulated and live"),
        ] = None,
        extension: Annotated[
            list[str] | None,
            typer.Option(help="a user class (file.py:Class or module:Class) --qdisc may name"),
        ] = None,
        gro: Annotated[
            bool,
            typer.Option(help="--io tun: merge runs of segments leaving together, as a NIC's GRO"),
        ] = True,
        trace_cwnd: Annotated[
            bool, typer.Option(help="poll the kernel's cwnd and ssthresh of the bulk flow")
        ] = False,
        shell: Annotated[
            bool, typer.Option(help="open $SHELL in namespace a (192.0.2.1) for your own traffic")
        ] = False,
        command: Annotated[
            str | None, typer.Option(help="run this command in namespace a instead of a shell")
        ] = None,
        json_out: Annotated[bool, typer.Option("--json", help="print one JSON object")] = False,
    ) -> None:
        """Shape real traffic: iperf3 and ping between namespaces through a qdisclab qdisc."""
        from qdisclab.live.experiment import LiveConfig, run_live
        from qdisclab.scenario.extensions import load_object, register_extension
        from qdisclab.units import parse_rate, parse_time

        for ref in extension or []:
            register_extension(load_object(ref))

        seconds = None if duration is None else parse_time(duration) / 1e9
        if compare is not None:
            both = compare_scenario(compare, seconds)
            _print(both, json_out, [("simulated", both["simulated"]), ("live", both["live"])])
            return
        if scenario is not None:
            from qdisclab.scenario.live_bridge import live_parameters, load_live

            params = live_parameters(load_live(scenario, _whole(seconds)), seed)
            config = LiveConfig(**params, trace_cwnd=trace_cwnd, gro=gro)
        else:
            config = LiveConfig(
                qdisc=qdisc, rate=parse_rate(rate), delay=parse_time(delay),
                loss=parse_loss(loss), jitter=parse_time(jitter), duration=seconds or 10.0,
                load=load, probe=probe, cc=cc, reverse_qdisc=reverse_qdisc,
                warmup=parse_time(warmup) / 1e9, seed=seed, io=io, trace_cwnd=trace_cwnd, gro=gro,
                streams=streams,
            )  # fmt: skip
        if shell or command:
            import os
            import shlex

            from qdisclab.live.experiment import run_shell

            argv = shlex.split(command) if command else [os.environ.get("SHELL", "/bin/sh")]
            status, results = run_shell(config, argv, seconds or SHELL_HOURS * 3600.0)
            _print(results, json_out, [("live", results)])
            if status:
                raise typer.Exit(status)
            return
        results = run_live(config)
        _print(results, json_out, [("live", results)])


def _whole(seconds: float | None) -> int | None:
    return None if seconds is None else max(2, round(seconds))


def compare_scenario(name: str, seconds: float | None = None) -> dict[str, Any]:
    """Run scenario ``name`` simulated and live over the same window; both results.

    The simulated side is the scenario as ``qdisclab run`` runs it (with the
    duration and window in whole seconds); the live side its translation.
    """
    from qdisclab.live.experiment import LiveConfig, run_live
    from qdisclab.scenario.build import run_loaded
    from qdisclab.scenario.live_bridge import live_parameters, load_live, simulated_row

    loaded = load_live(name, _whole(seconds))
    config = LiveConfig(**live_parameters(loaded), trace_cwnd=True)
    simulated = simulated_row(run_loaded(loaded), loaded)
    live = run_live(config)
    return {"scenario": name, "window_s": [config.warmup, config.duration],
            "simulated": simulated, "live": live}  # fmt: skip


def _print(results: dict[str, Any], json_out: bool, columns: list[tuple[str, dict]]) -> None:
    if json_out:
        typer.echo(json.dumps(results, indent=2, sort_keys=False))
        return
    from rich.console import Console

    console = Console()
    for label, r in columns:
        if r.get("tc"):
            console.print(f"[bold]{label}[/bold]", highlight=False)
            console.print(r["tc"], markup=False, highlight=False)
    console.print(result_table(columns))
