"""The TCP layer's tracepoints, declared once (fired by the socket's parts)."""

from qdisclab.sim.tracepoint import declare

TCP_PROBE = declare(
    "tcp:tcp_probe",
    ("now", "sk", "snd_cwnd", "snd_ssthresh", "srtt_us"),
    "the congestion window or slow-start threshold changed (srtt_us is the smoothed RTT)",
)
TCP_CONG_STATE_SET = declare(
    "tcp:tcp_cong_state_set",
    ("now", "sk", "ca_state"),
    "the congestion-avoidance state machine moved to ca_state (TCP_CA_*)",
)
TCP_RETRANSMIT_SKB = declare(
    "tcp:tcp_retransmit_skb",
    ("now", "sk", "seq", "len"),
    "a data segment starting at seq (len payload bytes) was sent again",
)
