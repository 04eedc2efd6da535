"""What ``tc qdisc show`` and ``tc -s`` print for fq (iproute2 6.1's q_fq.c), as a mixin of its ops."""

from __future__ import annotations

from collections.abc import Callable, Sized
from typing import Any

from qdisclab.sched.tcutil import sprint_rate, sprint_size, sprint_time, sprint_time64

_NEVER = (1 << 64) - 1  # ~0ULL: no delayed flow


class FqTcReport:
    """``fq_print_opt`` and ``fq_print_xstats`` over fq's options and counters."""

    # fq's state the statistics read (set by its init)
    table: Sized
    delayed: Sized
    inactive_flows: int
    throttled_flows: int
    time_next_delayed_flow: int
    now: Callable[[], int]
    stat_gc_flows: int
    stat_internal_packets: int
    stat_throttled: int
    stat_flows_plimit: int
    stat_pkts_too_long: int
    stat_horizon_drops: int
    stat_horizon_caps: int
    stat_ce_mark: int
    unthrottle_latency_ns: int

    @classmethod
    def render_options(cls, opt: dict[str, Any]) -> str:
        """``fq_print_opt`` (iproute2 6.1): every attribute the kernel dumps, in its order."""
        if "quantum" not in opt:
            return ""
        text = f"limit {opt['limit']}p flow_limit {opt['flow_limit']}p "
        text += f"buckets {opt['buckets']} orphan_mask {opt['orphan_mask']} "
        text += "" if opt["pacing"] else "nopacing "
        text += f"quantum {sprint_size(opt['quantum'])} "
        text += f"initial_quantum {sprint_size(opt['initial_quantum'])} "
        if opt.get("maxrate"):
            text += f"maxrate {sprint_rate(opt['maxrate'] // 8)} "
        text += f"low_rate_threshold {sprint_rate(opt['low_rate_threshold'] // 8)} "
        text += f"refill_delay {sprint_time(opt['refill_delay'] // 1000)} "
        if opt.get("ce_threshold") is not None:
            text += f"ce_threshold {sprint_time(opt['ce_threshold'] // 1000)} "
        text += f"timer_slack {sprint_time64(opt['timer_slack'])} "
        text += f"horizon {sprint_time(opt['horizon'] // 1000)} "
        return text + ("horizon_drop " if opt["horizon_drop"] else "horizon_cap ")

    def tc_xstats(self) -> str:
        """``fq_print_xstats``."""
        text = (
            f"  flows {len(self.table)} (inactive {self.inactive_flows} "
            f"throttled {self.throttled_flows})"
        )
        if self.delayed and self.time_next_delayed_flow != _NEVER:
            text += f" next_packet_delay {sprint_time64(max(self.time_next_delayed_flow - self.now(), 0))}"
        text += f"\n  gc {self.stat_gc_flows} highprio {self.stat_internal_packets}"
        text += f" throttled {self.stat_throttled}"
        if self.unthrottle_latency_ns:
            text += f" latency {sprint_time64(self.unthrottle_latency_ns)}"
        for name, value in (("ce_mark", self.stat_ce_mark), ("horizon_drops", self.stat_horizon_drops),
                            ("horizon_caps", self.stat_horizon_caps),
                            ("flows_plimit", self.stat_flows_plimit)):  # fmt: skip
            if value:
                text += f" {name} {value}"
        if self.stat_pkts_too_long:
            text += f"\n  pkts_too_long {self.stat_pkts_too_long} alloc_errors 0"
        return text
