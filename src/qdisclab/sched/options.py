"""tc-syntax qdisc specifications: ``"fq_codel limit 1000 target 5ms ecn"``.

A qdisc kind declares its options as ``Opt`` objects (kernel option names,
kernel defaults). ``parse_spec`` splits a spec string into the kind and an
options dict; unknown options and bad values are ``UserError`` naming the
qdisc, the option and what is allowed. Kinds with positional syntax (netem)
override ``QdiscOps.parse_options``.

>>> opts = {"limit": Opt("count", 1000), "target": Opt("time", 5_000_000), "ecn": Opt("flag", True)}
>>> parse_options("codel", ["limit", "100", "noecn"], opts)
{'limit': 100, 'target': 5000000, 'ecn': False}
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass
from typing import Any

from qdisclab.errors import UserError
from qdisclab.units import (
    format_rate,
    format_size,
    format_time,
)

_KINDS = ("count", "int", "float", "size", "time", "time64", "rate", "flag", "str", "percent")


@dataclass(frozen=True)
class Opt:
    """One option: its kind, kernel default, and help text, read with tc's own getter.

    kinds: ``count`` and ``int`` (``get_unsigned``: ``100``, ``0x10``; no ``p``
    suffix), ``float``, ``size`` (``get_size``, bytes), ``time`` (``get_time``,
    microsecond resolution, kept in ns), ``time64`` (``get_time64``, ns),
    ``rate`` (``get_rate`` or a percentage of the device, kept in bit/s),
    ``flag`` (present = on, ``no<name>`` = off), ``str``, ``percent``.
    A default of ``None`` means "decided by the qdisc at init" (e.g. from the device).
    ``zero_default``: tc does not send a 0, so the kernel's default applies
    (``fq_codel flows 0``).
    """

    kind: str
    default: Any = None
    doc: str = ""
    choices: tuple[str, ...] = ()
    zero_default: bool = False

    def __post_init__(self) -> None:
        if self.kind not in _KINDS:
            raise ValueError(f"unknown option kind {self.kind!r}")

    def parse(self, qdisc: str, name: str, text: str) -> Any:
        from qdisclab.sched import tcutil

        try:
            if self.kind in ("count", "int"):
                return tcutil.get_unsigned(text)
            if self.kind == "float":
                return float(text)
            if self.kind == "size":
                return tcutil.get_size(text)
            if self.kind == "time":
                return tcutil.get_time(text) * 1000
            if self.kind == "time64":
                return tcutil.get_time64(text)
            if self.kind == "rate":
                return tcutil.get_any_rate(text) * 8
            if self.kind == "percent":
                return parse_percent(text)
            if self.choices and text not in self.choices:
                raise ValueError(f"expected one of {', '.join(self.choices)}")
            return text
        except ValueError:
            raise TcParseError(f'Illegal "{name}"') from None

    def render(self, value: Any) -> str:
        if self.kind == "count":
            return f"{value}p"
        if self.kind == "size":
            return format_size(value)
        if self.kind in ("time", "time64"):
            return format_time(value)
        if self.kind == "rate":
            return format_rate(value)
        if self.kind == "percent":
            return f"{value * 100:g}%"
        return str(value)


def parse_percent(text: str) -> float:
    """``"1%"`` -> 0.01, ``"0.5"`` -> 0.005 (tc reads bare netem numbers as percent)."""
    body = text[:-1] if text.endswith("%") else text
    value = float(body) / 100.0
    if not 0.0 <= value <= 1.0:
        raise ValueError("a percentage must be between 0% and 100%")
    return value


# What makes shlex.split differ from str.split: quoting, escapes, and whitespace that
# shlex keeps inside a word (str.split breaks on every Unicode space, shlex on four).
_SHELL_SYNTAX = re.compile(r"['\"\\]|[^\S \t\r\n]")


def split_spec(spec: str) -> tuple[str, list[str]]:
    """``"pfifo limit 100"`` -> ``("pfifo", ["limit", "100"])``.

    Split as a shell would (``shlex``); a spec with no quotes, escapes or unusual
    spaces, the common case of a scenario creating a qdisc per device, splits
    the same with ``str.split``, at a fraction of the cost.
    """
    tokens = shlex.split(spec) if _SHELL_SYNTAX.search(spec) else spec.split()
    if not tokens:
        raise UserError("empty qdisc specification: expected e.g. 'pfifo limit 100'")
    return tokens[0], tokens[1:]


def parse_options(
    qdisc: str,
    tokens: list[str],
    schema: dict[str, Opt],
    usage: str = "",
    aliases: dict[str, str] | None = None,
) -> dict[str, Any]:
    """Parse ``name value`` pairs and flags against ``schema`` as tc's parsers do.

    Keywords are exact (tc's ``strcmp``), ``aliases`` maps tc's other spellings
    (``horizon_cap`` -> ``nohorizon_drop``); an unknown word is ``What is "WORD"?``
    and the kind's usage, a bad value ``Illegal "NAME"``. Declared defaults fill
    what is not given; a 0 for a ``zero_default`` option means the default.
    """
    result: dict[str, Any] = {n: o.default for n, o in schema.items() if o.default is not None}
    args = Args(tokens, qdisc)
    while args:
        word = args.word()
        word = (aliases or {}).get(word, word)
        opt = schema.get(word)
        if opt is not None and opt.kind == "flag":
            result[word] = True
            continue
        if (
            opt is None
            and word.startswith("no")
            and getattr(schema.get(word[2:]), "kind", "") == "flag"
        ):
            result[word[2:]] = False
            continue
        if opt is None:
            if word == "help":
                raise TcParseError(usage or f"Usage: ... {qdisc} [ OPTIONS ]")
            raise args.unknown(usage)
        value = opt.parse(qdisc, word, args.value())
        if opt.zero_default and value == 0:
            if opt.default is None:
                result.pop(word, None)
            else:
                result[word] = opt.default
            continue
        result[word] = value
    return result


def render_options(schema: dict[str, Opt], values: dict[str, Any]) -> str:
    """Options as ``tc qdisc show`` prints them, in schema order."""
    parts = []
    for name, opt in schema.items():
        if name not in values or values[name] is None:
            continue
        value = values[name]
        if opt.kind == "flag":
            if value:
                parts.append(name)
            continue
        parts.append(f"{name} {opt.render(value)}")
    return " ".join(parts)


# -- iproute2's command-line conventions ------------------------------------------------
class TcParseError(UserError):
    """tc refused the command line before asking the kernel (tc exits 1, or 255).

    ``text`` is iproute2's own message, printed on stderr as is.
    """

    def __init__(self, text: str, exit_code: int = 1) -> None:
        self.text = text
        self.exit_code = exit_code
        super().__init__(text.splitlines()[0] if text else "tc: parse error")


class KernelRefusal(UserError):
    """The kernel refused the request (tc exits 2): errno and its extack message, if any.

    >>> print(KernelRefusal(22, "invalid quantum").tc_text)
    Error: invalid quantum.
    """

    def __init__(self, errno: int, extack: str = "", hint: str = "") -> None:
        import os

        self.errno = errno
        self.extack = extack
        self.exit_code = 2
        if extack:
            self.tc_text = f"Error: {extack}."
        else:
            self.tc_text = f"RTNETLINK answers: {os.strerror(errno)}"
        # ``hint`` says what was wrong where the kernel says only the errno (outside tc).
        super().__init__(f"{self.tc_text} ({hint})" if hint else self.tc_text)


INCOMPLETE = 'Command line is not complete. Try option "help"'


class Args:
    """The words of a tc command line, read the way iproute2's parsers do (NEXT_ARG, matches).

    >>> a = Args(["lat", "50ms"], "tbf")
    >>> a.take_if("latency"), a.value()
    (True, '50ms')
    """

    __slots__ = ("i", "kind", "words")

    def __init__(self, words: list[str], kind: str = "") -> None:
        self.words = words
        self.kind = kind
        self.i = 0

    def __bool__(self) -> bool:
        return self.i < len(self.words)

    def peek(self) -> str:
        return self.words[self.i] if self.i < len(self.words) else ""

    def word(self) -> str:
        """The current word, consumed."""
        w = self.peek()
        self.i += 1
        return w

    def take(self, *keywords: str) -> str | None:
        """Consume the current word if it equals one of ``keywords`` exactly (``strcmp``)."""
        w = self.peek()
        if self and w in keywords:
            self.i += 1
            return w
        return None

    def take_if(self, keyword: str) -> bool:
        """Consume the current word if it is a prefix of ``keyword`` (``matches``)."""
        from qdisclab.sched.tcutil import matches

        if self and matches(self.peek(), keyword):
            self.i += 1
            return True
        return False

    def value(self) -> str:
        """``NEXT_ARG``: the word after a keyword, or tc's incomplete-command error."""
        if self.i >= len(self.words):
            raise TcParseError(INCOMPLETE, 255)
        return self.word()

    def next_is_number(self) -> bool:
        """q_netem's ``NEXT_IS_NUMBER``: the next word starts with a digit."""
        return self.i < len(self.words) and self.words[self.i][:1].isdigit()

    def unknown(self, usage: str = "") -> TcParseError:
        """iproute2's most common complaint, ``What is "WORD"?``, and the usage text."""
        word = self.words[self.i - 1] if self.i else self.peek()
        text = f'What is "{word}"?'
        return TcParseError(f"{text}\n{usage}" if usage else text)


def illegal(name: str) -> TcParseError:
    """``Illegal "NAME"``, as most q_*.c parsers say."""
    return TcParseError(f'Illegal "{name}"')


def read(args: Args, name: str, getter: Any, message: str | None = None) -> Any:
    """The value after ``name`` read with one of the ``tcutil`` getters, or tc's complaint."""
    from qdisclab.sched.tcutil import TcValueError

    text = args.value()
    try:
        return getter(text)
    except TcValueError as exc:
        if message is not None:
            raise TcParseError(message.format(value=text, why=exc)) from None
        raise illegal(name) from None
