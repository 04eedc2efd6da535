"""Run our tc-testing-style cases through ``run_batch_json`` (set-up, command, verify, teardown)."""

from __future__ import annotations

import re

import pytest
from tests.tc.kernel_cases import CASES

from qdisclab.net.tc import run_batch_json

TEARDOWN = ["qdisc del dev d0 root || /bin/true", "ip link del dev d0"]


@pytest.mark.parametrize("case", CASES, ids=[f"{c[0]}: {c[1]}" for c in CASES])
def test_kernel_case(case):
    _kind, _what, setup, command, code, verify, pattern, count = case
    rows = list(run_batch_json([*setup, command, verify, *TEARDOWN]))
    for row in rows[: len(setup)]:
        assert row["exit"] == 0, row
    under_test, shown = rows[len(setup)], rows[len(setup) + 1]
    assert under_test["exit"] == code, under_test
    assert len(re.findall(pattern, shown["stdout"], re.MULTILINE)) == count, shown["stdout"]
    assert rows[-1]["exit"] == 0  # the device is gone: nothing leaked past teardown


def test_every_kind_is_covered():
    kinds = {c[0] for c in CASES}
    assert kinds == {"fifo", "pfifo_fast", "prio", "tbf", "netem", "red", "codel", "fq_codel",
                     "fq", "htb", "ingress"}  # fmt: skip
