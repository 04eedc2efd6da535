"""Results as indented JSON text: the bytes of ``json.dumps(obj, indent=2)``, sooner.

With ``indent`` set, the standard library encodes in pure Python, a generator
step per token: about a quarter of a second for the megabyte a 256-flow run
prints. Only the line breaks and indentation differ from compact JSON, so
``dumps_indented`` writes those itself and leaves the values to the C encoder:
a container holding no other containers (a qdisc's sojourn summary) is one C
call whose item separator carries the newline and the indentation of its
depth; so is a list of such containers (a flow's ``[t, cwnd]`` points), with
a bare newline between items that ``str.replace`` then indents; a container
mixing both (a qdisc's row) is one C call for its scalars, ``null`` standing
in for each container until that container's own text replaces it. All of
it rests on one fact: with ``ensure_ascii`` a string's JSON never holds a raw
newline, so every newline is one the encoder was told to write.

Whatever is not plain JSON data (a subclass of dict, list, str, int or float,
a non-string key, a cycle, an unknown type) is handed whole to
``json.dumps(obj, indent=2)``, so its text, or its error, is the library's own.

>>> import json
>>> doc = {"flows": [{"flow": "a", "dropped": {"codel": 3}, "rate": 1.5}], "faults": []}
>>> dumps_indented(doc) == json.dumps(doc, indent=2)
True
>>> print(dumps_indented({"a": [1, 2], "b": None}))
{
  "a": [
    1,
    2
  ],
  "b": null
}
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from json.encoder import c_make_encoder, encode_basestring_ascii  # type: ignore[attr-defined]
from typing import Any

INDENT = "  "  # json.dumps(indent=2)
_DEFAULT = json.JSONEncoder().default  # never reached: only plain JSON data gets here


class _NotPlain(Exception):
    """A value the fast path does not write exactly as the library would."""


# Exact types only: the library's checks are isinstance, so a subclass may write differently.
_SCALARS = frozenset((str, int, float, bool, type(None)))
_CONTAINERS = frozenset((dict, list, tuple))
_PLAIN = _SCALARS | _CONTAINERS
_STR_ONLY = frozenset((str,))
_MARK = "\x00"  # never in ensure_ascii JSON text (a NUL in a string is written \u0000)


def _encoder(item_separator: str) -> Callable[[Any, int], Sequence[str]]:
    encoder: Callable[[Any, int], Sequence[str]] = c_make_encoder(
        None, _DEFAULT, encode_basestring_ascii, None, ": ", item_separator, False, False, True
    )
    return encoder


# Per depth: the C encoder whose item separator breaks the line and indents to that
# depth's items; past the deepest, one with a bare newline between items, whose
# structure str.replace finds (made on first use, kept for every later document).
_AT_DEPTH: list[Callable[[Any, int], Sequence[str]]] = []
_BARE: list[Callable[[Any, int], Sequence[str]]] = []


def _compact(value: Any, depth: int) -> str:
    """``value``'s items as indented JSON lines at ``depth``, without its brackets."""
    while len(_AT_DEPTH) <= depth:
        _AT_DEPTH.append(_encoder(",\n" + INDENT * (len(_AT_DEPTH) + 1)))
    return "".join(_AT_DEPTH[depth](value, 0))[1:-1]


def _is_flat(value: Any) -> bool:
    """A non-empty container holding scalars only (dict: under string keys)."""
    if type(value) is dict:
        return (bool(value) and _STR_ONLY.issuperset(map(type, value))
                and _SCALARS.issuperset(map(type, value.values())))  # fmt: skip
    return bool(value) and _SCALARS.issuperset(map(type, value))


def _text(value: Any, depth: int) -> str:
    """``json.dumps(value, indent=2)`` for ``value`` at ``depth`` (raises ``_NotPlain``)."""
    kind = type(value)
    if kind is dict:
        if not value:
            return "{}"
        if not _STR_ONLY.issuperset(map(type, value)):
            raise _NotPlain  # the library turns int, float, bool and None keys into strings
        items = value.values()
        opening, closing = "{", "}"
    elif kind is list or kind is tuple:
        if not value:
            return "[]"
        items = value
        opening, closing = "[", "]"
    else:
        if kind not in _SCALARS:
            raise _NotPlain
        return json.dumps(value)
    pad = "\n" + INDENT * (depth + 1)
    end = "\n" + INDENT * depth + closing
    kinds = set(map(type, items))
    if kinds <= _SCALARS:  # flat: one C call writes every item
        return opening + pad + _compact(value, depth) + end
    if not kinds <= _PLAIN:
        raise _NotPlain
    if kind is not dict and len(kinds) == 1 and all(map(_is_flat, value)):
        return opening + pad + _rows(value, depth) + end
    # Mixed: C writes the scalars, with null standing in for each container (its
    # key stays), and the containers' own text replaces those nulls.
    nested = [i for i, k in enumerate(map(type, items)) if k in _CONTAINERS]
    flat = dict(value) if kind is dict else list(value)
    keys = list(value) if kind is dict else range(len(value))
    for i in nested:
        flat[keys[i]] = None
    lines = _compact(flat, depth).split("," + pad)
    for i, item in zip(nested, (value[keys[i]] for i in nested), strict=True):
        lines[i] = lines[i][:-4] + _text(item, depth + 1)  # "null" -> the container
    return opening + pad + ("," + pad).join(lines) + end


def _rows(rows: Any, depth: int) -> str:
    """The items of a list of flat containers of one type ([t, cwnd] points, counter rows).

    One C call writes them all with a bare newline between items; as no string holds a
    raw newline, a closing bracket, comma, newline, opening bracket is always the end of
    one row and the start of the next, and every other comma-newline is inside a row.
    """
    opening, closing = ("{", "}") if type(rows[0]) is dict else ("[", "]")
    outer = INDENT * (depth + 1)
    inner = "\n" + INDENT * (depth + 2)
    if not _BARE:
        _BARE.append(_encoder(",\n"))
    text = "".join(_BARE[0](rows, 0))[2:-2]
    text = text.replace(closing + ",\n" + opening, _MARK).replace(",\n", "," + inner)
    between = "\n" + outer + closing + ",\n" + outer + opening + inner
    return opening + inner + text.replace(_MARK, between) + "\n" + outer + closing


def dumps_indented(obj: Any) -> str:
    """``json.dumps(obj, indent=2)``, the same text, with the values encoded in C.

    >>> dumps_indented([])
    '[]'
    """
    if c_make_encoder is None:  # no C accelerator: nothing to gain over the library
        return json.dumps(obj, indent=2)
    try:
        return _text(obj, 0)
    except (_NotPlain, RecursionError):  # the library decides: its text, or its error
        return json.dumps(obj, indent=2)
