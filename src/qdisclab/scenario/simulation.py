"""A built scenario ready to run: the world, what measures it, and ``run() -> Results``.

Between building and running, code can reach into the world (attach a
tracepoint listener, look at a qdisc, change a link); ``run()`` then runs
the whole duration once and collects the results.

>>> from qdisclab.scenario.library import load_builtin
>>> from qdisclab.net.tracepoints import NET_DEV_XMIT
>>> sim = Simulation(load_builtin("udp-dumbbell", {"run.duration": "100ms"}))
>>> sent = []
>>> sim.tracepoint(NET_DEV_XMIT).attach(lambda now, dev, skb: sent.append(now))
>>> res = sim.run()
>>> len(sent) > 0, res["events"] > len(sent)
(True, True)
"""

from __future__ import annotations

import gc
import time
from collections.abc import Iterator
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from qdisclab.errors import UserError
from qdisclab.measure import DEFAULT_BIN_NS
from qdisclab.measure.sojourn import SojournRecorder
from qdisclab.measure.tcpseries import RetransTimes, series_rows
from qdisclab.measure.trace import QueueTrace
from qdisclab.scenario.build import Progress, build, summarize
from qdisclab.scenario.loader import Loaded
from qdisclab.scenario.results import Results, collect
from qdisclab.sim.tracepoint import Tracepoint, TracepointDecl, tracepoint
from qdisclab.units import parse_time

if TYPE_CHECKING:
    from qdisclab.measure.events import EventRecorder


