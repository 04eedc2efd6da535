"""CUBIC (``net/ipv4/tcp_cubic.c`` v2.3, RFC 9438) with HyStart, in the kernel's fixed point.

W(t) = C·(t−K)³ + W_max with C = 0.4 (``cube_rtt_scale`` 410), β = 717/1024,
K = ∛(W_max·(1−β)/C); time in 1/1024 s, jiffies at HZ = 1000.

>>> cubic_root(1000), cubic_root(12345)
(10, 23)
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mypy_extensions import mypyc_attr

from qdisclab.tcp.congestion import (
    CA_EVENT_TX_START,
    AckSample,
    CongestionOps,
    TCP_CA_Loss,
    register_cc,
    tcp_cong_avoid_ai,
    tcp_reno_undo_cwnd,
    tcp_slow_start,
)

if TYPE_CHECKING:
    from qdisclab.tcp.sock_base import TcpSockBase

HZ = 1000
BICTCP_BETA_SCALE = 1024
BICTCP_HZ = 10
BETA = 717
BIC_SCALE = 41
FAST_CONVERGENCE = 1
TCP_FRIENDLINESS = 1
HYSTART = 1
HYSTART_ACK_TRAIN = 0x1
HYSTART_DELAY = 0x2
HYSTART_DETECT = HYSTART_ACK_TRAIN | HYSTART_DELAY
HYSTART_LOW_WINDOW = 16
HYSTART_ACK_DELTA_US = 2000
HYSTART_MIN_SAMPLES = 8
HYSTART_DELAY_MIN = 4000
HYSTART_DELAY_MAX = 16000
GSO_MAX_SIZE = 65536

BETA_SCALE = 8 * (BICTCP_BETA_SCALE + BETA) // 3 // (BICTCP_BETA_SCALE - BETA)  # 15
CUBE_RTT_SCALE = BIC_SCALE * 10  # 410
CUBE_FACTOR = (1 << (10 + 3 * BICTCP_HZ)) // CUBE_RTT_SCALE  # 2^40 / 410

_V = bytes((
    0, 54, 54, 54, 118, 118, 118, 118, 123, 129, 134, 138, 143, 147, 151, 156,
    157, 161, 164, 168, 170, 173, 176, 179, 181, 185, 187, 190, 192, 194, 197, 199,
    200, 202, 204, 206, 209, 211, 213, 215, 217, 219, 221, 222, 224, 225, 227, 229,
    231, 232, 234, 236, 237, 239, 240, 242, 244, 245, 246, 248, 250, 251, 252, 254,
))  # fmt: skip


def cubic_root(a: int) -> int:
    """The kernel's table + one Newton step integer cube root (~0.2 % error)."""
    b = a.bit_length()  # fls64
    if b < 7:
        return (_V[a] + 35) >> 6
    b = ((b * 84) >> 8) - 1
    shift = a >> (b * 3)
    x = ((_V[shift] + 10) << b) >> 6
    x = 2 * x + a // (x * (x - 1))
    return (x * 341) >> 10


