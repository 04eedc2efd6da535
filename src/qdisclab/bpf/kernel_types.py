"""The kernel structs a BPF program may touch, as qdisclab models them.

One table drives three things: the ``vmlinux.h`` users compile against
(:mod:`qdisclab.bpf.vmlinux_header`), the CO-RE relocation of field
offsets/sizes/existence (:mod:`qdisclab.bpf.core`), and the executors' views
of qdisclab objects (each field names the attribute it binds to). Field names
are the kernel's, so a program built against the real kernel's ``vmlinux.h``
relocates onto this model by name; a field not listed here is not modelled and
an access to it is a load error naming it.

Layout is computed with C's natural alignment (what clang does with the
generated header), so offsets agree by construction. ``__sk_buff`` is UAPI:
its layout is the kernel's exactly (tc programs use it without CO-RE).

Bindings (``KField.attr``): an attribute name of the qdisclab object the
struct views (``SkBuff``, ``Qdisc``, ``NetDevice``, ``TcpSock``, and for
``__sk_buff`` the ``SkbContext`` a Python tc program receives); ``""`` for
an embedded struct, which views the same object; ``"@data"``/``"@data_end"``
for the packet pointers of ``__sk_buff``; ``"@ethertype"`` for ``protocol``
(the link-layer protocol, ``htons(ETH_P_IP)`` for qdisclab's IPv4 packets,
whose ``SkBuff.protocol`` is the IP protocol); ``"@ca_priv"`` for the congestion
control's private area; None for a UAPI field qdisclab does not model.
``bitfield`` fields are bitfields in the kernel; here each has a byte of its
own (declared ``__u8 x:N`` so clang emits bitfield CO-RE records): read them
with ``BPF_CORE_READ_BITFIELD`` and one object reads both kernels right. ``unit``
says a value is converted on the way (``"jiffies"``: qdisclab keeps µs, the
kernel field counts jiffies at ``CONFIG_HZ``). ``derived`` fields are counters qdisclab derives from ownership transitions:
the kernel lets a program write them, qdisclab accepts the write and keeps its
own count.

>>> skb = KERNEL_TYPES["sk_buff"]
>>> f = skb.field("tstamp")
>>> f.attr, f.size, f.writable
('tstamp', 8, True)
>>> KERNEL_TYPES["__sk_buff"].field("data").offset
76
"""

from __future__ import annotations

from qdisclab.bpf.kernel_layout import (
    KERNEL_TYPES,
    KField,
    KStruct,
    Row,
    layout_struct,
)

__all__ = ["KERNEL_ENUMS", "KERNEL_TYPES", "KField", "KStruct", "resolve_path"]


def _add(name: str, rows: list[Row], views: str, doc: str, **kw: bool) -> None:
    KERNEL_TYPES[name] = layout_struct(name, rows, views, doc, **kw)


def _opaque(name: str, decl: str, doc: str) -> None:
    _add(name, [("__opaque", decl, None, "")], "", doc, access_index=False)


# ---- BPF objects (UAPI, opaque to programs) ----------------------------------------
_opaque("bpf_spin_lock", "__u32 {}[1]", "a lock guarding graph roots in the same section")
_opaque("bpf_list_head", "__u64 {}[2]", "head of a list of program-allocated objects")
_opaque("bpf_list_node", "__u64 {}[3]", "link of an object in a bpf_list_head")
_opaque("bpf_rb_root", "__u64 {}[2]", "root of an rbtree of program-allocated objects")
_opaque("bpf_rb_node", "__u64 {}[4]", "link of an object in a bpf_rb_root")
_opaque("bpf_refcount", "__u32 {}[1]", "reference count of a shared object")
_opaque("bpf_iter_num", "__u64 {}[1]", "state of the numbers iterator (bpf_for)")
_opaque("bpf_dynptr", "__u64 {}[2]", "a dynamic pointer (bpf_dynptr_from_skb)")

