"""tc units: every form parses to the right integer; bad input says what was expected."""

from __future__ import annotations

import pytest

from qdisclab.units import (
    UnitError,
    format_rate,
    format_size,
    format_time,
    parse_rate,
    parse_size,
    parse_time,
)


@pytest.mark.parametrize(
    ("text", "bits"),
    [
        ("800", 800),
        ("800bit", 800),
        ("10kbit", 10_000),
        ("100mbit", 100_000_000),
        ("1gbit", 1_000_000_000),
        ("1.5Mbit", 1_500_000),
        ("1kibit", 1024),
        ("100bps", 800),  # tc: bps = BYTES per second
        ("10kbps", 80_000),
        ("1mbps", 8_000_000),
        ("1gbps", 8_000_000_000),
        (5000, 5000),
    ],
)
def test_rates(text, bits):
    assert parse_rate(text) == bits


@pytest.mark.parametrize(
    ("text", "nbytes"),
    [("1514", 1514), ("1514b", 1514), ("64kb", 65536), ("64k", 65536), ("1mb", 1048576),
     ("2m", 2097152), ("1gb", 1 << 30), ("8kbit", 1024), ("1mbit", 131072)],
)  # fmt: skip
def test_sizes(text, nbytes):
    assert parse_size(text) == nbytes


@pytest.mark.parametrize(
    ("text", "ns"),
    [("1s", 10**9), ("2sec", 2 * 10**9), ("10ms", 10**7), ("10msec", 10**7), ("250us", 250_000),
     ("250usec", 250_000), ("500ns", 500), ("10", 10_000), ("0.5ms", 500_000), ("1.5s", 1_500_000_000)],
)  # fmt: skip
def test_times(text, ns):
    assert parse_time(text) == ns


@pytest.mark.parametrize(
    ("parser", "text", "fragment"),
    [
        (parse_rate, "10 furlongs", "unknown unit 'furlongs'"),
        (parse_rate, "fast", "expected a number with a unit"),
        (parse_size, "10mbps", "unknown unit 'mbps'"),
        (parse_time, "5 fortnights", "unknown unit"),
        (parse_time, "", "expected a number"),
        (parse_rate, True, "expected a number"),
    ],
)
def test_bad_units_are_rejected_with_what_was_expected(parser, text, fragment):
    with pytest.raises(UnitError, match=fragment) as info:
        parser(text)
    assert "allowed" in str(info.value) or "e.g." in str(info.value)


def test_formatting_like_tc():
    assert format_rate(100_000_000) == "100Mbit"
    assert format_rate(64_000) == "64Kbit"
    assert format_size(1514) == "1514b"
    assert format_size(65536) == "64Kb"
    assert format_time(5_000_000) == "5ms"
    assert format_time(100_000) == "100us"


def test_a_repeated_value_parses_alike_and_a_bad_one_fails_every_time():
    from qdisclab import units

    assert parse_rate(1) == 1 and parse_time("10") == parse_time(10) == 10_000
    with pytest.raises(UnitError):
        parse_rate(True)  # equal to 1 as a key, and still not a rate
    assert parse_size(2.0) == 2 and parse_size(2) == 2
    for _ in range(2):
        with pytest.raises(UnitError, match="unknown unit"):
            parse_rate("10furlongs")
    for n in range(units._PARSED_MAX + 10):  # a long sweep keeps the table bounded
        assert parse_size(f"{n}b") == n
    assert len(units._PARSED) <= units._PARSED_MAX
