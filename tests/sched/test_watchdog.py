"""The qdisc watchdog: absolute time plus slack, no re-arm inside the window, no-op when down."""

from __future__ import annotations

from qdisclab.ops import SkbList
from qdisclab.sched import NET_XMIT_SUCCESS, QdiscOps


class Delay(QdiscOps):
    """Holds every packet until a fixed release time, then releases it (non-work-conserving)."""

    id = "t_delay"

    def init(self, sch, opt):
        self.q = SkbList()
        self.release_at = 5_000_000

    def enqueue(self, skb, sch, to_free):
        self.q.push_back(skb)
        return NET_XMIT_SUCCESS

    def dequeue(self, sch):
        if sch.now < self.release_at:
            sch.watchdog_schedule(self.release_at, 10_000)
            return None
        return self.q.pop_front()

    def reset(self, sch):
        while (skb := self.q.pop_front()) is not None:
            sch.kfree_skb(skb)

    def destroy(self, sch):
        pass


def test_watchdog_wakes_the_device_at_the_requested_time(qbench):
    q = qbench.graft(Delay)
    qbench.dev.xmit(qbench.skb())
    assert q.watchdog.pending and q.watchdog.expires == 5_000_000
    qbench.world.run(4_999_999)
    assert q.qlen == 1
    qbench.world.run(5_000_000)
    assert q.qlen == 0 and q.watchdog.fired == 1


def test_no_rearm_when_the_queued_timer_is_inside_the_window(qbench):
    q = qbench.graft(Delay)
    q.watchdog.schedule(1_000_000, 500_000)
    q.watchdog.schedule(800_000, 300_000)  # queued 1.0 ms lies in [0.8, 1.1] ms: kept
    assert q.watchdog.expires == 1_000_000
    q.watchdog.schedule(200_000, 100_000)  # outside: re-armed
    assert q.watchdog.expires == 200_000


def test_watchdog_is_a_noop_while_the_device_is_down(qbench):
    q = qbench.graft(Delay)
    qbench.dev.set_down()
    q.watchdog.schedule(1_000_000)
    assert not q.watchdog.pending


def test_a_down_device_keeps_its_watchdog_as_it_was(qbench):
    q = qbench.graft(Delay)
    q.watchdog.schedule(1_000_000)
    qbench.dev.set_down()
    before = q.watchdog.expires
    q.watchdog.schedule(200_000)  # earlier: an active device would re-arm to it
    q.watchdog.schedule(1_000_000, 500_000)  # inside the window of what is queued, if anything
    assert q.watchdog.expires == before and q.watchdog.last_expires == 1_000_000
