"""A packet's one-line description, which every extension diagnostic quotes."""

from qdisclab.skb import IPPROTO_UDP, SkBuff


def test_describe_names_the_flow_length_and_creation_time():
    skb = SkBuff(1500, 0x0A000001, 0x0A000002, 1000, 2000, IPPROTO_UDP, 42)
    assert skb.describe() == "skb 10.0.0.1:1000 -> 10.0.0.2:2000 proto 17 len 1500 created 42 ns"


def test_describe_is_the_same_for_the_same_packet_in_another_run():
    # Two equal packets stand for the same packet in two runs with one seed: a
    # diagnostic quoting it must read the same (a memory address would differ).
    first = SkBuff(60, 0x0A000001, 0x0A000002, 5, 6, IPPROTO_UDP, 7)
    again = SkBuff(60, 0x0A000001, 0x0A000002, 5, 6, IPPROTO_UDP, 7)
    assert first is not again and first.describe() == again.describe()
    assert repr(first) == repr(again)
