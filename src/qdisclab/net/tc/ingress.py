"""``tc qdisc add|del dev D ingress``: the classifier attach point of received packets (ffff:)."""

from __future__ import annotations

import errno
from typing import Any

from qdisclab.sched.constants import TC_H_INGRESS
from qdisclab.sched.handle import requested_handle
from qdisclab.sched.options import KernelRefusal, TcParseError
from qdisclab.sched.qdiscs.pfifo import Pfifo
from qdisclab.sched.registry import create_qdisc

NLM_F_EXCL, NLM_F_CREATE = 0x200, 0x400


class Ingress(Pfifo):
    """``ingress``: the classifier hook of received packets; queues nothing of its own."""

    id = "ingress"

    @classmethod
    def parse_options(cls, tokens: list[str]) -> dict[str, Any]:
        args = [t for t in tokens]
        while args:
            word = args.pop(0)
            if word == "handle" and args:
                args.pop(0)
                continue
            raise TcParseError(f'What is "{word}"?\nUsage: ... ingress')
        return {}

    @classmethod
    def render_options(cls, opt: dict[str, Any]) -> str:
        return "---------------- "


def modify_ingress(dev: Any, nl_flags: int, req: Any) -> str:
    """``tc qdisc add dev D ingress``: one per device, handle ffff:."""
    if dev.ingress_qdisc is not None:
        if nl_flags & NLM_F_EXCL:
            raise KernelRefusal(errno.EEXIST, "Exclusivity flag on, cannot modify")
        return ""
    if not nl_flags & NLM_F_CREATE:
        raise KernelRefusal(errno.ENOENT, "Qdisc not found. To create specify NLM_F_CREATE flag")
    from qdisclab.net.device import IngressPort

    with requested_handle(0xFFFF0000):
        dev.ingress_qdisc = create_qdisc(Ingress, IngressPort(dev), parent=TC_H_INGRESS)
    return ""
