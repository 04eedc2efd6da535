"""``run_live``: one bounded experiment through qdisclab between two namespaces.

iperf3 uploads from namespace a to b (the kernel's own TCP, any congestion
control the host offers) while ping probes the same path; qdisclab forwards
every packet through the ``LivePath`` until the tools exit or the deadline
passes. The result is plain data with the keys a simulated run's report uses.

>>> LiveConfig(qdisc="fq_codel", duration=5.0).tools()
('ip', 'timeout', 'iperf3', 'ping')
"""

from __future__ import annotations

import contextlib
import subprocess
from dataclasses import asdict, dataclass
from typing import Any

from qdisclab.errors import UserError
from qdisclab.live import host, probes
from qdisclab.live.netns import LiveLab
from qdisclab.live.path import LivePath
from qdisclab.sim import NSEC_PER_MSEC

LOADS = ("iperf3", "none")
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

    def __post_init__(self) -> None:
        if self.load not in LOADS:
            raise UserError(f"--load must be one of {', '.join(LOADS)} (found {self.load!r})")
        if self.probe not in PROBES:
            raise UserError(f"--probe must be one of {', '.join(PROBES)} (found {self.probe!r})")
        if self.io != "tun":
            raise UserError(f"--io {self.io}: only 'tun' is supported by this version")
        if not 0 < self.duration <= 600:
            raise UserError(f"--duration must be in (0, 600] seconds (found {self.duration:g})")

    def tools(self) -> tuple[str, ...]:
        """The host tools this run needs."""
        tools = host.BASE_TOOLS
        if self.load == "iperf3":
            tools += (host.LOAD_TOOL,)
        if self.probe == "ping":
            tools += (host.PROBE_TOOL,)
        return tools


def run_live(config: LiveConfig) -> dict[str, Any]:
    """Run ``config`` for real and return its results (raises ``UserError`` when it cannot)."""
    host.require(config.tools())
    with LiveLab(config.io) as lab:
        path = LivePath(
            lab.fd_a, lab.fd_b, qdisc=config.qdisc, rate=config.rate, delay=config.delay,
            reverse_qdisc=config.reverse_qdisc, jitter=config.jitter, loss=config.loss,
            seed=config.seed, names=(lab.dev_b, lab.dev_a),
        )  # fmt: skip
        procs: dict[str, subprocess.Popen[str]] = {}
        budget = config.duration + DEADLINE_SLACK_S
        try:
            if config.load == "iperf3":
                procs["server"] = host.spawn(probes.iperf3_server(), budget, lab.ns_b)
                _wait_listening(lab, path)
                procs["client"] = host.spawn(
                    probes.iperf3_client(config.duration, config.cc), budget, lab.ns_a
                )
            if config.probe == "ping":
                procs["ping"] = host.spawn(
                    probes.ping_probe(config.duration, config.ping_interval), budget, lab.ns_a
                )
            waited = [p for name, p in procs.items() if name != "server"]
            if waited:
                _run_until_exit(path, waited, budget)
            else:
                path.run(config.duration)
            outputs = {name: _finish(proc) for name, proc in procs.items()}
        finally:
            path.close()
            for proc in procs.values():
                _finish(proc)
    return _results(config, path, outputs)


def _wait_listening(lab: LiveLab, path: LivePath, seconds: float = 3.0) -> None:
    """Forward packets until the iperf3 server listens (it needs no traffic to start)."""
    port = f"sport = :{probes.IPERF3_PORT}"
    for _ in range(int(seconds / 0.05)):
        out = lab.run_in("b", ["ss", "-Hltn", port], seconds=2, check=False).stdout
        if out.strip():
            return
        path.run(0.05)
    raise UserError("iperf3 server did not start listening within 3 s")


def _run_until_exit(path: LivePath, procs: list[subprocess.Popen[str]], budget: float) -> None:
    sched = path.sched

    def poll(_arg: object) -> None:
        if all(proc.poll() is not None for proc in procs):
            sched.stop()
        else:
            sched.call_later(POLL_NS, poll)

    sched.call_later(POLL_NS, poll)
    path.run(budget)


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


def _results(config: LiveConfig, path: LivePath, outputs: dict[str, str]) -> dict[str, Any]:
    tcp: dict[str, Any] = {"throughput_mbps": None, "retransmits": None, "cc": None}
    if "client" in outputs:
        tcp = probes.iperf3_result(outputs["client"])
    rtts = probes.ping_rtts_ms(outputs.get("ping", ""), config.ping_interval, config.warmup)

    def row(dev: Any) -> dict[str, Any]:
        return {"node": dev.node.name, "dev": dev.name, **dev.qdisc.stats()}

    return {
        "mode": "live",
        "config": asdict(config),
        "throughput_mbps": tcp["throughput_mbps"],
        "ping_rtt_ms": probes.rtt_summary(rtts),
        "qdisc": row(path.forward),
        "reverse_qdisc": row(path.backward),
        "retransmits": tcp["retransmits"],
        "cc": tcp["cc"],
        "fd": path.counters(),
        "tc": path.world.tc_stats(),
        "timer_lateness_max_ms": round(path.sched.max_lateness / 1e6, 3),
    }