# ---- packets ---------------------------------------------------------------------
_add(
    "qdisc_skb_cb",
    [
        ("pkt_len", "unsigned int", "len", ""),
        ("slave_dev_queue_mapping", "__u16", "queue_mapping", ""),
        ("tc_classid", "__u16", "tc_classid", ""),
        ("data", "unsigned char {}[20]", "cb", "w"),
    ],
    "SkBuff",
    "the qdisc layer's view of skb->cb; data[] is the qdisc's private area",
)
_add(
    "sk_buff",
    [
        ("dev", "struct net_device *", "dev", ""),
        ("sk", "struct sock *", "sk", ""),
        ("tstamp", "__u64", "tstamp", "w"),
        ("cb", "char {}[48]", "cb", "w"),
        ("len", "unsigned int", "len", ""),
        ("queue_mapping", "__u16", "queue_mapping", ""),
        ("tc_index", "__u16", "tc_index", ""),
        ("hash", "__u32", "hash", ""),
        ("protocol", "__be16", "@ethertype", ""),
        ("priority", "__u32", "priority", ""),
        ("skb_iif", "int", "iif", ""),
        ("mark", "__u32", "mark", ""),
    ],
    "SkBuff",
    "a packet; writable from a BPF qdisc: tstamp and qdisc_skb_cb(skb)->data",
)
_add(
    "__sk_buff",
    [
        ("len", "__u32", "len", ""),
        ("pkt_type", "__u32", None, ""),
        ("mark", "__u32", "mark", "w"),
        ("queue_mapping", "__u32", "queue_mapping", "w"),
        ("protocol", "__u32", "@ethertype", ""),
        ("vlan_present", "__u32", None, ""),
        ("vlan_tci", "__u32", None, ""),
        ("vlan_proto", "__u32", None, ""),
        ("priority", "__u32", "priority", "w"),
        ("ingress_ifindex", "__u32", "ingress_ifindex", ""),
        ("ifindex", "__u32", "ifindex", ""),
        ("tc_index", "__u32", "tc_index", "w"),
        ("cb", "__u32 {}[5]", None, ""),
        ("hash", "__u32", "hash", ""),
        ("tc_classid", "__u32", "tc_classid", "w"),
        ("data", "__u32", "@data", ""),
        ("data_end", "__u32", "@data_end", ""),
        ("napi_id", "__u32", None, ""),
        ("family", "__u32", None, ""),
        ("remote_ip4", "__u32", None, ""),
        ("local_ip4", "__u32", None, ""),
        ("remote_ip6", "__u32 {}[4]", None, ""),
        ("local_ip6", "__u32 {}[4]", None, ""),
        ("remote_port", "__u32", None, ""),
        ("local_port", "__u32", None, ""),
        ("data_meta", "__u32", None, ""),
        ("flow_keys", "struct bpf_flow_keys *", None, ""),
        ("tstamp", "__u64", "tstamp", "w"),
        ("wire_len", "__u32", "len", ""),
        ("gso_segs", "__u32", None, ""),
        ("sk", "struct bpf_sock *", None, ""),
        ("gso_size", "__u32", None, ""),
        ("tstamp_type", "__u8", None, ""),
        ("hwtstamp", "__u64", None, ""),
    ],
    "SkbContext",
    "the UAPI context of tc/tcx/netkit programs (layout fixed by the kernel ABI)",
)
_add(
    "bpf_sk_buff_ptr",
    [("skb", "struct sk_buff *", None, "")],
    "",
    "enqueue's to_free list: only passed to bpf_qdisc_skb_drop, never read",
)

# ---- devices and qdiscs ------------------------------------------------------------
_add(
    "net_device",
    [
        ("ifindex", "int", "ifindex", ""),
        ("mtu", "unsigned int", "mtu", ""),
        ("tx_queue_len", "unsigned int", "tx_queue_len", ""),
    ],
    "NetDevice",
    "a network device",
)
_add(
    "netdev_queue",
    [("dev", "struct net_device *", "", "")],
    "NetDevice",
    "a device's transmit queue (qdisclab devices have one)",
)
_add(
    "qdisc_skb_head",
    [("qlen", "__u32", "qlen", "wd")],
    "Qdisc",
    "the qdisc's queue length (sch->q.qlen)",
)
_add(
    "gnet_stats_queue",
    [
        ("qlen", "__u32", "qlen", "wd"),
        ("backlog", "__u32", "backlog", "wd"),
        ("drops", "__u32", "drops", "wd"),
        ("requeues", "__u32", "requeues", "wd"),
        ("overlimits", "__u32", "overlimits", "wd"),
    ],
    "Qdisc",
    "queue statistics (sch->qstats)",
)
_add(
    "gnet_stats_basic_sync",
    [("bytes", "__u64", "bytes", "d"), ("packets", "__u64", "packets", "d")],
    "Qdisc",
    "byte and packet counters (sch->bstats)",
)
_add(
    "Qdisc",
    [
        ("limit", "__u32", "limit", "w"),
        ("handle", "__u32", "handle", ""),
        ("parent", "__u32", "parent", ""),
        ("dev_queue", "struct netdev_queue *", "dev", ""),
        ("bstats", "struct gnet_stats_basic_sync", "", ""),
        ("q", "struct qdisc_skb_head", "", ""),
        ("qstats", "struct gnet_stats_queue", "", ""),
    ],
    "Qdisc",
    "a qdisc instance; writable: limit, q.qlen, qstats",
)

