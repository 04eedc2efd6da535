"""Kernel constants of the qdisc layer (include/linux/netdevice.h, pkt_sched.h)."""

NET_XMIT_SUCCESS = 0x00
NET_XMIT_DROP = 0x01  # skb dropped
NET_XMIT_CN = 0x02  # congestion notification: queued, but a packet was dropped
NET_XMIT_MASK = 0x0F
__NET_XMIT_STOLEN = 0x00010000
__NET_XMIT_BYPASS = 0x00020000
# The codes by name, for diagnostics and reports.
NET_XMIT_NAMES = {NET_XMIT_SUCCESS: "NET_XMIT_SUCCESS", NET_XMIT_DROP: "NET_XMIT_DROP",
                  NET_XMIT_CN: "NET_XMIT_CN"}  # fmt: skip

TC_H_UNSPEC = 0x00000000
TC_H_ROOT = 0xFFFFFFFF
TC_H_INGRESS = 0xFFFFFFF1
TC_H_CLSACT = TC_H_INGRESS
TC_H_MAJ_MASK = 0xFFFF0000
TC_H_MIN_MASK = 0x0000FFFF

TC_PRIO_BESTEFFORT = 0
TC_PRIO_FILLER = 1
TC_PRIO_BULK = 2
TC_PRIO_INTERACTIVE_BULK = 4
TC_PRIO_INTERACTIVE = 6
TC_PRIO_CONTROL = 7
TC_PRIO_MAX = 15

QDISC_CB_PRIV_LEN = 20


def TC_H_MAJ(h: int) -> int:
    return h & TC_H_MAJ_MASK


def TC_H_MIN(h: int) -> int:
    return h & TC_H_MIN_MASK


def TC_H_MAKE(maj: int, minor: int) -> int:
    return (maj & TC_H_MAJ_MASK) | (minor & TC_H_MIN_MASK)
