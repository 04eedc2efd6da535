"""Plug-in registries: traffic types, node features, extension kinds.

A scenario names a traffic ``type`` (``udp-cbr``, ``tcp-bulk``, ``ping``...),
uses features (``tcx``, ``netkit``) and loads user classes. Each is looked up
here, so TCP, tcx and netkit plug in without touching the runner: a module in
``qdisclab.scenario.kinds`` (auto-imported) calls the ``register_*`` functions.

>>> "udp-cbr" in traffic_types()
True
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable
from typing import Any

# type name -> builder(ctx, flow_spec, index) -> object with optional .summary() -> dict
TRAFFIC: dict[str, Callable[..., Any]] = {}
# type name -> check(loaded, flow_spec, index) run at load time (raise loaded.error(...))
CHECKS: dict[str, Callable[..., None]] = {}
# type name -> ROLE_DATA or ROLE_PROBE: what a flow of that type counts for in summaries
ROLES: dict[str, str] = {}
ROLE_DATA = "data"  # a bulk TCP or UDP source: counted in throughput totals and Jain's index
ROLE_PROBE = "probe"  # a measurement flow (ping, request/response): reported on its own
ROLE_REVERSE = "reverse"  # the return direction of a flow (TCP ACKs, echo replies)
# feature name ("tcx", "netkit") -> builder(ctx, spec, index)
FEATURES: dict[str, Callable[..., Any]] = {}
# (predicate(cls) -> bool, register(cls, where) -> None, what)
EXTENSION_KINDS: list[tuple[Callable[[type], bool], Callable[[type], None], str]] = []
# what each not-yet-registered name needs, for clear messages and test skips
PROVIDERS = {
    "tcp-bulk": "the TCP stack (qdisclab.tcp)",
    "tcp-transfer": "the TCP stack (qdisclab.tcp)",
    "tcp-rr": "the TCP stack (qdisclab.tcp)",
    "tcx": "tcx hooks (qdisclab.tcx)",
    "netkit": "netkit pairs (qdisclab.netkit)",
}

_loaded = False


def register_traffic(
    name: str,
    builder: Callable[..., Any],
    check: Callable[..., None] | None = None,
    role: str = ROLE_DATA,
) -> None:
    """Make ``type = name`` usable; ``check(loaded, spec, index)`` validates it at load time.

    ``role`` says whether its flows are data (``ROLE_DATA``: in ``summary.jain``
    and ``throughput_mbps_total``) or probes (``ROLE_PROBE``: reported apart).
    """
    TRAFFIC[name] = builder
    ROLES[name] = role
    if check is not None:
        CHECKS[name] = check


def register_feature(name: str, builder: Callable[..., Any]) -> None:
    FEATURES[name] = builder


def register_extension_kind(
    predicate: Callable[[type], bool], register: Callable[[type], None], what: str
) -> None:
    EXTENSION_KINDS.append((predicate, register, what))


def register_or_replace(
    existing: type | None, cls: type, register: Callable[[type], Any],
    update: Callable[[type], Any],
) -> None:  # fmt: skip
    """Register ``cls``, or replace the user class already holding its id for new instances.

    As a struct_ops link update: instances created earlier keep the class they
    were made with. A built-in (a class from the qdisclab package) is never
    replaced: registering over it is the registry's EEXIST.
    """
    if existing is cls:
        return
    if existing is not None and not existing.__module__.startswith("qdisclab."):
        update(cls)
        return
    register(cls)


def load_kinds() -> None:
    """Import every module of ``qdisclab.scenario.kinds`` once (each registers itself)."""
    global _loaded
    if _loaded:
        return
    _loaded = True
    import qdisclab.scenario.kinds as pkg

    for info in sorted(pkgutil.iter_modules(pkg.__path__), key=lambda i: i.name):
        if not info.name.startswith("_"):
            importlib.import_module(f"{pkg.__name__}.{info.name}")


def traffic_types() -> list[str]:
    load_kinds()
    return sorted(TRAFFIC)


def missing(name: str) -> str | None:
    """Why ``name`` (traffic type or feature) cannot run now, or None if it can."""
    load_kinds()
    if name in TRAFFIC or name in FEATURES:
        return None
    return f"'{name}' is not available yet: it needs {PROVIDERS.get(name, 'a plug-in')}"