@contextmanager
def without_collector() -> Iterator[None]:
    """No cyclic garbage collection inside (the collector's state is restored after).

    Collecting a run's results or writing them out allocates many small containers
    and frees few, so the collections they trigger would only walk, again and
    again, every object the event loop left alive: with 256 flows that was most
    of the time spent collecting results.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


class Simulation:
    """``build`` plus the run's measurement; ``run()`` once, then read ``Results``."""

    def __init__(
        self,
        loaded: Loaded,
        seed: int | None = None,
        policy: str = "strict",
        out_dir: str | Path | None = None,
        plots: bool | None = None,
    ) -> None:
        self.loaded = loaded
        self.ctx = build(loaded, seed, policy)
        self.world = self.ctx.world
        self.duration = self.ctx.duration_ns
        self.window = self.ctx.window
        self.out_dir = Path(out_dir) if out_dir is not None else None
        record = loaded.scenario.run.record
        self.plots = record.plots if plots is None else plots
        sched = self.world.sched
        self.sojourn = SojournRecorder(sched)
        # Only TCP flows retransmit (and only their series read these): a UDP run never loads TCP.
        has_tcp = any(getattr(o, "result_section", None) == "tcp" for o in self.ctx.objects)
        self.retrans = RetransTimes(sched) if has_tcp else None
        self.events: EventRecorder | None = None
        if record.events:  # the recorder (and its writers) only for runs that record events
            from qdisclab.measure.events import EventRecorder

            self.events = EventRecorder(self.world, record.events)
        interval = parse_time(record.trace_interval)
        self.traces = {ref: QueueTrace(self.ctx.device(ref), interval, self.duration, ref)
                       for ref in record.traces}  # fmt: skip
        if self.out_dir is not None and self.plots:  # plots want the busiest places traced
            for link in self.world.links:
                for dev in (link.a, link.b):
                    ref = f"{dev.node.name}:{dev.name}"
                    if ref not in self.traces and dev.channel.rate < 1_000_000_000:
                        self.traces[ref] = QueueTrace(dev, interval, self.duration, ref)
        self.results: Results | None = None

    def device(self, ref: str) -> Any:
        """The device ``"NODE:DEV"`` of this world."""
        return self.ctx.device(ref)

    def tracepoint(self, decl: TracepointDecl) -> Tracepoint:
        """This run's instance of ``decl`` (attach listeners before ``run``)."""
        return tracepoint(self.world.sched, decl)

    def run(self, progress: Progress | None = None) -> Results:
        """Run the whole duration, collect (and with ``out_dir`` write) the results."""
        if self.results is not None:
            raise UserError("this simulation has already run; build a new one to run again")
        world = self.world
        record = self.loaded.scenario.run.record
        pcaps: dict[str, Any] = {}
        files = []
        if self.out_dir is not None:
            self.out_dir.mkdir(parents=True, exist_ok=True)
        if self.out_dir is not None and record.pcap:  # dpkt is imported only when it is used
            from qdisclab.measure.pcap import PcapWriter, attach_tap

            for ref in record.pcap:
                f = open(self.out_dir / f"{ref.replace(':', '-')}.pcap", "wb")  # noqa: SIM115
                files.append(f)
                pcaps[ref] = PcapWriter(f)
                attach_tap(self.ctx.device(ref), pcaps[ref])
        worker = None
        if self.out_dir is not None and self.plots:  # plots are drawn only into an --out dir
            from qdisclab.measure.plotdata import PlotWorker

            worker = PlotWorker()
        started = time.perf_counter()
        try:
            steps = 50 if progress is not None else 1
            for k in range(1, steps + 1):
                world.run(self.duration * k // steps)
                if progress is not None:
                    progress(world.now, self.duration)
        finally:
            if pcaps:
                from qdisclab.measure.pcap import detach_tap

                for ref in pcaps:
                    detach_tap(self.ctx.device(ref))
            for f in files:
                f.close()
        wall = time.perf_counter() - started
        with without_collector():
            return self._finish(wall, pcaps, worker)

    def _finish(self, wall: float, pcaps: dict[str, Any], worker: Any) -> Results:
        """The results of the finished loop, and with ``out_dir`` its files."""
        world = self.world
        results = self._collect()
        results["events"] = world.sched.events
        results.wall_s = round(wall, 3)  # not in the dict: results stay a function of the seed
        results["pcap"] = {ref: w.count for ref, w in pcaps.items()}
        if self.events is not None:
            results["recorded_events"] = len(self.events)
        results["summary"] = summarize(results)
        self.results = results
        if self.out_dir is not None:
            from qdisclab.scenario.outputs import plot_payload, write_outputs

            try:
                if worker is not None:
                    worker.start(self.out_dir, plot_payload(self, results))
                write_outputs(self.out_dir, self, results)
                if worker is not None:
                    worker.finish()
            finally:
                if worker is not None:
                    worker.close()
        return results

    def _collect(self) -> Results:
        ctx = self.ctx
        name = self.loaded.source.removeprefix("builtin:")
        results = collect(self.world, name, self.duration, self.window, ctx.totals, ctx.roles,
                          self.sojourn)  # fmt: skip
        results["probes"] = []
        for o in ctx.objects:  # probes, TCP flows...: each reports into its own section
            if hasattr(o, "summary"):
                results.setdefault(getattr(o, "result_section", "probes"), []).append(o.summary())
        rows = {row["flow"]: row for row in results["flows"]}
        for tcp in results.get("tcp", []):  # a TCP flow's rate is its goodput, not its wire rate
            if tcp["flow"] in rows:
                rows[tcp["flow"]]["throughput_mbps"] = tcp["goodput_mbps"]
        # Made on first use from the recorded arrays (results keep those, not the world).
        results.series_source = partial(_series, self._tcp_series())
        cwnds = {o.name: o.cwnd_series() for o in ctx.objects if hasattr(o, "cwnd_series")}
        if cwnds:
            results["cwnd_series"] = cwnds
        results["traces"] = {
            ref: {"samples": len(t.times), "max_qlen": max(t.qlen, default=0)}
            for ref, t in self.traces.items()
        }
        return results

    def _tcp_series(self) -> list[tuple[Any, ...]]:
        """Each TCP flow's ``series_rows`` arguments: the recorded arrays, not the world."""
        inputs: list[tuple[Any, ...]] = []
        retrans = self.retrans.times if self.retrans is not None else {}
        for o in self.ctx.objects:
            sk = getattr(o, "sk", None)
            if getattr(o, "result_section", None) != "tcp" or sk is None:
                continue
            rx = o.receiver
            st = sk.stats
            inputs.append((o.name, DEFAULT_BIN_NS, rx.rx_metrics.bins if rx else [],
                           (st.t, st.cwnd), (st.t, st.srtt_us), (st.rtt_t, st.rtt_us),
                           retrans.get(sk.name, [])))  # fmt: skip
        return inputs


def _series(inputs: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    rows: list[tuple[Any, ...]] = []
    for args in inputs:
        rows += series_rows(*args)
    return rows
