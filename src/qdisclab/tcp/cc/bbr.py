"""BBR v1 (net/ipv4/tcp_bbr.c) as a ``cong_control`` congestion control.

Model: bottleneck bw = windowed max of delivery rate over 10 rounds, min_rtt =
windowed min over 10 s; pacing_rate = pacing_gain * bw (minus a 1 % margin),
cwnd = cwnd_gain * BDP + quantization budget (+ ack-aggregation allowance).
States STARTUP -> DRAIN -> PROBE_BW (8-phase gain cycle) <-> PROBE_RTT.

Kernel fixed point is kept: bw in packets/us << 24 (``BW_SCALE``), gains in
1/256 (``BBR_UNIT``); STARTUP uses ``bbr_high_gain`` (2/ln2 = 739/256) for both
pacing and cwnd, as the kernel does (the IETF draft's startup cwnd gain 2 is
not what Linux runs); PROBE_BW cwnd gain is 2. Timestamps for the min_rtt and
PROBE_RTT windows use ``sk.tcp_mstamp`` (us) instead of jiffies. Not modelled:
long-term bandwidth (policer) sampling ``lt_*``.

The PROBE_BW start phase is random, as ``get_random_u32_below`` in the kernel:
drawn with the ``bpf_get_prandom_u32`` kfunc from the socket's stream of the
run seed (or from ``self.rng`` when one is given, as tests do).

>>> BBR_HIGH_GAIN, BBR_DRAIN_GAIN, BBR_PACING_GAIN
(739, 88, (320, 192, 256, 256, 256, 256, 256, 256))
"""

from __future__ import annotations

import random
from typing import TYPE_CHECKING

from mypy_extensions import mypyc_attr

from qdisclab.tcp.congestion import (
    CA_EVENT_TX_START,
    TCP_INFINITE_SSTHRESH,
    CongestionOps,
    RateSample,
    TCP_CA_Loss,
    TCP_CA_Open,
    TCP_CA_Recovery,
    bpf_get_prandom_u32,
    register_cc,
    tcp_packets_in_flight,
)

if TYPE_CHECKING:
    from qdisclab.tcp.sock_base import TcpSockBase

BW_SCALE = 24
BW_UNIT = 1 << BW_SCALE
BBR_SCALE = 8
BBR_UNIT = 1 << BBR_SCALE
CYCLE_LEN = 8
BBR_STARTUP, BBR_DRAIN, BBR_PROBE_BW, BBR_PROBE_RTT = range(4)

