"""Loading a scenario file: TOML → overrides → pydantic → semantic checks.

Every error is ONE line: ``FILE:LINE: FIELD: found X; allowed Y``. The line
comes from a small index of the TOML text (table headers and keys), looked up
with the error's location path.

>>> text = '[run]\\nduration = "1s"\\n[[node]]\\nname = "A"\\nkind = "hots"\\n'
>>> try:
...     load_text(text, "x.toml")
... except UserError as e:
...     print(e)  # doctest: +ELLIPSIS
x.toml:5: node[0].kind: found 'hots'; allowed: 'host' or 'router'...
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from qdisclab.errors import UserError
from qdisclab.scenario import tomlread
from qdisclab.scenario.model import Scenario, validate

_HEADER = re.compile(r"^\s*(\[\[?)\s*([A-Za-z0-9_.\-]+)\s*\]\]?\s*(#.*)?$")
_KEY = re.compile(r"^\s*([A-Za-z0-9_\-]+|\"[^\"]*\")\s*=")


class ScenarioError(UserError):
    """One-line scenario error naming file, line, field, found and allowed."""


def line_index(text: str) -> dict[tuple[Any, ...], int]:
    """Map location paths (``("link", 2, "rate")``) to 1-based line numbers."""
    index: dict[tuple[Any, ...], int] = {}
    counts: dict[tuple[Any, ...], int] = {}
    table: tuple[Any, ...] = ()
    for lineno, line in enumerate(text.splitlines(), start=1):
        m = _HEADER.match(line)
        if m:
            parts = m.group(2).split(".")
            path: tuple[Any, ...] = ()
            for i, part in enumerate(parts):
                key = (*path, part)
                last = i == len(parts) - 1
                if last and m.group(1) == "[[":
                    counts[key] = counts.get(key, -1) + 1
                    path = (*key, counts[key])
                elif key in counts:  # a sub-table of the latest array element
                    path = (*key, counts[key])
                else:
                    path = key
            table = path
            index.setdefault(table, lineno)
            continue
        m = _KEY.match(line)
        if m:
            index.setdefault((*table, m.group(1).strip('"')), lineno)
    return index


def find_line(index: dict[tuple[Any, ...], int], loc: tuple[Any, ...]) -> int:
    for n in range(len(loc), 0, -1):
        if loc[:n] in index:
            return index[loc[:n]]
    return 1


def fmt_loc(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


@dataclass
class Loaded:
    """A validated scenario plus what is needed to report errors and resolve paths."""

    scenario: Scenario
    source: str  # file name (or "builtin:NAME")
    text: str
    base_dir: Path
    raw: dict[str, Any] = field(default_factory=dict)

    @cached_property
    def index(self) -> dict[tuple[Any, ...], int]:
        """The text's line index, made when an error first needs a line number."""
        return line_index(self.text)

    @cached_property
    def first_link_mtu(self) -> dict[str, int]:
        """Each node's first link's MTU, in link order (one pass for every flow's check)."""
        mtus: dict[str, int] = {}
        for link in self.scenario.link:
            mtus.setdefault(link.a, link.mtu)
            mtus.setdefault(link.b, link.mtu)
        return mtus

    def error(
        self, loc: tuple[Any, ...], found: Any, allowed: str, problem: str = ""
    ) -> ScenarioError:
        """A one-line error at ``loc``; ``problem`` replaces the "allowed" part when given."""
        line = find_line(self.index, loc)
        where = f"{self.source}:{line}: {fmt_loc(loc)}: found {found!r}"
        return ScenarioError(f"{where}: {problem}" if problem else f"{where}; allowed: {allowed}")


def _model_at(loc: tuple[Any, ...]) -> type[BaseModel] | None:
    model: Any = Scenario
    for part in loc:
        if isinstance(part, int):
            continue
        fields = getattr(model, "model_fields", None)
        if fields is None:
            return None
        info = fields.get(part) or next((f for f in fields.values() if f.alias == part), None)
        if info is None:
            return model
        ann = info.annotation
        args = getattr(ann, "__args__", ())
        model = next(
            (a for a in (ann, *args) if isinstance(a, type) and issubclass(a, BaseModel)), None
        )
        if model is None:
            return None
    return model