# ---- sockets -----------------------------------------------------------------------
_add(
    "sock_common",
    [
        ("skc_daddr", "__be32", "daddr", ""),
        ("skc_rcv_saddr", "__be32", "saddr", ""),
        ("skc_dport", "__be16", "dport", ""),
        ("skc_num", "__u16", "sport", ""),
        ("skc_state", "volatile unsigned char", "state", ""),
    ],
    "TcpSock",
    "addresses and state shared by every socket",
)
_add(
    "sock",
    [
        ("__sk_common", "struct sock_common", "", ""),
        ("sk_pacing_shift", "__u8", "sk_pacing_shift", ""),
        ("sk_pacing_rate", "unsigned long", "sk_pacing_rate", "w"),
        ("sk_max_pacing_rate", "unsigned long", "sk_max_pacing_rate", ""),
        ("sk_pacing_status", "__u32", "pacing_in_use", ""),
    ],
    "TcpSock",
    "a socket; writable from a congestion control: sk_pacing_rate",
)
_add("inet_sock", [("sk", "struct sock", "", "")], "TcpSock", "an INET socket")
_add(
    "inet_connection_sock",
    [
        ("icsk_inet", "struct inet_sock", "", ""),
        ("icsk_rto", "__u32", "rto", ""),
        ("icsk_ca_ops", "const struct tcp_congestion_ops *", None, ""),
        ("icsk_ca_state", "__u8 {}:5", "icsk_ca_state", "b"),
        ("icsk_backoff", "__u8", "icsk_backoff", ""),
        ("icsk_ca_priv", "__u64 {}[13]", "@ca_priv", "w"),
    ],
    "TcpSock",
    "a connection socket; icsk_ca_priv is the congestion control's private area",
)
_add(
    "tcp_sock",
    [
        ("inet_conn", "struct inet_connection_sock", "", ""),
        ("rcv_nxt", "__u32", "rcv_nxt", ""),
        ("snd_nxt", "__u32", "snd_nxt", ""),
        ("snd_una", "__u32", "snd_una", ""),
        ("mss_cache", "__u32", "mss_cache", ""),
        ("srtt_us", "__u32", "srtt_us", ""),
        ("mdev_us", "__u32", "mdev_us", ""),
        ("rttvar_us", "__u32", "rttvar_us", ""),
        ("packets_out", "__u32", "packets_out", ""),
        ("retrans_out", "__u32", "retrans_out", ""),
        ("max_packets_out", "__u32", "max_packets_out", ""),
        ("lsndtime", "__u32", "lsndtime", "j"),
        ("snd_ssthresh", "__u32", "snd_ssthresh", "w"),
        ("snd_cwnd", "__u32", "snd_cwnd", "w"),
        ("snd_cwnd_cnt", "__u32", "snd_cwnd_cnt", "w"),
        ("snd_cwnd_clamp", "__u32", "snd_cwnd_clamp", ""),
        ("prior_cwnd", "__u32", "prior_cwnd", ""),
        ("prior_ssthresh", "__u32", "prior_ssthresh", ""),
        ("sacked_out", "__u32", "sacked_out", ""),
        ("lost_out", "__u32", "lost_out", ""),
        ("delivered", "__u32", "delivered", ""),
        ("delivered_ce", "__u32", "delivered_ce", ""),
        ("app_limited", "__u32", "app_limited", "w"),
        ("ecn_flags", "__u8", "ecn_flags", "w"),
        ("is_cwnd_limited", "__u8 {}:1", "is_cwnd_limited", "b"),
        ("tcp_mstamp", "__u64", "tcp_mstamp", ""),
        ("bytes_acked", "__u64", "bytes_acked", ""),
    ],
    "TcpSock",
    "a TCP socket; writable from a congestion control: cwnd, ssthresh, cwnd_cnt, ecn_flags",
)

_add(
    "ack_sample",
    [
        ("pkts_acked", "__u32", "pkts_acked", ""),
        ("rtt_us", "__s32", "rtt_us", ""),
        ("in_flight", "__u32", "in_flight", ""),
    ],
    "AckSample",
    "what pkts_acked is told about an ACK",
)

