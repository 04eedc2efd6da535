"""The TOML reader: compiled tomli when installed, tomllib otherwise, with the same values and errors."""

import json
import subprocess
import sys
import tomllib

import pytest

from qdisclab.scenario import tomlread
from qdisclab.scenario.library import builtin_names, builtin_text

# Each a scenario the parser refuses or must type exactly; the loader's one-line errors
# quote the parser's message and line, so both readers must agree on every one.
BAD = [
    '[run]\nduration = "1s"\n[[node]]\nname = "A"\nkind = \n',
    '[run]\nduration = "1s"\n[run]\nseed = 2\n',
    '[run]\nduration = "1s\n',
    '[run]\nduration = "1s"\nseed = 0x_1\n',
    "[run]\nx = " + "[" * 5000 + "\n",
    "[run]\nseed = " + "9" * 5000 + "\n",
    '[run]\nduration = "1s"\n[[node]]\nname = "A"\nkind = "hots"\n',
]

# Loads every BAD text and prints the errors (as JSON), optionally with tomli hidden.
_PROBE = """
import json, sys
if sys.argv[1] == "hide":
    sys.modules["tomli"] = None  # import tomli now raises ImportError
from qdisclab.errors import UserError
from qdisclab.scenario import tomlread
from qdisclab.scenario.loader import coerce, load_text
out = [tomlread.loads.__module__, coerce("[1, 2]"), coerce("pfifo limit 5")]
for text in json.loads(sys.stdin.read()):
    try:
        load_text(text, "x.toml")
        out.append("loaded")
    except UserError as exc:
        out.append(str(exc))
print(json.dumps(out))
"""


def _probe(mode: str) -> list[str]:
    proc = subprocess.run(
        [sys.executable, "-c", _PROBE, mode],
        input=json.dumps(BAD), capture_output=True, text=True, check=True,
    )  # fmt: skip
    return json.loads(proc.stdout)


def test_fallback_to_tomllib_gives_the_same_errors() -> None:
    pytest.importorskip("tomli", reason="tomli not installed: only tomllib to compare")
    used, *errors = _probe("keep")
    fallback, *fallback_errors = _probe("hide")
    assert used.startswith("tomli") and fallback.startswith("tomllib")
    assert errors[:2] == [[1, 2], "pfifo limit 5"]
    assert fallback_errors == errors
    messages = errors[2:]
    assert messages[0].startswith("x.toml:5: TOML syntax error: Invalid value")
    assert messages[1].startswith("x.toml:3: TOML syntax error:")
    assert "nested deeper than 16 levels" in messages[4]
    assert messages[5].startswith("x.toml:2: TOML syntax error: an integer of more than")
    assert messages[6].startswith("x.toml:5: node[0].kind: found 'hots'")


@pytest.mark.parametrize("name", builtin_names())
def test_reader_gives_tomllib_values_for_every_builtin(name: str) -> None:
    text = builtin_text(name)
    assert tomlread.loads(text) == tomllib.loads(text)


def test_reader_error_carries_the_line() -> None:
    with pytest.raises(tomlread.TOMLDecodeError, match=r"at line 2, column 5"):
        tomlread.loads("a = 1\nb = \n")
