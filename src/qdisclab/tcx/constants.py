"""tcx uapi values (``include/uapi/linux/bpf.h``, ``pkt_cls.h``) and hook verdicts.

>>> TCX_NEXT, TCX_PASS, TCX_DROP, TCX_REDIRECT
(-1, 0, 2, 7)
"""

# enum tcx_action_base: what a tcx program returns.
TCX_NEXT = -1
TCX_PASS = 0
TCX_DROP = 2
TCX_REDIRECT = 7

# Classic tc actions (TC_ACT_*) a cls_bpf direct-action program or filter returns.
TC_ACT_UNSPEC = -1
TC_ACT_OK = 0
TC_ACT_RECLASSIFY = 1
TC_ACT_SHOT = 2
TC_ACT_PIPE = 3
TC_ACT_STOLEN = 4
TC_ACT_QUEUED = 5
TC_ACT_REPEAT = 6
TC_ACT_REDIRECT = 7
TC_ACT_TRAP = 8

# bpf_redirect() flags.
BPF_F_INGRESS = 1

# bpf_skb_set_tstamp() types.
BPF_SKB_TSTAMP_UNSPEC = 0
BPF_SKB_TSTAMP_DELIVERY_MONO = 1  # the EDT clock qdiscs pace by

# __sk_buff->protocol: the L3 ethertype (the model only carries IPv4).
ETH_P_IP = 0x0800

# Verdicts a device hook returns; same values as qdisclab.net.device (a layer above).
HOOK_PASS = 0
HOOK_DROP = 2
HOOK_STOLEN = 4

# Ledger drop reasons specific to tcx (a plain TCX_DROP/TC_ACT_SHOT is DROP_TCX).
DROP_TCX_REDIRECT = "tcx_redirect_failed"  # no such device, device down or a redirect loop

# Nested redirects a packet may take in one call chain (XMIT_RECURSION_LIMIT).
XMIT_RECURSION_LIMIT = 8