# Users tune a built-in by subclassing it, compiled or not.
@mypyc_attr(allow_interpreted_subclasses=True)
class Cubic(CongestionOps):
    """CUBIC as Linux's default; state is ``struct bictcp``."""

    name = "cubic"

    # struct bictcp, set by init() (_reset and _hystart_reset)
    cnt: int
    last_max_cwnd: int
    last_cwnd: int
    last_time: int
    bic_origin_point: int
    bic_K: int
    delay_min: int
    epoch_start: int
    ack_cnt: int
    tcp_cwnd: int
    found: int
    round_start: int
    last_ack: int
    end_seq: int
    curr_rtt: int
    sample_cnt: int

    def _reset(self) -> None:
        self.cnt = 0
        self.last_max_cwnd = 0
        self.last_cwnd = 0
        self.last_time = 0
        self.bic_origin_point = 0
        self.bic_K = 0
        self.delay_min = 0
        self.epoch_start = 0
        self.ack_cnt = 0
        self.tcp_cwnd = 0
        self.found = 0

    def _hystart_reset(self, sk: TcpSockBase) -> None:
        self.round_start = self.last_ack = sk.tcp_mstamp
        self.end_seq = sk.snd_nxt
        self.curr_rtt = 0xFFFFFFFF
        self.sample_cnt = 0

    def init(self, sk: TcpSockBase) -> None:
        self._reset()
        if HYSTART:
            self._hystart_reset(sk)

    def cwnd_event(self, sk: TcpSockBase, ev: int) -> None:
        if ev == CA_EVENT_TX_START:
            now = sk.tcp_mstamp // 1000
            delta = now - sk.lsndtime // 1000
            if self.epoch_start and delta > 0:
                self.epoch_start += delta
                if self.epoch_start > now:
                    self.epoch_start = now

    def _update(self, cwnd: int, now: int, acked: int) -> None:
        """``bictcp_update`` past its early exit (taken in ``cong_avoid``): a new ``cnt``."""
        if not (self.epoch_start and now == self.last_time):
            self.last_cwnd = cwnd
            self.last_time = now
            if self.epoch_start <= 0:
                self.epoch_start = now or 1
                self.ack_cnt = acked
                self.tcp_cwnd = cwnd
                if self.last_max_cwnd <= cwnd:
                    self.bic_K = 0
                    self.bic_origin_point = cwnd
                else:
                    self.bic_K = cubic_root(CUBE_FACTOR * (self.last_max_cwnd - cwnd))
                    self.bic_origin_point = self.last_max_cwnd
            t = now - self.epoch_start + (self.delay_min * HZ) // 1_000_000
            t = (t << BICTCP_HZ) // HZ
            offs = t - self.bic_K if t >= self.bic_K else self.bic_K - t
            delta = (CUBE_RTT_SCALE * offs * offs * offs) >> (10 + 3 * BICTCP_HZ)
            target = (
                self.bic_origin_point - delta if t < self.bic_K else self.bic_origin_point + delta
            )
            if target > cwnd:
                self.cnt = cwnd // (target - cwnd)
            else:
                self.cnt = 100 * cwnd
            if self.last_max_cwnd == 0 and self.cnt > 20:
                self.cnt = 20
        if TCP_FRIENDLINESS:
            delta = (cwnd * BETA_SCALE) >> 3
            if delta:
                n = self.ack_cnt // delta if self.ack_cnt > delta else 0
                if n:
                    self.ack_cnt -= n * delta
                    self.tcp_cwnd += n
            if self.tcp_cwnd > cwnd:
                max_cnt = cwnd // (self.tcp_cwnd - cwnd)
                if self.cnt > max_cnt:
                    self.cnt = max_cnt
        if self.cnt < 2:
            self.cnt = 2

    def cong_avoid(self, sk: TcpSockBase, ack: int, acked: int) -> None:
        # Runs on every ACK: tcp_is_cwnd_limited and bictcp_update's early exit are
        # tested here, so most ACKs make no further call than the additive increase.
        cwnd = sk.snd_cwnd
        if not sk.is_cwnd_limited and not (
            cwnd < sk.snd_ssthresh and cwnd < 2 * sk.max_packets_out
        ):
            return
        if cwnd < sk.snd_ssthresh:
            acked = tcp_slow_start(sk, acked)
            if not acked:
                return
            cwnd = sk.snd_cwnd
        self.ack_cnt += acked
        now = sk.tcp_mstamp // 1000  # jiffies at HZ=1000
        if self.last_cwnd != cwnd or now - self.last_time > HZ // 32:
            self._update(cwnd, now, acked)
        tcp_cong_avoid_ai(sk, self.cnt, acked)

    def ssthresh(self, sk: TcpSockBase) -> int:
        self.epoch_start = 0
        cwnd = sk.snd_cwnd
        if cwnd < self.last_max_cwnd and FAST_CONVERGENCE:
            self.last_max_cwnd = (cwnd * (BICTCP_BETA_SCALE + BETA)) // (2 * BICTCP_BETA_SCALE)
        else:
            self.last_max_cwnd = cwnd
        return max((cwnd * BETA) // BICTCP_BETA_SCALE, 2)

    def set_state(self, sk: TcpSockBase, new_state: int) -> None:
        if new_state == TCP_CA_Loss:
            self._reset()
            self._hystart_reset(sk)

    def undo_cwnd(self, sk: TcpSockBase) -> int:
        return tcp_reno_undo_cwnd(sk)

    def _hystart_update(self, sk: TcpSockBase, delay: int) -> None:
        if sk.snd_una > self.end_seq:
            self._hystart_reset(sk)
        if HYSTART_DETECT & HYSTART_ACK_TRAIN:
            now = sk.tcp_mstamp
            if now - self.last_ack <= HYSTART_ACK_DELTA_US:
                self.last_ack = now
                rate = sk.sk_pacing_rate
                ack_delay = min(1000, GSO_MAX_SIZE * 4 * 1_000_000 // rate) if rate else 0
                threshold = self.delay_min + ack_delay
                if not sk.pacing_in_use:
                    threshold >>= 1
                if now - self.round_start > threshold:
                    self.found = 1
                    sk.snd_ssthresh = sk.snd_cwnd
        if HYSTART_DETECT & HYSTART_DELAY:
            if delay < self.curr_rtt:
                self.curr_rtt = delay
            if self.sample_cnt < HYSTART_MIN_SAMPLES:
                self.sample_cnt += 1
            else:
                thresh = min(max(self.delay_min >> 3, HYSTART_DELAY_MIN), HYSTART_DELAY_MAX)
                if self.curr_rtt > self.delay_min + thresh:
                    self.found = 1
                    sk.snd_ssthresh = sk.snd_cwnd

    def pkts_acked(self, sk: TcpSockBase, sample: AckSample) -> None:
        rtt = sample.rtt_us
        if rtt < 0:
            return
        if self.epoch_start and sk.tcp_mstamp // 1000 - self.epoch_start < HZ:
            return
        delay = rtt if rtt > 0 else 1
        if self.delay_min == 0 or self.delay_min > delay:
            self.delay_min = delay
        if (
            not self.found
            and HYSTART
            and sk.snd_cwnd < sk.snd_ssthresh
            and sk.snd_cwnd >= HYSTART_LOW_WINDOW
        ):
            self._hystart_update(sk, delay)


# Registered after the definition, not as a decorator: a decorated class cannot be compiled.
register_cc(Cubic)
