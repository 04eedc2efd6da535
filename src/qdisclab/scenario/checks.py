"""Semantic checks after schema validation: references, qdisc specs, user classes.

Each failure is raised through ``Loaded.error`` so it names file, line and field.
"""

from __future__ import annotations

import shlex
from typing import Any

from qdisclab.errors import QdiscLabError


def _msg(exc: Exception) -> str:
    return str(exc)


def device_names(s: Any) -> dict[str, list[str]]:
    """Node -> its device names in creation order (``eth0``, ``eth1``... by link order)."""
    devs: dict[str, list[str]] = {n.name: [] for n in s.node}
    for link in s.link:
        for end in (link.a, link.b):
            if end in devs:
                devs[end].append(f"eth{len(devs[end])}")
    return devs


def check(loaded: Any) -> None:
    from qdisclab.scenario.bpf_specs import resolve_qdisc_spec
    from qdisclab.scenario.extensions import load_object, register_extension
    from qdisclab.sched import lookup_qdisc

    s = loaded.scenario
    err = loaded.error
    names: list[str] = []
    for i, node in enumerate(s.node):
        if node.name in names:
            raise err(("node", i, "name"), node.name, "a name not used by another node")
        names.append(node.name)
    allowed_nodes = ", ".join(names) or "(no nodes defined)"
    # User classes first: a qdisc they register may be named by a link.
    for i, ext in enumerate(s.extension):
        try:
            register_extension(load_object(ext.path, loaded.base_dir))
        except QdiscLabError as exc:
            raise err(("extension", i, "class"), ext.path, "", _msg(exc)) from None
    for i, link in enumerate(s.link):
        for end in ("a", "b"):
            if getattr(link, end) not in names:
                raise err(("link", i, end), getattr(link, end), allowed_nodes)
        if link.a == link.b:
            raise err(("link", i, "b"), link.b, "a node other than a")
        for key in ("qdisc_a", "qdisc_b"):
            spec = getattr(link, key)
            try:
                # A compiled BPF qdisc registers its kind; the link then names that kind.
                setattr(link, key, resolve_qdisc_spec(spec, loaded.base_dir))
                tokens = shlex.split(getattr(link, key))
                if not tokens:
                    raise ValueError("empty qdisc spec")
                lookup_qdisc(tokens[0]).parse_options(tokens[1:])
            except (QdiscLabError, ValueError) as exc:
                raise err(("link", i, key), spec, "", _msg(exc)) from None
        for j, flt in enumerate(link.filter):
            from qdisclab.sched import parse_handle
            from qdisclab.sched.filters import MATCH_FIELDS

            try:
                parse_handle(flt.classid)
            except QdiscLabError as exc:
                raise err(("link", i, "filter", j, "classid"), flt.classid, "", _msg(exc)) from None
            for key in flt.match:
                if key not in MATCH_FIELDS:
                    raise err(("link", i, "filter", j, "match"), key, ", ".join(MATCH_FIELDS))
    devs = device_names(s)
    for i, flow in enumerate(s.flow):
        for end in ("src", "dst"):
            if getattr(flow, end) not in names:
                raise err(("flow", i, end), getattr(flow, end), allowed_nodes)
        from qdisclab.scenario.registry import CHECKS, TRAFFIC, load_kinds

        load_kinds()
        if flow.type not in TRAFFIC:
            raise err(("flow", i, "type"), flow.type, ", ".join(sorted(TRAFFIC)))
        if flow.type in CHECKS:
            CHECKS[flow.type](loaded, flow, i)
    record = s.run.record
    for key in ("pcap", "traces"):
        for j, ref in enumerate(getattr(record, key)):
            node, _, dev = ref.partition(":")
            if node not in devs or dev not in devs[node]:
                allowed = ", ".join(f"{n}:{d}" for n, ds in devs.items() for d in ds)
                raise err(("run", "record", key), ref, allowed or "(no devices)")
            del j
    for i, tcx in enumerate(s.tcx):
        node, _, dev = tcx.dev.partition(":")
        if node not in names:
            raise err(("tcx", i, "dev"), tcx.dev, "NODE:DEV with NODE one of " + allowed_nodes)
    for i, nk in enumerate(s.netkit):
        for end in ("a", "b"):
            if getattr(nk, end) not in names:
                raise err(("netkit", i, end), getattr(nk, end), allowed_nodes)
