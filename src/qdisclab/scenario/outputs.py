"""The run directory: resolved scenario, CSV metrics, tc statistics, traces and plots."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import tomli_w

from qdisclab.measure.jsontext import dumps_indented
from qdisclab.measure.plotdata import cdf_points, thin


def write_outputs(out: Path, sim: Any, results: Any) -> list[Path]:
    """Write the data files of a finished ``Simulation`` into ``out``; returns the files.

    The plots are drawn apart (``plot_payload`` → ``measure.plots.draw_run``),
    by a worker process that imported matplotlib while the run simulated.
    """
    loaded = sim.loaded
    world = sim.world
    written = []
    resolved = loaded.scenario.model_dump(mode="json", by_alias=True, exclude_none=True)
    resolved["run"]["seed"] = results["seed"]
    p = out / "scenario.toml"
    p.write_text(tomli_w.dumps(resolved))
    written.append(p)
    written += results.write_csv(out)
    p = out / "tc-stats.txt"
    p.write_text(world.tc_stats() + "\n")
    written.append(p)
    p = out / "results.json"
    p.write_text(dumps_indented(results.to_json()))
    written.append(p)
    for ref, tr in sim.traces.items():
        p = out / f"trace-{ref.replace(':', '-')}.csv"
        with p.open("w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["time_s", "qlen", "backlog_bytes", "backlog_delay_estimate_ms"])
            w.writerows(tr.rows())
        written.append(p)
    cwnd_traces = {o.name: tr for o in sim.ctx.objects if hasattr(o, "cwnd_trace")
                   if (tr := o.cwnd_trace()) is not None}  # fmt: skip
    if cwnd_traces:
        p = out / "cwnd.csv"
        with p.open("w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["flow", "time_s", "cwnd", "ssthresh", "srtt_ms", "pacing_mbps"])
            for name, tr in cwnd_traces.items():
                for t, c, ss, srtt, rate in zip(tr["t"], tr["cwnd"], tr["ssthresh"],
                                                tr["srtt_us"], tr["pacing"], strict=True):  # fmt: skip
                    w.writerow([name, t / 1e9, c, ss, srtt / 1000, rate * 8 / 1e6])
        written.append(p)
    if sim.events is not None:
        written.append(sim.events.write(out / "events", loaded.scenario.run.record.events_format))
    if sim.plots:
        written.append(write_throughput_csv(out, sim, results))
    return written


def plot_payload(sim: Any, results: Any) -> dict[str, Any]:
    """The curves of the run's plots as short plain lists (see ``measure.plotdata``)."""
    series = throughput_series(sim, results)
    sojourn: dict[str, Any] = {}
    cdf: dict[str, Any] = {}
    for name, b in sim.world.flows.items():
        delays = getattr(b.observer, "delays", ())
        if len(delays):
            cdf[name] = cdf_points(delays)
    for ref in sim.traces:
        qdisc = sim.ctx.device(ref).qdisc
        times, values = sim.sojourn.samples(qdisc)
        label = f"{ref} ({qdisc.kind})"
        xs, ys = thin(times, values)
        sojourn[label] = ([t / 1e9 for t in xs], [v / 1e6 for v in ys])
        cdf[f"sojourn {label}"] = cdf_points(values)
    qlen = {}
    for ref, tr in sim.traces.items():
        xs, ys = thin(tr.times, tr.qlen)
        qlen[ref] = ([t / 1e9 for t in xs], ys)
    return {
        "throughput": {n: ([p[0] for p in pts], [p[1] for p in pts]) for n, pts in series.items()},
        "sojourn": sojourn,
        "qlen": qlen,
        "cdf": cdf,
        "cwnd": {
            n: ([p[0] for p in pts], [p[1] for p in pts])
            for n, pts in (results.get("cwnd_series") or {}).items()
        },
    }


def write_throughput_csv(out: Path, sim: Any, results: Any) -> Path:
    """throughput.csv: exactly the points throughput.png draws (flow, time_s, mbps)."""
    p = out / "throughput.csv"
    with p.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["flow", "time_s", "mbps"])
        for name, points in throughput_series(sim, results).items():
            w.writerows((name, t, v) for t, v in points)
    return p


def throughput_series(sim: Any, results: Any) -> dict[str, list[tuple[float, float]]]:
    """(time s, Mbit/s) per data flow: a TCP flow's goodput, a UDP flow's delivered rate."""
    series: dict[str, list[tuple[float, float]]] = {}
    for row in results.series:  # TCP flows' goodput, per bin
        series.setdefault(row[0], []).append((row[1], row[2]))
    for row in results["flows"]:
        name = row["flow"]
        books = sim.world.flows[name]
        if row["role"] != "data" or name in series or books.observer is None:
            continue
        if books.observer.bins:
            series[name] = books.observer.throughput_series()
    return series