def _allowed_keys(model: type[BaseModel] | None) -> str:
    if model is None:
        return "?"
    return ", ".join(f.alias or n for n, f in model.model_fields.items())


def format_validation(exc: ValidationError, source: str, index: dict[tuple[Any, ...], int]) -> str:
    err = exc.errors(include_url=False)[0]
    raw_loc = tuple(err["loc"])
    # pydantic tags union members in the path ("str", "int", "function-after[...]"): drop them
    loc = tuple(p for p in raw_loc if isinstance(p, int) or not (
        p in ("str", "int", "float", "bool") or "[" in p or "-" in p))  # fmt: skip
    in_union = len(loc) != len(raw_loc)
    line = find_line(index, loc)
    kind = err["type"]
    found = err.get("input")
    if kind == "extra_forbidden":
        allowed = _allowed_keys(_model_at(loc[:-1]))
        return f"{source}:{line}: {fmt_loc(loc)}: unknown key {loc[-1]!r}; allowed keys: {allowed}"
    if kind == "missing":
        return f"{source}:{line}: {fmt_loc(loc)}: required key is missing"
    msg = err["msg"].removeprefix("Value error, ")
    if in_union and kind in ("string_type", "int_type"):
        msg = "a string with a tc unit (e.g. '10mbit', '5ms') or an integer"
    if kind == "literal_error":
        msg = msg.removeprefix("Input should be ")
    if isinstance(found, dict | list) and len(repr(found)) > 60:
        found = type(found).__name__
    return f"{source}:{line}: {fmt_loc(loc)}: found {found!r}; allowed: {msg}"


# -- overrides (sweep grid keys, --set) ------------------------------------------
def coerce(text: str) -> Any:
    """A command-line value as TOML would type it (``5``, ``["R1:eth0"]``); else a string.

    >>> coerce("5"), coerce("true"), coerce("pfifo limit 5"), coerce('["a"]')
    (5, True, 'pfifo limit 5', ['a'])
    """
    try:
        return tomlread.loads(f"v = {text}")["v"]
    except (tomlread.TOMLDecodeError, RecursionError, ValueError):
        return text


def apply_override(raw: dict[str, Any], key: str, value: Any) -> None:
    """Set dotted ``key`` (``link.bottleneck.qdisc_a``, ``flow.0.rate``, ``run.duration``)."""
    parts = key.split(".")
    node: Any = raw
    for i, part in enumerate(parts[:-1]):
        if isinstance(node, list):
            node = _element(node, part, key)
        elif isinstance(node, dict):
            if part not in node:
                if i == 0 and part not in Scenario.model_fields:
                    raise UserError(
                        f"override {key!r}: unknown section {part!r} "
                        f"(allowed: {', '.join(Scenario.model_fields)})"
                    )
                node[part] = {}
            node = node[part]
        else:
            raise UserError(f"override {key!r}: {parts[i - 1]!r} is not a table or array")
    if isinstance(node, list):
        raise UserError(f"override {key!r}: name an element (index or name) before the key")
    if not isinstance(node, dict):
        raise UserError(f"override {key!r}: {parts[-2]!r} is {node!r}, not a table")
    node[parts[-1]] = value


def _element(items: list[Any], part: str, key: str) -> Any:
    if part.isdigit():
        idx = int(part)
        if idx >= len(items):
            raise UserError(f"override {key!r}: index {idx} out of range (have {len(items)})")
        return items[idx]
    for item in items:
        if isinstance(item, dict) and item.get("name") == part:
            return item
    names = [str(i.get("name")) for i in items if isinstance(i, dict) and i.get("name")]
    raise UserError(
        f"override {key!r}: no element named {part!r} (names: {', '.join(names) or 'none'})"
    )