BBR_HIGH_GAIN = BBR_UNIT * 2885 // 1000 + 1
BBR_DRAIN_GAIN = BBR_UNIT * 1000 // 2885
BBR_CWND_GAIN = BBR_UNIT * 2
BBR_PACING_GAIN = (BBR_UNIT * 5 // 4, BBR_UNIT * 3 // 4) + (BBR_UNIT,) * 6
BBR_CYCLE_RAND = 7
BBR_CWND_MIN_TARGET = 4
BBR_FULL_BW_THRESH = BBR_UNIT * 5 // 4
BBR_FULL_BW_CNT = 3
BBR_BW_RTTS = CYCLE_LEN + 2
BBR_MIN_RTT_WIN_US = 10 * 1_000_000
BBR_PROBE_RTT_MODE_US = 200 * 1000
BBR_MIN_TSO_RATE = 1_200_000
BBR_PACING_MARGIN_PERCENT = 1
BBR_EXTRA_ACKED_GAIN = BBR_UNIT
BBR_EXTRA_ACKED_WIN_RTTS = 5
BBR_ACK_EPOCH_ACKED_RESET_THRESH = 1 << 20
BBR_EXTRA_ACKED_MAX_US = 100 * 1000
TCP_INIT_CWND = 10
GSO_LEGACY_MAX_SIZE = 65536
MAX_TCP_HEADER = 320
U32 = 0xFFFFFFFF


def _after(a: int, b: int) -> bool:
    """``after()`` for u32 sequence-like counters."""
    return 0 < ((a - b) & U32) < 0x80000000


class MinMax:
    """lib/win_minmax.c running max over a window: three (t, v) samples."""

    __slots__ = ("s",)

    def __init__(self) -> None:
        self.s = [[0, 0], [0, 0], [0, 0]]

    def get(self) -> int:
        return self.s[0][1]

    def reset(self, t: int, v: int) -> int:
        self.s = [[t, v], [t, v], [t, v]]
        return v

    def running_max(self, win: int, t: int, v: int) -> int:
        s = self.s
        if v >= s[0][1] or t - s[2][0] > win:
            return self.reset(t, v)
        if v >= s[1][1]:
            s[2] = [t, v]
            s[1] = [t, v]
        elif v >= s[2][1]:
            s[2] = [t, v]
        dt = t - s[0][0]
        if dt > win:
            s[0], s[1], s[2] = s[1], s[2], [t, v]
            if t - s[0][0] > win:
                s[0], s[1], s[2] = s[1], s[2], [t, v]
        elif s[1][0] == s[0][0] and dt > win // 4:
            s[2] = [t, v]
            s[1] = [t, v]
        elif s[2][0] == s[1][0] and dt > win // 2:
            s[2] = [t, v]
        return s[0][1]


# Users tune a built-in by subclassing it, compiled or not.
@mypyc_attr(allow_interpreted_subclasses=True)
class Bbr(CongestionOps):
    """BBR v1; ``mode``, ``pacing_gain``, ``cwnd_gain``, ``max_bw()``, ``min_rtt_us`` are public."""

    name = "bbr"

    # struct bbr: every field is set by init() (the socket's tcp_init_transfer)
    prior_cwnd: int
    rtt_cnt: int
    next_rtt_delivered: int
    prev_ca_state: int
    packet_conservation: bool
    probe_rtt_done_stamp: int
    probe_rtt_round_done: bool
    min_rtt_us: int
    min_rtt_stamp: int
    has_seen_rtt: bool
    full_bw_reached: bool
    pacing_gain: int
    cwnd_gain: int
    round_start: bool
    idle_restart: bool
    full_bw: int
    full_bw_cnt: int
    cycle_mstamp: int
    cycle_idx: int
    ack_epoch_mstamp: int
    ack_epoch_acked: int
    extra_acked_win_rtts: int
    extra_acked_win_idx: int

    def __init__(self, rng: random.Random | None = None) -> None:
        self.rng = rng
        self.bw = MinMax()
        self.mode = BBR_STARTUP
        self.extra_acked = [0, 0]

    # -- helpers -------------------------------------------------------------------
    def max_bw(self) -> int:
        return self.bw.get()

    def bbr_bw(self) -> int:
        return self.bw.get()  # no lt_bw: always the max filter

    def _mtu(self, sk: TcpSockBase) -> int:
        # tcp_mss_to_mtu: payload + TCP header (with options) + IP header
        return sk.mss_cache + sk.tcp_header_len + 20

    def rate_bytes_per_sec(self, sk: TcpSockBase, rate: int, gain: int) -> int:
        rate *= self._mtu(sk)
        rate *= gain
        rate >>= BBR_SCALE
        rate *= 1_000_000 // 100 * (100 - BBR_PACING_MARGIN_PERCENT)
        return rate >> BW_SCALE

    def bw_to_pacing_rate(self, sk: TcpSockBase, bw: int, gain: int) -> int:
        return min(self.rate_bytes_per_sec(sk, bw, gain), sk.sk_max_pacing_rate)

    def _init_pacing_rate_from_rtt(self, sk: TcpSockBase) -> None:
        if sk.srtt_us:
            rtt_us = max(sk.srtt_us >> 3, 1)
            self.has_seen_rtt = True
        else:
            rtt_us = 1000
        bw = sk.snd_cwnd * BW_UNIT // rtt_us
        sk.sk_pacing_rate = self.bw_to_pacing_rate(sk, bw, BBR_HIGH_GAIN)

    def _set_pacing_rate(self, sk: TcpSockBase, bw: int, gain: int) -> None:
        rate = self.bw_to_pacing_rate(sk, bw, gain)
        if not self.has_seen_rtt and sk.srtt_us:
            self._init_pacing_rate_from_rtt(sk)
        if self.full_bw_reached or rate > sk.sk_pacing_rate:
            sk.sk_pacing_rate = rate

    def min_tso_segs(self, sk: TcpSockBase) -> int:
        return 1 if sk.sk_pacing_rate < (BBR_MIN_TSO_RATE >> 3) else 2

    def _tso_segs_goal(self, sk: TcpSockBase) -> int:
        nbytes = min(
            sk.sk_pacing_rate >> sk.sk_pacing_shift, GSO_LEGACY_MAX_SIZE - 1 - MAX_TCP_HEADER
        )
        segs = max(nbytes // sk.mss_cache, self.min_tso_segs(sk))
        return min(segs, 0x7F)

    def _save_cwnd(self, sk: TcpSockBase) -> None:
        if self.prev_ca_state < TCP_CA_Recovery and self.mode != BBR_PROBE_RTT:
            self.prior_cwnd = sk.snd_cwnd
        else:
            self.prior_cwnd = max(self.prior_cwnd, sk.snd_cwnd)

    def bdp(self, bw: int, gain: int) -> int:
        if self.min_rtt_us == U32:
            return TCP_INIT_CWND
        w = bw * self.min_rtt_us
        return (((w * gain) >> BBR_SCALE) + BW_UNIT - 1) // BW_UNIT

    def _quantization_budget(self, sk: TcpSockBase, cwnd: int) -> int:
        cwnd += 3 * self._tso_segs_goal(sk)
        cwnd = (cwnd + 1) & ~1
        if self.mode == BBR_PROBE_BW and self.cycle_idx == 0:
            cwnd += 2
        return cwnd

    def inflight(self, sk: TcpSockBase, bw: int, gain: int) -> int:
        return self._quantization_budget(sk, self.bdp(bw, gain))

    def _packets_in_net_at_edt(self, sk: TcpSockBase, inflight_now: int) -> int:
        # EDT: packets the pacer already released ahead of now still count
        now_ns = sk.tcp_mstamp * 1000
        edt_ns = max(sk.tcp_wstamp_ns, now_ns)
        interval_us = (edt_ns - now_ns) // 1000
        interval_delivered = (self.bbr_bw() * interval_us) >> BW_SCALE
        at_edt = inflight_now
        if self.pacing_gain > BBR_UNIT:
            at_edt += self._tso_segs_goal(sk)
        if interval_delivered >= at_edt:
            return 0
        return at_edt - interval_delivered

    def extra_acked_max(self) -> int:
        return max(self.extra_acked)

    def _ack_aggregation_cwnd(self) -> int:
        if not (BBR_EXTRA_ACKED_GAIN and self.full_bw_reached):
            return 0
        max_aggr = self.bbr_bw() * BBR_EXTRA_ACKED_MAX_US // BW_UNIT
        aggr = (BBR_EXTRA_ACKED_GAIN * self.extra_acked_max()) >> BBR_SCALE
        return min(aggr, max_aggr)

    # -- tcp_congestion_ops ------------------------------------------------------------
    def init(self, sk: TcpSockBase) -> None:
        self.prior_cwnd = 0
        sk.snd_ssthresh = TCP_INFINITE_SSTHRESH
        self.rtt_cnt = 0
        self.next_rtt_delivered = sk.delivered
        self.prev_ca_state = TCP_CA_Open
        self.packet_conservation = False
        self.probe_rtt_done_stamp = 0
        self.probe_rtt_round_done = False
        self.min_rtt_us = sk.min_rtt_us if sk.min_rtt_us else U32
        self.min_rtt_stamp = sk.tcp_mstamp
        self.bw.reset(self.rtt_cnt, 0)
        self.has_seen_rtt = False
        self.full_bw_reached = False
        self.pacing_gain = BBR_HIGH_GAIN
        self.cwnd_gain = BBR_HIGH_GAIN
        self._init_pacing_rate_from_rtt(sk)
        self.round_start = False
        # cmpxchg(sk_pacing_status, SK_PACING_NONE, SK_PACING_NEEDED): BBR needs pacing;
        # without fq the TCP sender paces itself (tcp_internal_pacing).
        if hasattr(sk, "pacing_in_use"):
            sk.pacing_in_use = True
        self.idle_restart = False
        self.full_bw = 0
        self.full_bw_cnt = 0
        self.cycle_mstamp = 0
        self.cycle_idx = 0
        self.mode = BBR_STARTUP
        self.ack_epoch_mstamp = sk.tcp_mstamp
        self.ack_epoch_acked = 0
        self.extra_acked_win_rtts = 0
        self.extra_acked_win_idx = 0
        self.extra_acked = [0, 0]

    def cong_control(self, sk: TcpSockBase, ack: int, flag: int, rs: RateSample) -> None:
        self._update_model(sk, rs)
        bw = self.bbr_bw()
        self._set_pacing_rate(sk, bw, self.pacing_gain)
        self._set_cwnd(sk, rs, rs.acked_sacked, bw, self.cwnd_gain)

    def ssthresh(self, sk: TcpSockBase) -> int:
        self._save_cwnd(sk)
        return sk.snd_ssthresh

    def undo_cwnd(self, sk: TcpSockBase) -> int:
        self.full_bw = 0  # spurious loss: re-check whether the pipe is full
        self.full_bw_cnt = 0
        return sk.snd_cwnd

    def sndbuf_expand(self, sk: TcpSockBase) -> int:
        return 3  # more skbs in flight per cwnd than Reno: headroom for the pacer

    def set_state(self, sk: TcpSockBase, new_state: int) -> None:
        if new_state == TCP_CA_Loss:
            self.prev_ca_state = TCP_CA_Loss
            self.full_bw = 0
            self.round_start = True

    def cwnd_event(self, sk: TcpSockBase, ev: int) -> None:
        if ev == CA_EVENT_TX_START and sk.app_limited:
            self.idle_restart = True
            self.ack_epoch_mstamp = sk.tcp_mstamp
            self.ack_epoch_acked = 0
            if self.mode == BBR_PROBE_BW:
                self._set_pacing_rate(sk, self.bbr_bw(), BBR_UNIT)
            elif self.mode == BBR_PROBE_RTT:
                self._check_probe_rtt_done(sk)

    # -- the model -------------------------------------------------------------------
    def _update_model(self, sk: TcpSockBase, rs: RateSample) -> None:
        self._update_bw(sk, rs)
        self._update_ack_aggregation(sk, rs)
        if self.mode == BBR_PROBE_BW and self._is_next_cycle_phase(sk, rs):
            self._advance_cycle_phase(sk)
        self._check_full_bw_reached(rs)
        self._check_drain(sk)
        self._update_min_rtt(sk, rs)
        self._update_gains()

    def _update_bw(self, sk: TcpSockBase, rs: RateSample) -> None:
        self.round_start = False
        if rs.delivered < 0 or rs.interval_us <= 0:
            return
        if not _after(self.next_rtt_delivered, rs.prior_delivered):
            self.next_rtt_delivered = sk.delivered
            self.rtt_cnt += 1
            self.round_start = True
            self.packet_conservation = False
        bw = rs.delivered * BW_UNIT // rs.interval_us
        if not rs.is_app_limited or bw >= self.max_bw():
            self.bw.running_max(BBR_BW_RTTS, self.rtt_cnt, bw)

    def _update_ack_aggregation(self, sk: TcpSockBase, rs: RateSample) -> None:
        if rs.acked_sacked <= 0 or rs.delivered < 0 or rs.interval_us <= 0:
            return
        if self.round_start:
            self.extra_acked_win_rtts = min(0x1F, self.extra_acked_win_rtts + 1)
            if self.extra_acked_win_rtts >= BBR_EXTRA_ACKED_WIN_RTTS:
                self.extra_acked_win_rtts = 0
                self.extra_acked_win_idx ^= 1
                self.extra_acked[self.extra_acked_win_idx] = 0
        elapsed = sk.delivered_mstamp - self.ack_epoch_mstamp
        expected = self.bbr_bw() * elapsed // BW_UNIT
        if (
            self.ack_epoch_acked <= expected
            or self.ack_epoch_acked + rs.acked_sacked >= BBR_ACK_EPOCH_ACKED_RESET_THRESH
        ):
            self.ack_epoch_acked = 0
            self.ack_epoch_mstamp = sk.delivered_mstamp
            expected = 0
        self.ack_epoch_acked = min(0xFFFFF, self.ack_epoch_acked + rs.acked_sacked)
        extra = min(self.ack_epoch_acked - expected, sk.snd_cwnd)
        if extra > self.extra_acked[self.extra_acked_win_idx]:
            self.extra_acked[self.extra_acked_win_idx] = extra

    def _is_next_cycle_phase(self, sk: TcpSockBase, rs: RateSample) -> bool:
        is_full_length = sk.delivered_mstamp - self.cycle_mstamp > self.min_rtt_us
        if self.pacing_gain == BBR_UNIT:
            return is_full_length
        inflight = self._packets_in_net_at_edt(sk, rs.prior_in_flight)
        bw = self.max_bw()
        if self.pacing_gain > BBR_UNIT:
            return is_full_length and bool(
                rs.losses or inflight >= self.inflight(sk, bw, self.pacing_gain)
            )
        return is_full_length or inflight <= self.inflight(sk, bw, BBR_UNIT)

    def _advance_cycle_phase(self, sk: TcpSockBase) -> None:
        self.cycle_idx = (self.cycle_idx + 1) & (CYCLE_LEN - 1)
        self.cycle_mstamp = sk.delivered_mstamp

    def _reset_probe_bw_mode(self, sk: TcpSockBase) -> None:
        self.mode = BBR_PROBE_BW
        # random start phase, never the 0.75 drain phase right after a 1.25 probe
        rand = (
            self.rng.randrange(BBR_CYCLE_RAND)
            if self.rng is not None
            else (bpf_get_prandom_u32(sk) % BBR_CYCLE_RAND)
        )
        self.cycle_idx = CYCLE_LEN - 1 - rand
        self._advance_cycle_phase(sk)

    def _reset_mode(self, sk: TcpSockBase) -> None:
        if not self.full_bw_reached:
            self.mode = BBR_STARTUP
        else:
            self._reset_probe_bw_mode(sk)

    def _check_full_bw_reached(self, rs: RateSample) -> None:
        if self.full_bw_reached or not self.round_start or rs.is_app_limited:
            return
        if self.max_bw() >= (self.full_bw * BBR_FULL_BW_THRESH) >> BBR_SCALE:
            self.full_bw = self.max_bw()
            self.full_bw_cnt = 0
            return
        self.full_bw_cnt += 1
        self.full_bw_reached = self.full_bw_cnt >= BBR_FULL_BW_CNT

    def _check_drain(self, sk: TcpSockBase) -> None:
        if self.mode == BBR_STARTUP and self.full_bw_reached:
            self.mode = BBR_DRAIN
            sk.snd_ssthresh = self.inflight(sk, self.max_bw(), BBR_UNIT)
        if self.mode == BBR_DRAIN and self._packets_in_net_at_edt(
            sk, tcp_packets_in_flight(sk)
        ) <= self.inflight(sk, self.max_bw(), BBR_UNIT):
            self._reset_probe_bw_mode(sk)

    def _check_probe_rtt_done(self, sk: TcpSockBase) -> None:
        if not (self.probe_rtt_done_stamp and sk.tcp_mstamp > self.probe_rtt_done_stamp):
            return
        self.min_rtt_stamp = sk.tcp_mstamp  # wait a while until PROBE_RTT again
        sk.snd_cwnd = max(sk.snd_cwnd, self.prior_cwnd)
        self._reset_mode(sk)

    def _update_min_rtt(self, sk: TcpSockBase, rs: RateSample) -> None:
        now = sk.tcp_mstamp
        expired = now > self.min_rtt_stamp + BBR_MIN_RTT_WIN_US
        if rs.rtt_us >= 0 and (rs.rtt_us < self.min_rtt_us or (expired and not rs.is_ack_delayed)):
            self.min_rtt_us = rs.rtt_us
            self.min_rtt_stamp = now
        if expired and not self.idle_restart and self.mode != BBR_PROBE_RTT:
            self.mode = BBR_PROBE_RTT
            self._save_cwnd(sk)
            self.probe_rtt_done_stamp = 0
        if self.mode == BBR_PROBE_RTT:
            # mark app-limited so the low-inflight samples do not cut the bw filter
            sk.app_limited = (sk.delivered + tcp_packets_in_flight(sk)) or 1
            if not self.probe_rtt_done_stamp and tcp_packets_in_flight(sk) <= BBR_CWND_MIN_TARGET:
                self.probe_rtt_done_stamp = now + BBR_PROBE_RTT_MODE_US
                self.probe_rtt_round_done = False
                self.next_rtt_delivered = sk.delivered
            elif self.probe_rtt_done_stamp:
                if self.round_start:
                    self.probe_rtt_round_done = True
                if self.probe_rtt_round_done:
                    self._check_probe_rtt_done(sk)
        if rs.delivered > 0:
            self.idle_restart = False

    def _update_gains(self) -> None:
        mode = self.mode
        if mode == BBR_STARTUP:
            self.pacing_gain = self.cwnd_gain = BBR_HIGH_GAIN
        elif mode == BBR_DRAIN:
            self.pacing_gain, self.cwnd_gain = BBR_DRAIN_GAIN, BBR_HIGH_GAIN
        elif mode == BBR_PROBE_BW:
            self.pacing_gain, self.cwnd_gain = BBR_PACING_GAIN[self.cycle_idx], BBR_CWND_GAIN
        else:
            self.pacing_gain = self.cwnd_gain = BBR_UNIT

    def _recover_or_restore(self, sk: TcpSockBase, rs: RateSample, acked: int) -> tuple[bool, int]:
        prev, state = self.prev_ca_state, sk.icsk_ca_state
        cwnd = sk.snd_cwnd
        if rs.losses > 0:
            cwnd = max(cwnd - rs.losses, 1)
        if state == TCP_CA_Recovery and prev != TCP_CA_Recovery:
            self.packet_conservation = True
            self.next_rtt_delivered = sk.delivered  # start a round now
            cwnd = tcp_packets_in_flight(sk) + acked
        elif prev >= TCP_CA_Recovery and state < TCP_CA_Recovery:
            cwnd = max(cwnd, self.prior_cwnd)
            self.packet_conservation = False
        self.prev_ca_state = state
        if self.packet_conservation:
            return True, max(cwnd, tcp_packets_in_flight(sk) + acked)
        return False, cwnd

    def _set_cwnd(self, sk: TcpSockBase, rs: RateSample, acked: int, bw: int, gain: int) -> None:
        cwnd = sk.snd_cwnd
        if acked:
            done, cwnd = self._recover_or_restore(sk, rs, acked)
            if not done:
                target = self.bdp(bw, gain)
                target += self._ack_aggregation_cwnd()
                target = self._quantization_budget(sk, target)
                if self.full_bw_reached:
                    cwnd = min(cwnd + acked, target)
                elif cwnd < target or sk.delivered < TCP_INIT_CWND:
                    cwnd = cwnd + acked
                cwnd = max(cwnd, BBR_CWND_MIN_TARGET)
        sk.snd_cwnd = min(cwnd, sk.snd_cwnd_clamp)
        if self.mode == BBR_PROBE_RTT:
            sk.snd_cwnd = min(sk.snd_cwnd, BBR_CWND_MIN_TARGET)


# Registered after the definition, not as a decorator: a decorated class cannot be compiled.
register_cc(Bbr)