# ---- ops tables a struct_ops map fills in ------------------------------------------
# Members the kernel opens to BPF; a struct_ops map's function members point to programs.
_add(
    "Qdisc_ops",
    [
        ("id", "char {}[16]", "id", ""),
        ("priv_size", "__u32", None, ""),
        (
            "enqueue",
            "int (*{})(struct sk_buff *skb, struct Qdisc *sch, struct bpf_sk_buff_ptr *to_free)",
            None,
            "",
        ),
        ("dequeue", "struct sk_buff *(*{})(struct Qdisc *sch)", None, ""),
        ("peek", "struct sk_buff *(*{})(struct Qdisc *sch)", None, ""),
        (
            "init",
            "int (*{})(struct Qdisc *sch, struct nlattr *arg, struct netlink_ext_ack *extack)",
            None,
            "",
        ),
        ("reset", "void (*{})(struct Qdisc *sch)", None, ""),
        ("destroy", "void (*{})(struct Qdisc *sch)", None, ""),
    ],
    "struct_ops",
    'a qdisc kind: SEC(".struct_ops") struct Qdisc_ops x = { .enqueue = ..., .id = ".." }',
)
_add(
    "tcp_congestion_ops",
    [
        ("ssthresh", "__u32 (*{})(struct sock *sk)", None, ""),
        ("cong_avoid", "void (*{})(struct sock *sk, __u32 ack, __u32 acked)", None, ""),
        ("set_state", "void (*{})(struct sock *sk, __u8 new_state)", None, ""),
        ("cwnd_event", "void (*{})(struct sock *sk, enum tcp_ca_event ev)", None, ""),
        ("in_ack_event", "void (*{})(struct sock *sk, __u32 flags)", None, ""),
        ("pkts_acked", "void (*{})(struct sock *sk, const struct ack_sample *sample)", None, ""),
        ("min_tso_segs", "__u32 (*{})(struct sock *sk)", None, ""),
        (
            "cong_control",
            "void (*{})(struct sock *sk, __u32 ack, int flag, const struct rate_sample *rs)",
            None,
            "",
        ),
        ("undo_cwnd", "__u32 (*{})(struct sock *sk)", None, ""),
        ("sndbuf_expand", "__u32 (*{})(struct sock *sk)", None, ""),
        ("name", "char {}[16]", "name", ""),
        ("flags", "__u32", "flags", ""),
        ("init", "void (*{})(struct sock *sk)", None, ""),
        ("release", "void (*{})(struct sock *sk)", None, ""),
    ],
    "struct_ops",
    'a congestion control: SEC(".struct_ops") struct tcp_congestion_ops x = { .name = ... }',
)

# Enums the modelled callbacks take, emitted into vmlinux.h with the kernel's values.
KERNEL_ENUMS: dict[str, tuple[tuple[str, int], ...]] = {
    "tcp_ca_event": (
        ("CA_EVENT_TX_START", 0),
        ("CA_EVENT_CWND_RESTART", 1),
        ("CA_EVENT_COMPLETE_CWR", 2),
        ("CA_EVENT_LOSS", 3),
        ("CA_EVENT_ECN_NO_CE", 4),
        ("CA_EVENT_ECN_IS_CE", 5),
    ),
    "tcp_ca_state": (
        ("TCP_CA_Open", 0),
        ("TCP_CA_Disorder", 1),
        ("TCP_CA_CWR", 2),
        ("TCP_CA_Recovery", 3),
        ("TCP_CA_Loss", 4),
    ),
    "tcp_ca_ack_event_flags": (
        ("CA_ACK_SLOWPATH", 1),
        ("CA_ACK_WIN_UPDATE", 2),
        ("CA_ACK_ECE", 4),
    ),
}


def resolve_path(struct: str, names: list[str]) -> list[KField]:
    """The fields reached by following member ``names`` from ``struct`` (embedded structs).

    Raises KeyError naming the first name that is not modelled.

    >>> [f.name for f in resolve_path("Qdisc", ["q", "qlen"])]
    ['q', 'qlen']
    """
    chain: list[KField] = []
    current = KERNEL_TYPES[struct]
    for index, name in enumerate(names):
        f = current.field(name)
        if f is None:
            raise KeyError(f"struct {current.name} has no field {name!r} in qdisclab's model")
        chain.append(f)
        inner = f.struct
        if inner is None and index < len(names) - 1:
            raise KeyError(
                f"{current.name}.{name} is not a struct (cannot take .{names[index + 1]})"
            )
        if inner is not None:
            current = KERNEL_TYPES[inner]
    return chain
