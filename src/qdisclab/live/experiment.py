"""``run_live``: one bounded experiment through qdisclab between two namespaces.

iperf3 uploads from namespace a to b (the kernel's own TCP, any congestion
control the host offers) while ping probes the same path; qdisclab forwards
every packet through the ``LivePath`` until the tools exit or the deadline
passes. The result is plain data with the keys a simulated run's report uses.

>>> LiveConfig(qdisc="fq_codel", duration=5.0).tools()
('ip', 'timeout', 'iperf3', 'ss', 'ping')
"""

from __future__ import annotations

import contextlib
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

from qdisclab.errors import UserError
from qdisclab.live import host, probes
from qdisclab.live.netns import LiveLab
from qdisclab.live.path import LivePath
from qdisclab.measure.sojourn import SojournRecorder
from qdisclab.sim import NSEC_PER_MSEC

LOADS = ("iperf3", "none")
IOS = ("tun", "packet")  # how packets reach qdisclab (netns.LiveLab)
PROBES = ("ping", "none")
DEADLINE_SLACK_S = 10.0  # after the nominal duration, the most a run may take to wind up
POLL_NS = 50 * NSEC_PER_MSEC


@dataclass(frozen=True)
class LiveConfig:
    """What a live run puts between the namespaces and what traffic it drives.

    ``rate`` bit/s, ``delay``/``jitter`` ns (one way, each direction),
    ``loss`` a probability per packet and direction; ``duration``/``warmup``
    seconds (probe replies to requests sent before ``warmup`` are ignored).
    """

    qdisc: str = "pfifo"
    rate: int = 10_000_000
    delay: int = 10 * NSEC_PER_MSEC
    loss: float = 0.0
    jitter: int = 0
    duration: float = 10.0
    load: str = "iperf3"
    probe: str = "ping"
    cc: str = "cubic"
    reverse_qdisc: str = "pfifo"
    ping_interval: float = 0.1
    warmup: float = 0.0
    seed: int = 1
    io: str = "tun"
    trace_cwnd: bool = False  # poll the kernel's cwnd/ssthresh of the bulk flow (ss -ti)
    cwnd_interval: float = 0.05
    gro: bool = True  # io="tun": merge runs of segments leaving together (qdisclab.live.gro)
    sojourn: bool = True  # record each packet's time in the qdiscs (qdisc rows' sojourn_ms)
    streams: int = 1  # parallel bulk TCP connections (iperf3 -P), each reported on its own

    def __post_init__(self) -> None:
        if self.load not in LOADS:
            raise UserError(f"--load must be one of {', '.join(LOADS)} (found {self.load!r})")
        if self.probe not in PROBES:
            raise UserError(f"--probe must be one of {', '.join(PROBES)} (found {self.probe!r})")
        if self.io not in IOS:
            raise UserError(f"--io must be one of {', '.join(IOS)} (found {self.io!r})")
        if not 1 <= self.streams <= 128:
            raise UserError(f"--streams must be 1 to 128 (found {self.streams})")
        if not 0 < self.duration <= 600:
            raise UserError(f"--duration must be in (0, 600] seconds (found {self.duration:g})")

    def tools(self) -> tuple[str, ...]:
        """The host tools this run needs."""
        tools = host.BASE_TOOLS + (("ethtool",) if self.io == "packet" else ())
        if self.load == "iperf3":
            tools += host.LOAD_TOOLS
        if self.probe == "ping":
            tools += (host.PROBE_TOOL,)
        return tools


def _path(lab: LiveLab, config: LiveConfig) -> LivePath:
    return LivePath(
        lab.fd_a, lab.fd_b, qdisc=config.qdisc, rate=config.rate, delay=config.delay,
        reverse_qdisc=config.reverse_qdisc, jitter=config.jitter, loss=config.loss,
        seed=config.seed, names=(lab.dev_b, lab.dev_a), l3=lab.l3, vnet_hdr=lab.vnet_hdr,
        gro=config.gro, mmsg=config.io == "packet",
    )  # fmt: skip