# No scenario key nests deeper than a few levels (flow.match is the deepest, at 4);
# refusing deeper values up front keeps the TOML parser, deepcopy and pydantic,
# all recursive, far from Python's recursion limit.
MAX_DEPTH = 16


def _too_deep(value: Any, path: tuple[Any, ...] = ()) -> tuple[Any, ...] | None:
    """The location of the first value nested past ``MAX_DEPTH`` (iterative), or None."""
    # Depth first, last item first; only containers are visited (a scalar nests nothing),
    # and one at MAX_DEPTH holding anything is too deep at its last item.
    stack = [(value, path)] if isinstance(value, dict | list) else []
    if len(path) > MAX_DEPTH:
        return path
    while stack:
        item, loc = stack.pop()
        keys = item.keys() if isinstance(item, dict) else range(len(item))
        if len(loc) == MAX_DEPTH:
            if item:
                return (*loc, list(keys)[-1])
            continue
        values = item.values() if isinstance(item, dict) else item
        stack.extend((v, (*loc, k)) for k, v in zip(keys, values, strict=True)
                     if isinstance(v, dict | list))  # fmt: skip
    return None


def _deep_line(text: str) -> int:
    """Where brackets first open past ``MAX_DEPTH`` (a hint for a file too deep to parse)."""
    depth = 0
    for lineno, line in enumerate(text.splitlines(), start=1):
        for ch in line:
            depth += ch in "[{"
            depth -= ch in "]}"
            if depth > MAX_DEPTH:
                return lineno
    return 1


def load_text(
    text: str,
    source: str,
    base_dir: Path | None = None,
    overrides: dict[str, Any] | None = None,
) -> Loaded:
    """Parse and validate scenario TOML ``text``; raise ``ScenarioError`` (one line)."""
    too_deep = f"nested deeper than {MAX_DEPTH} levels of arrays or tables"
    try:
        raw = tomlread.loads(text)
    except tomlread.TOMLDecodeError as exc:
        m = re.search(r"line (\d+)", str(exc))
        raise ScenarioError(
            f"{source}:{m.group(1) if m else 1}: TOML syntax error: {exc}"
        ) from None
    except RecursionError:
        raise ScenarioError(f"{source}:{_deep_line(text)}: {too_deep}") from None
    except ValueError:  # an integer past Python's int-from-text digit limit
        digits = re.search(r"[0-9_]{1000,}", text)
        line = text.count("\n", 0, digits.start()) + 1 if digits else 1
        raise ScenarioError(f"{source}:{line}: TOML syntax error: an integer of more than "
                            f"{sys.get_int_max_str_digits()} digits") from None  # fmt: skip
    deep = _too_deep(raw)
    if deep is not None:
        line = find_line(line_index(text), deep)
        raise ScenarioError(f"{source}:{line}: {fmt_loc(deep[:3])}: {too_deep}")
    for key, value in (overrides or {}).items():
        try:
            apply_override(raw, key, value)
        except UserError as exc:
            raise ScenarioError(f"{source}: {exc}") from None
    deep = _too_deep(raw) if overrides else None  # an override's value may nest deeper
    if deep is not None:
        raise ScenarioError(f"{source}: --set {fmt_loc(deep[:3])}: {too_deep}")
    try:
        scenario = validate(raw)
    except ValidationError as exc:
        raise ScenarioError(format_validation(exc, source, line_index(text))) from None
    loaded = Loaded(scenario, source, text, base_dir or Path.cwd(), raw)
    from qdisclab.scenario.checks import check

    check(loaded)
    return loaded


def load_file(path: str | Path, overrides: dict[str, Any] | None = None) -> Loaded:
    p = Path(path)
    try:
        data = p.read_bytes()
    except OSError as exc:
        raise UserError(f"cannot read scenario file {str(p)!r}: {exc.strerror}") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise ScenarioError(
            f"{p}:{line}: not UTF-8 text (byte 0x{data[exc.start]:02x} at offset {exc.start}); "
            "TOML files must be UTF-8"
        ) from None
    return load_text(text, str(p), p.resolve().parent, overrides)
