"""Kernel uapi constants used by the multi-program attach layer.

Values are the kernel's (``include/uapi/linux/bpf.h``), so code written against
the kernel documentation reads the same here.

>>> BPF_F_BEFORE | BPF_F_ID
40
>>> MPROG_MAX_PROGS
63
"""

# Attach flags (bpf_attr.attach_flags / link_create.flags), spec table 2.1.
BPF_F_ALLOW_OVERRIDE = 1 << 0  # cgroup only: rejected by mprog hooks
BPF_F_ALLOW_MULTI = 1 << 1  # cgroup only: rejected by mprog hooks
BPF_F_REPLACE = 1 << 2
BPF_F_BEFORE = 1 << 3
BPF_F_AFTER = 1 << 4
BPF_F_ID = 1 << 5
BPF_F_PREORDER = 1 << 6  # cgroup only: rejected by mprog hooks
BPF_F_LINK = 1 << 13

# The only flags BPF_PROG_ATTACH / BPF_PROG_DETACH accept for an mprog hook.
BPF_F_ATTACH_MASK_MPROG = BPF_F_REPLACE | BPF_F_BEFORE | BPF_F_AFTER | BPF_F_ID | BPF_F_LINK

# BPF_PROG_QUERY query_flags; mprog rejects it (and every other bit) with EINVAL.
BPF_F_QUERY_EFFECTIVE = 1 << 0

# Entry array size; one slot is the NULL terminator of the fast-path loop.
BPF_MPROG_MAX = 64
MPROG_MAX_PROGS = BPF_MPROG_MAX - 1

# enum bpf_attach_type (only the mprog users).
BPF_TCX_INGRESS = 46
BPF_TCX_EGRESS = 47
BPF_NETKIT_PRIMARY = 54
BPF_NETKIT_PEER = 55
MPROG_ATTACH_TYPES = frozenset(
    {BPF_TCX_INGRESS, BPF_TCX_EGRESS, BPF_NETKIT_PRIMARY, BPF_NETKIT_PEER}
)

# enum bpf_prog_type (enough for the type checks).
BPF_PROG_TYPE_UNSPEC = 0
BPF_PROG_TYPE_SOCKET_FILTER = 1
BPF_PROG_TYPE_KPROBE = 2
BPF_PROG_TYPE_SCHED_CLS = 3
BPF_PROG_TYPE_SCHED_ACT = 4
BPF_PROG_TYPE_XDP = 6

# enum bpf_link_type (the mprog users).
BPF_LINK_TYPE_UNSPEC = 0
BPF_LINK_TYPE_TCX = 11
BPF_LINK_TYPE_NETKIT = 13