def run_live(config: LiveConfig) -> dict[str, Any]:
    """Run ``config`` for real and return its results (raises ``UserError`` when it cannot)."""
    host.require(config.tools())
    with LiveLab(config.io) as lab:
        path = _path(lab, config)
        sojourn = SojournRecorder(path.sched) if config.sojourn else None
        starts: list[int] = []

        def pump(seconds: float, procs: list[subprocess.Popen[str]]) -> None:
            starts.append(path.sched.now)  # the last pump starts with the load and the probe
            _forward(path, seconds, procs)

        try:
            outputs = drive_traffic(lab, config, pump)
        finally:
            path.close()
    window = (starts[-1] + int(config.warmup * 1e9) if starts else 0, path.sched.now + 1)
    return _results(config, path, outputs, sojourn, window)


def run_shell(config: LiveConfig, argv: list[str], seconds: float) -> tuple[int, dict[str, Any]]:
    """Run ``argv`` (a shell, or any command) in namespace a, on this terminal, through qdisclab.

    Packets flow through ``config``'s path until the command exits or
    ``seconds`` pass (its load and probe are not started); Ctrl-C reaches the
    command, not qdisclab. Returns its exit status and the results.
    """
    host.require(host.BASE_TOOLS)
    with LiveLab(config.io) as lab:
        path = _path(lab, config)
        interrupt = signal.signal(signal.SIGINT, signal.SIG_IGN)
        try:
            proc = subprocess.Popen(host.bounded(argv, seconds, lab.ns_a))
            _forward(path, seconds + DEADLINE_SLACK_S, [proc])
            status = _exit_status(proc)
        finally:
            signal.signal(signal.SIGINT, interrupt)
            path.close()
    return status, _results(config, path, {})


def _exit_status(proc: subprocess.Popen[Any]) -> int:
    if proc.poll() is None:
        proc.kill()
    return proc.wait(timeout=5)


Pump = Callable[[float, list], None]


def drive_traffic(lab: LiveLab, config: LiveConfig, pump: Pump) -> dict[str, str]:
    """Start the load and the probe, ``pump`` the datapath until they exit; their outputs.

    ``pump(seconds, procs)`` moves packets for up to ``seconds``, returning
    early once every process in ``procs`` has exited. Each tool prints to a
    file of its own: a pipe left unread while it runs would fill (ping over
    minutes, the cwnd poller within seconds) and stop the tool mid-run.
    """
    procs: dict[str, subprocess.Popen[str]] = {}
    files: dict[str, Any] = {}
    budget = config.duration + DEADLINE_SLACK_S
    stack = contextlib.ExitStack()

    def start(name: str, argv: list[str], netns: str) -> None:
        files[name] = stack.enter_context(tempfile.TemporaryFile("w+"))  # noqa: SIM115 (closed by stack)
        procs[name] = host.spawn(argv, budget, netns, stdout=files[name])

    try:
        if config.load == "iperf3":
            start("server", probes.iperf3_server(), lab.ns_b)
            _wait_listening(lab, pump)
            start("client", probes.iperf3_client(config.duration, config.cc, config.warmup,
                                                 config.streams), lab.ns_a)  # fmt: skip
            if config.trace_cwnd:
                start("cwnd", probes.cwnd_poller(config.cwnd_interval), lab.ns_a)
        if config.probe == "ping":
            start("ping", probes.ping_probe(config.duration, config.ping_interval), lab.ns_a)
        waited = [p for name, p in procs.items() if name not in ("server", "cwnd")]
        pump(budget if waited else config.duration, waited)
        for proc in procs.values():
            _finish(proc)
        outputs = {}
        for name, file in files.items():
            file.seek(0)
            outputs[name] = file.read()
        return outputs
    finally:
        for proc in procs.values():
            _finish(proc)
        stack.close()


