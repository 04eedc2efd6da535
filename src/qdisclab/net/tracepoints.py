"""The device layer's tracepoints, declared once (fired by ``NetDevice`` in device.py)."""

from qdisclab.sim.tracepoint import declare

NET_DEV_XMIT = declare(
    "net:net_dev_xmit",
    ("now", "dev", "skb"),
    "the device started serialising skb onto its wire (after the qdisc)",
)
NET_DEV_RECEIVE = declare(
    "net:netif_receive_skb",
    ("now", "dev", "skb"),
    "skb arrived from the wire at the device, before tcx ingress and the stack",
)
