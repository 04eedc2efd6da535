"""The qdisc registry: the table of built-in kinds, and a run importing only the kinds it uses."""

from __future__ import annotations

import json
import pkgutil
import shlex
import subprocess
import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import qdisclab.sched.qdiscs as builtin_package
from qdisclab.errors import KernelError, UserError
from qdisclab.sched import QDISC_OPS, builtin_qdisc_kinds, lookup_qdisc, qdisc_kinds, register_qdisc
from qdisclab.sched.ops import BUILTIN_QDISCS
from qdisclab.sched.options import split_spec
from qdisclab.sched.qdiscs.pfifo import FifoBase


def test_the_table_names_every_builtin_module_and_the_kind_each_registers():
    modules = {m.name for m in pkgutil.iter_modules(builtin_package.__path__)}
    assert set(BUILTIN_QDISCS.values()) == {m for m in modules if not m.startswith("_")}
    assert builtin_qdisc_kinds() == sorted(BUILTIN_QDISCS)
    for kind, module in BUILTIN_QDISCS.items():
        assert lookup_qdisc(kind).__module__ == f"qdisclab.sched.qdiscs.{module}"


def test_a_user_kind_cannot_take_a_builtin_name_even_before_the_builtin_is_used():
    class Shadow(FifoBase):
        id = "pfifo"

    with pytest.raises(KernelError, match="'pfifo' is already registered"):
        register_qdisc(Shadow)
    assert QDISC_OPS.lookup("pfifo").__name__ == "Pfifo"


def test_an_unknown_kind_names_every_kind_there_is():
    with pytest.raises(UserError) as info:
        lookup_qdisc("nope")
    for kind in BUILTIN_QDISCS:
        assert kind in str(info.value)


_FRESH = """
import json, sys
from qdisclab.net import World
from qdisclab.sched import create_qdisc, qdisc_kinds
listed = qdisc_kinds()
world = World(seed=1)
dev = world.connect(world.add_host("A"), world.add_host("B"), "1gbit", "1ms").a
create_qdisc("pfifo limit 5", dev)
loaded = sorted(m.rsplit(".", 1)[1] for m in sys.modules if m.startswith("qdisclab.sched.qdiscs."))
print(json.dumps({"listed": listed, "loaded": loaded}))
"""


def test_a_fresh_process_imports_only_the_kinds_it_creates_and_still_lists_all():
    out = subprocess.run(
        [sys.executable, "-c", _FRESH], capture_output=True, text=True, check=True
    ).stdout
    seen = json.loads(out)
    assert set(BUILTIN_QDISCS) <= set(seen["listed"]) and seen["listed"] == sorted(seen["listed"])
    assert seen["loaded"] == ["pfifo"]
    assert set(qdisc_kinds()) >= set(BUILTIN_QDISCS)


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.sampled_from("ab1 \t\r\n\x0b\x0c\x1c\xa0'\"\\#"), max_size=12))
def test_a_spec_splits_as_the_shell_splits_it(spec: str):
    try:
        expected = shlex.split(spec)
    except ValueError:  # an unclosed quote or a trailing escape: refused either way
        with pytest.raises(ValueError):
            split_spec(spec)
        return
    if not expected:
        with pytest.raises(UserError, match="empty qdisc specification"):
            split_spec(spec)
        return
    assert split_spec(spec) == (expected[0], expected[1:])


def test_the_allow_list_of_a_callback_follows_a_kfunc_declared_after_it_was_first_read():
    from qdisclab.ops.kfunc import Kfunc, KfuncRegistry

    registry = KfuncRegistry()
    registry.add(Kfunc("bpf_first", "Demo_ops", frozenset({"*"}), 0, ""))
    before = registry.allowed_for("Demo_ops", "enqueue")
    assert before == {"bpf_first"}
    assert registry.allowed_for("Demo_ops", "enqueue") is before  # computed once
    registry.add(Kfunc("bpf_then", "Demo_ops", frozenset({"enqueue"}), 0, ""))
    assert registry.allowed_for("Demo_ops", "enqueue") == {"bpf_first", "bpf_then"}
    assert registry.allowed_for("Demo_ops", "dequeue") == {"bpf_first"}
