"""``dumps_indented`` writes exactly the text of ``json.dumps(obj, indent=2)``."""

import enum
import json
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from qdisclab.measure.jsontext import dumps_indented
from qdisclab.scenario import builtin_names, run_scenario
from qdisclab.scenario.tables import Results

# Text that looks like the structure the fast path finds with str.replace.
_TRICKY = st.sampled_from(
    ["],\n[", "},\n{", ",\n", "\x00", "null", "\\", '"', "[", "}", "é", "\u2028"]
)
_STRINGS = st.text(max_size=8) | _TRICKY
_SCALARS = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | _STRINGS
_DOCS = st.recursive(
    _SCALARS,
    lambda inner: (
        st.lists(inner, max_size=5)
        | st.lists(inner, max_size=4).map(tuple)
        | st.dictionaries(_STRINGS, inner, max_size=5)
    ),
    max_leaves=40,
)


@settings(max_examples=400, deadline=None)
@given(_DOCS)
def test_any_json_document_is_written_as_the_library_writes_it(doc):
    assert dumps_indented(doc) == json.dumps(doc, indent=2)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.lists(st.integers() | st.floats() | _STRINGS, min_size=1, max_size=3),
                min_size=1, max_size=6))  # fmt: skip
def test_lists_of_flat_rows_written_in_one_pass_keep_every_row_apart(rows):
    # [t, cwnd] points and the like: one C call and str.replace find the row boundaries
    assert dumps_indented({"series": rows}) == json.dumps({"series": rows}, indent=2)


class Level(enum.IntEnum):
    HIGH = 2


@pytest.mark.parametrize("doc", [
    {1: "a", "b": 2},  # non-string keys: the library converts them
    {True: [1], None: {}},
    [Level.HIGH, {"x": Level.HIGH}],  # an int subclass writes as the library decides
    Results({"flows": [{"flow": "a"}]}),  # a dict subclass
    [float("nan"), -math.inf, math.inf, {"v": float("nan")}],
    "just a string", 5, None, [], {},
])  # fmt: skip
def test_what_is_not_plain_json_data_is_the_librarys_own_text(doc):
    assert dumps_indented(doc) == json.dumps(doc, indent=2)


def test_errors_are_the_librarys_errors():
    with pytest.raises(TypeError, match="not JSON serializable"):
        dumps_indented({"a": [1, object()]})
    loop: list = []
    loop.append(loop)
    with pytest.raises(ValueError, match="Circular reference"):
        dumps_indented({"a": loop})


@pytest.mark.parametrize("name", builtin_names())
def test_every_builtin_scenarios_results_are_the_same_text(name):
    results = run_scenario(name, duration_ns=300_000_000)
    doc = results.to_json()
    assert dumps_indented(doc) == json.dumps(doc, indent=2)