def _wait_listening(lab: LiveLab, pump: Pump, seconds: float = 3.0) -> None:
    """Pump packets until the iperf3 server listens (it needs no traffic to start)."""
    port = f"sport = :{probes.IPERF3_PORT}"
    for _ in range(int(seconds / 0.05)):
        out = lab.run_in("b", ["ss", "-Hltn", port], seconds=2, check=False).stdout
        if out.strip():
            return
        pump(0.05, [])
    raise UserError("iperf3 server did not start listening within 3 s")


def _forward(path: LivePath, seconds: float, procs: list[subprocess.Popen[str]]) -> None:
    """Run qdisclab's datapath for ``seconds`` or until ``procs`` have all exited."""
    sched = path.sched

    def poll(_arg: object) -> None:
        if all(proc.poll() is not None for proc in procs):
            sched.stop()
        else:
            sched.call_later(POLL_NS, poll)

    if procs:
        sched.call_later(POLL_NS, poll)
    path.run(seconds)


def wait_exit(seconds: float, procs: list[subprocess.Popen[str]]) -> None:
    """A pump for the kernel's own datapath: nothing to forward, only wait."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if procs and all(proc.poll() is not None for proc in procs):
            return
        time.sleep(min(0.05, max(0.0, deadline - time.monotonic())))


def _finish(proc: subprocess.Popen[str]) -> str:
    """The output of an ended (or ended now) tool process."""
    if proc.poll() is None:
        proc.terminate()
    try:
        out, _err = proc.communicate(timeout=5)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, _err = proc.communicate(timeout=5)
    with contextlib.suppress(Exception):
        proc.stdout and proc.stdout.close()
    return out or ""


def traffic_results(config: LiveConfig, outputs: dict[str, str]) -> dict[str, Any]:
    """Goodput, probe RTTs, retransmits and congestion control from the tools' outputs.

    ``flows`` has one entry per bulk stream in iperf3's order: its local
    port, goodput and, when traced, the summary of its own cwnd trace.
    """
    tcp: dict[str, Any] = {"throughput_mbps": None, "retransmits": None, "cc": None,
                           "streams": []}  # fmt: skip
    if "client" in outputs:
        tcp = probes.iperf3_result(outputs["client"])
    rtts = probes.ping_rtts_ms(outputs.get("ping", ""), config.ping_interval, config.warmup)
    out = {
        "throughput_mbps": tcp["throughput_mbps"],
        "ping_rtt_ms": probes.rtt_summary(rtts),
        "retransmits": tcp["retransmits"],
        "cc": tcp["cc"],
    }
    flows: list[dict[str, Any]] = [dict(stream) for stream in tcp["streams"]]
    if "cwnd" in outputs:
        traces = probes.cwnd_traces(outputs["cwnd"])
        trace = next(iter(traces.values()), [])
        out["cwnd_series"] = [list(sample) for sample in trace]
        out["cwnd"] = probes.cwnd_summary(trace, config.warmup)
        for flow in flows:
            flow["cwnd"] = probes.cwnd_summary(traces.get(flow["port"], []), config.warmup)
    out["flows"] = flows
    return out


def _results(config: LiveConfig, path: LivePath, outputs: dict[str, str],
             sojourn: SojournRecorder | None = None,
             window: tuple[int, int] = (0, 0)) -> dict[str, Any]:  # fmt: skip
    """The run's results; ``sojourn`` (when recorded) over ``window``, after the warm-up."""

    def row(dev: Any) -> dict[str, Any]:
        out = {"node": dev.node.name, "dev": dev.name, **dev.qdisc.stats()}
        if sojourn is not None:
            out["sojourn_ms"] = sojourn.summary(dev.qdisc, window)
        return out

    return {
        "mode": "live",
        "config": asdict(config),
        **traffic_results(config, outputs),
        "qdisc": row(path.forward),
        "reverse_qdisc": row(path.backward),
        "fd": path.counters(),
        "tc": path.world.tc_stats(),
        "timer_lateness_max_ms": round(path.sched.max_lateness / 1e6, 3),
    }
