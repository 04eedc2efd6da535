"""The qdisc layer's tracepoints, declared once (fired by the trampolines and ``Qdisc``)."""

from qdisclab.sim.tracepoint import declare

QDISC_ENQUEUE = declare(
    "qdisc:qdisc_enqueue",
    ("now", "qdisc", "skb", "ret"),
    "a policy's enqueue returned: ret is NET_XMIT_*, skb is queued unless it was dropped",
)
QDISC_DEQUEUE = declare(
    "qdisc:qdisc_dequeue",
    ("now", "qdisc", "skb"),
    "an skb left the qdisc by dequeue (to the device or to a parent)",
)
QDISC_DROP = declare(
    "qdisc:qdisc_drop",
    ("now", "qdisc", "skb", "reason"),
    "the qdisc dropped an skb it held or was handed, with the drop reason",
)
QDISC_REQUEUE = declare(
    "qdisc:qdisc_requeue",
    ("now", "qdisc", "skb"),
    "an skb was put back at the head of the qdisc (peek / requeue)",
)
QDISC_CREATE = declare(
    "qdisc:qdisc_create",
    ("now", "qdisc"),
    "a qdisc instance was built (before its options are applied), at the root or as a child",
)
