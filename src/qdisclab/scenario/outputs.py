"""The run directory: resolved scenario, CSV metrics, tc statistics, traces and plots."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import tomli_w


def write_outputs(out: Path, sim: Any, results: Any) -> list[Path]:
    """Write every artefact of a finished ``Simulation`` into ``out``; returns the files."""
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
    p.write_text(json.dumps(results.to_json(), indent=2))
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
        written += write_plots(out, sim, results)
    return written


def write_plots(out: Path, sim: Any, results: Any) -> list[Path]:
    """throughput.png (and the throughput.csv it is drawn from), queue plots, CDF, cwnd."""
    from qdisclab.measure import plots

    written = []
    series = throughput_series(sim, results)
    p = out / "throughput.csv"
    with p.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["flow", "time_s", "mbps"])
        for name, points in series.items():
            w.writerows((name, t, v) for t, v in points)
    written.append(p)
    written.append(plots.throughput(series, out / "throughput.png"))
    sojourns = {}
    for ref in sim.traces:
        qdisc = sim.ctx.device(ref).qdisc
        times, values = sim.sojourn.samples(qdisc)
        sojourns[f"{ref} ({qdisc.kind})"] = (times, values)
    written.append(plots.sojourn(sojourns, out / "queue-delay.png"))
    written.append(plots.queue_series(sim.traces, "qlen", "queue length (packets)",
                                      out / "queue-length.png"))  # fmt: skip
    samples = {name: b.observer.delays for name, b in sim.world.flows.items()
               if b.observer is not None and len(getattr(b.observer, "delays", ()))}  # fmt: skip
    samples.update({f"sojourn {name}": values for name, (_t, values) in sojourns.items()})
    written.append(plots.delay_cdf(samples, out / "delay-cdf.png"))
    cwnds = results.get("cwnd_series") or {}
    if cwnds:
        written.append(plots.cwnd(cwnds, out / "cwnd.png"))
    return written


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
