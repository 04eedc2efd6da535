"""The scenario file schema (pydantic v2, ``extra="forbid"`` everywhere).

Values that carry tc units stay strings in the model (so the resolved TOML
prints as the user wrote it) and are validated with ``qdisclab.units`` parsers.

Every model defers its build (``defer_build``): a run validates one
``Scenario`` and builds its validator then, once, nested models inline,
instead of eleven validators at import of which ten are never called.

>>> s = validate({"run": {"duration": "1s"}, "node": [{"name": "A", "kind": "host"}]})
>>> s.run.duration_ns
1000000000
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, StrictStr, field_validator

from qdisclab.errors import UserError
from qdisclab.net import memory as net_memory
from qdisclab.units import format_size, parse_rate, parse_size, parse_time

Unit = StrictStr | StrictInt  # a bool is not a rate


def _check(parser: Any, value: Any) -> Any:
    if value is None:
        return value
    try:
        parser(value)
    except (UserError, ValueError) as exc:
        raise ValueError(str(exc)) from None
    return value


def _positive(parser: Any, value: Any) -> Any:
    """A unit value where zero would mean "infinitely fast" (a period, a rate, a length)."""
    if value is not None and _check(parser, value) is not None and parser(value) == 0:
        raise ValueError("a value above zero (zero would mean infinitely fast or never)")
    return value


# Memory that a run's queued packets may take, summed over every root qdisc (truesize,
# as the kernel charges qdisc memory): reaching it drops with reason "queue_memory".
DEFAULT_QUEUE_MEMORY = format_size(net_memory.DEFAULT_QUEUE_MEMORY)
# Packets that a run's rate-driven sources (UDP flows, ping probes) and trace samples may
# make in all, estimated from the scenario before it runs: bounds the work, not only memory.
DEFAULT_PACKET_BUDGET = 20_000_000


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", defer_build=True)


class Record(Strict):
    """What to record: pcaps and queue traces of devices ``"NODE:DEV"``, tracepoint events.

    ``events`` selects tracepoints to write one row per event (``"qdisc:R1:eth0"``,
    ``"net:NODE:DEV"``, ``"tcx:NODE:DEV"``, ``"tcp:FLOW"``; see
    ``qdisclab.measure.events``) as ``events.csv``, or ``events.parquet``
    with ``events_format = "parquet"`` (needs pyarrow).
    """

    pcap: list[str] = []
    traces: list[str] = []
    trace_interval: Unit = "10ms"
    plots: bool = True
    events: list[str] = []
    events_format: Literal["csv", "parquet"] = "csv"

    _v = field_validator("trace_interval")(classmethod(lambda cls, v: _positive(parse_time, v)))

    @field_validator("events")
    @classmethod
    def _events(cls, v: list[str]) -> list[str]:
        from qdisclab.measure.events import check_selection

        for item in v:
            problem = check_selection(item)
            if problem:
                raise ValueError(problem)
        return v


class Run(Strict):
    duration: Unit = "10s"
    seed: int = 1
    window: list[Unit] | None = None  # measurement window [start, end]; default second half
    # Each flow starts up to this much later than its ``start``, drawn from the run seed,
    # so that seeds differ as real runs do; "0ms" keeps every start exactly as written.
    start_jitter: Unit = "1ms"
    record: Record = Field(default_factory=lambda: Record.model_construct())  # defaults: valid
    queue_memory: Unit = DEFAULT_QUEUE_MEMORY  # bytes all queued packets may take at once
    packet_budget: int = Field(DEFAULT_PACKET_BUDGET, ge=1)  # see DEFAULT_PACKET_BUDGET

    _v = field_validator("duration")(classmethod(lambda cls, v: _positive(parse_time, v)))
    _j = field_validator("start_jitter")(classmethod(lambda cls, v: _check(parse_time, v)))
    _m = field_validator("queue_memory")(classmethod(lambda cls, v: _positive(parse_size, v)))

    @field_validator("window")
    @classmethod
    def _window(cls, v: list[Unit] | None) -> list[Unit] | None:
        if v is not None:
            if len(v) != 2:
                raise ValueError("window must be [start, end]")
            for item in v:
                _check(parse_time, item)
            if parse_time(v[0]) >= parse_time(v[1]):
                raise ValueError("a window [start, end] with start before end")
        return v

    @property
    def duration_ns(self) -> int:
        return parse_time(self.duration)

    @property
    def start_jitter_ns(self) -> int:
        return parse_time(self.start_jitter)


class NodeSpec(Strict):
    """A host or router; ``tc`` lines (iproute2's ``tc``/``ip link`` syntax) run on it in order."""

    name: str
    kind: Literal["host", "router"] = "host"
    tc: list[str] = []


class FilterSpec(Strict):
    """A classic tc filter on the root qdisc of one side of the link."""

    side: Literal["a", "b"] = "a"
    prio: int = 1
    classid: str
    match: dict[str, int | str] = {}
    program: str | None = None


class LinkSpec(Strict):
    a: str
    b: str
    name: str | None = None
    rate: Unit = "1gbit"
    rate_b: Unit | None = None
    delay: Unit = "0ms"
    jitter: Unit = "0ms"
    loss: float = Field(0.0, ge=0.0, lt=1.0)
    mtu: int = Field(1500, ge=68, le=65535)
    txqueuelen: int = Field(1000, ge=0)
    qdisc_a: str = "pfifo"
    qdisc_b: str = "pfifo"
    filter: list[FilterSpec] = []

    _r = field_validator("rate", "rate_b")(classmethod(lambda cls, v: _positive(parse_rate, v)))
    _t = field_validator("delay", "jitter")(classmethod(lambda cls, v: _check(parse_time, v)))


class FlowSpec(Strict):
    type: str
    src: str
    dst: str
    name: str | None = None
    rate: Unit | None = None
    size: Unit = 1500
    start: Unit = "0s"
    stop: Unit | None = None
    cc: str | None = None  # TCP congestion control (default: the stack's, cubic)
    ecn: StrictBool = False  # TCP: negotiate ECN (ECT(0) data, CE echoed)
    mss: int | None = Field(None, ge=88, le=65495)
    bytes: Unit | None = None  # tcp-transfer amount
    request: Unit | None = None  # tcp-rr request size
    response: Unit | None = None  # tcp-rr response size
    count: int | None = Field(None, ge=1)  # tcp-rr transactions (default: until stop)
    on: Unit | None = None  # udp-onoff mean ON period
    off: Unit | None = None
    interval: Unit | None = None  # ping probe period
    dport: int | None = Field(None, ge=1, le=65535)

    _r = field_validator("rate")(classmethod(lambda cls, v: _positive(parse_rate, v)))
    _s = field_validator("size", "bytes", "request", "response")(
        classmethod(lambda cls, v: _positive(parse_size, v))
    )
    _t = field_validator("start", "stop")(classmethod(lambda cls, v: _check(parse_time, v)))
    _p = field_validator("on", "off", "interval")(
        classmethod(lambda cls, v: _positive(parse_time, v))
    )


class TcxSpec(Strict):
    dev: str
    direction: Literal["ingress", "egress"] = "egress"
    program: str
    name: str | None = None


class NetkitSpec(Strict):
    """A virtual pair between nodes ``a`` and ``b``: netkit (primary on ``a``) or veth.

    netkit: no qdisc, no wire; ``delay`` adds an optional fixed hand-over time.
    veth: packets wait in the CPU backlog for the next softirq poll
    (``softirq_latency``, default 20us; 64 packets per poll).
    """

    a: str
    b: str
    kind: Literal["netkit", "veth"] = "netkit"
    name: str | None = None
    mode: Literal["l3", "l2"] = "l3"
    policy: Literal["pass", "blackhole"] = "pass"
    peer_policy: Literal["pass", "blackhole"] = "pass"
    scrub: Literal["default", "none"] = "default"
    peer_scrub: Literal["default", "none"] = "default"
    primary_program: str | None = None
    peer_program: str | None = None
    delay: Unit = "0ms"
    softirq_latency: Unit = "20us"

    _t = field_validator("delay", "softirq_latency")(
        classmethod(lambda cls, v: _check(parse_time, v))
    )


class ExtensionSpec(Strict):
    """A user class: ``"package.module:Class"`` or ``"path/to/file.py:Class"``."""

    path: str = Field(alias="class")

    model_config = ConfigDict(extra="forbid", populate_by_name=True, defer_build=True)


class Scenario(Strict):
    description: str = ""
    run: Run = Field(default_factory=lambda: Run.model_construct())
    node: list[NodeSpec] = []
    link: list[LinkSpec] = []
    flow: list[FlowSpec] = []
    tcx: list[TcxSpec] = []
    netkit: list[NetkitSpec] = []
    extension: list[ExtensionSpec] = []


@contextmanager
def _without_pydantic_plugins() -> Iterator[None]:
    """Build validators without pydantic plugins, as typer builds its own.

    Looking plugins up scans every installed distribution's entry points
    (``importlib.metadata``), about 2 % of a short run's instructions, for
    observability hooks that the scenario schema has no use for.
    """
    previous = os.environ.get("PYDANTIC_DISABLE_PLUGINS")
    os.environ["PYDANTIC_DISABLE_PLUGINS"] = "1"
    try:
        yield
    finally:
        if previous is None:
            del os.environ["PYDANTIC_DISABLE_PLUGINS"]
        else:
            os.environ["PYDANTIC_DISABLE_PLUGINS"] = previous


def validate(raw: dict[str, Any]) -> Scenario:
    """A ``Scenario`` from a parsed TOML table; raises pydantic's ``ValidationError``."""
    if not Scenario.__pydantic_complete__:
        with _without_pydantic_plugins():
            Scenario.model_rebuild()
    return Scenario.model_validate(raw)
