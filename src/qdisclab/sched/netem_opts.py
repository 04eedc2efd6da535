"""netem's option language as tc/q_netem.c reads and prints it.

Positional words follow their keyword (``delay 100ms 10ms 25%``: latency,
jitter, correlation); keywords may be abbreviated (``del``, ``dup``), ``drop``
is ``loss``; percentages are ``1%`` or a bare ``1`` (tc's ``parse_percent``).
Loss models: ``loss [random] P [CORR]``, ``loss state P13 [P31 [P32 [P23
[P14]]]]`` (the 4-state Markov model) and ``loss gemodel P [R [1-H [1-K]]]``
(Gilbert-Elliott; tc's defaults r = 100%, 1-h = 100%, 1-k = 0%). ``rate R
[PACKETOVERHEAD [CELLSIZE [CELLOVERHEAD]]]`` and ``slot MIN [MAX] [packets N]
[bytes B]`` (or ``slot distribution KIND DELAY JITTER ...``).

>>> opt = parse_netem("delay 100ms 10ms 25% drop 1% rate 1mbit 20 53 5".split())
>>> opt["latency"], round(opt["loss"], 6), opt["cell_size"], opt["cell_overhead"]
(100000000, 0.01, 53, 5)
>>> render_netem(parse_netem("delay 10ms slot 1ms 2ms packets 4".split()))
'limit 1000 delay 10ms slot 1ms 2ms packets 4'
"""

from __future__ import annotations

from typing import Any

from qdisclab.sched.options import Args, TcParseError
from qdisclab.sched.tcutil import (
    U32_MAX,
    TcValueError,
    get_any_rate,
    get_integer,
    get_size,
    get_time64,
    get_unsigned,
    matches,
    sprint_rate,
    sprint_time64,
)

DISTRIBUTIONS = ("uniform", "normal", "pareto", "paretonormal")
NETEM_USAGE = (
    "Usage: ... netem [ limit PACKETS ]\n"
    "                 [ delay TIME [ JITTER [CORRELATION]]]\n"
    "                 [ distribution {uniform|normal|pareto|paretonormal} ]\n"
    "                 [ corrupt PERCENT [CORRELATION]]\n"
    "                 [ duplicate PERCENT [CORRELATION]]\n"
    "                 [ loss random PERCENT [CORRELATION]]\n"
    "                 [ loss state P13 [P31 [P32 [P23 P14]]]\n"
    "                 [ loss gemodel PERCENT [R [1-H [1-K]]]\n"
    "                 [ ecn ]\n"
    "                 [ reorder PERCENT [CORRELATION] [ gap DISTANCE ]]\n"
    "                 [ rate RATE [PACKETOVERHEAD] [CELLSIZE] [CELLOVERHEAD]]\n"
    "                 [ slot MIN_DELAY [MAX_DELAY] [packets MAX_PACKETS] [bytes MAX_BYTES]]\n"
    "                 [ slot distribution {uniform|normal|pareto|paretonormal|custom}\n"
    "                   DELAY JITTER [packets MAX_PACKETS] [bytes MAX_BYTES]]"
)


def quantize(fraction: float) -> float:
    """A probability as the kernel holds it: a u32 scaled to 2^32 - 1 (tc's ``set_percent``)."""
    return round(fraction * U32_MAX) / U32_MAX


def _percent(args: Args, what: str) -> float:
    """tc's ``get_percent``: ``30%`` or ``30``, 0..100."""
    text = args.value()
    body = text[:-1] if text.endswith("%") else text
    try:
        value = float(body) / 100.0
    except ValueError:
        raise TcParseError(f'Illegal "{what}"') from None
    if not 0.0 <= value <= 1.0:
        raise TcParseError(f'Illegal "{what}"')
    return quantize(value)


def _number_next(args: Args, signed: bool = False) -> bool:
    nxt = args.peek()
    return bool(args) and (nxt[:1].isdigit() or (signed and nxt[:1] == "-"))


def _get(args: Args, getter: Any, what: str) -> Any:
    text = args.value()
    try:
        return getter(text)
    except TcValueError:
        raise TcParseError(f'Illegal "{what}"') from None


def parse_netem(tokens: list[str]) -> dict[str, Any]:
    """``netem_parse_opt``: the option dict netem's ``init`` takes (times in ns, rate in bit/s)."""
    args = Args(tokens, "netem")
    opt: dict[str, Any] = {"limit": 1000}
    while args:
        word = args.word()
        if matches(word, "limit"):
            opt["limit"] = _get(args, get_size, "limit")
        elif matches(word, "latency") or matches(word, "delay"):
            opt["latency"] = _get(args, get_time64, "latency")
            if _number_next(args):
                opt["jitter"] = _get(args, get_time64, "latency")
                if _number_next(args):
                    opt["delay_corr"] = _percent(args, "latency")
        elif matches(word, "loss") or matches(word, "drop"):
            if opt.get("loss") or "gemodel" in opt or "loss_state" in opt:
                raise TcParseError('Illegal "duplicate loss argument\n"')
            _parse_loss(args, opt)
        elif matches(word, "ecn"):
            opt["ecn"] = True
        elif matches(word, "reorder") or matches(word, "corrupt") or matches(word, "duplicate"):
            name = next(n for n in ("reorder", "corrupt", "duplicate") if matches(word, n))
            opt[name] = _percent(args, name)
            if _number_next(args):
                opt[f"{name}_corr"] = _percent(args, name)
        elif matches(word, "gap"):
            opt["gap"] = _get(args, get_unsigned, "gap")
        elif matches(word, "distribution"):
            dist = args.value()
            if dist not in DISTRIBUTIONS:
                raise TcParseError(f"No distribution data for {dist} (/usr/lib/tc/{dist}.dist)")
            opt["distribution"] = dist
        elif matches(word, "rate"):
            opt["rate"] = _get(args, lambda t: get_any_rate(t, wide=True), "rate") * 8
            if _number_next(args, signed=True):
                opt["packet_overhead"] = _get(args, get_integer, "rate")
            if _number_next(args):
                opt["cell_size"] = _get(args, get_unsigned, "rate")
            if _number_next(args, signed=True):
                opt["cell_overhead"] = _get(args, get_integer, "rate")
        elif matches(word, "slot"):
            _parse_slot(args, opt)
        elif word == "help":
            raise TcParseError(NETEM_USAGE)
        else:
            raise args.unknown(NETEM_USAGE)
    if opt.get("reorder"):
        if not opt.get("latency"):
            raise TcParseError(
                f"reordering not possible without specifying some delay\n{NETEM_USAGE}"
            )
        opt.setdefault("gap", 1)
        opt["gap"] = opt["gap"] or 1
    elif opt.get("gap"):
        raise TcParseError(f"gap specified without reorder probability\n{NETEM_USAGE}")
    if opt.get("ecn") and not (opt.get("loss") or "gemodel" in opt or "loss_state" in opt):
        raise TcParseError(f"ecn requested without loss model\n{NETEM_USAGE}")
    if "distribution" in opt and not (opt.get("latency") and opt.get("jitter")):
        raise TcParseError(
            f"distribution specified but no latency and jitter values\n{NETEM_USAGE}"
        )
    return opt


def _parse_loss(args: Args, opt: dict[str, Any]) -> None:
    sub = args.peek()
    if not args:
        raise TcParseError('Command line is not complete. Try option "help"', 255)
    if sub[:1].isdigit() or sub == "random":
        if sub == "random":
            args.word()
        opt["loss"] = _percent(args, "loss percent")
        if _number_next(args):
            opt["loss_corr"] = _percent(args, "loss correllation")
    elif sub == "state":
        args.word()
        p13 = _percent(args, "loss p13")
        # tc's defaults: p31 = 1 - p13, p32 = 0, p23 = 100%, p14 = 0
        state = [p13, quantize(1.0 - p13), 0.0, 1.0, 0.0]
        for k, name in enumerate(("p31", "p32", "p23", "p14"), start=1):
            if not _number_next(args):
                break
            state[k] = _percent(args, f"loss {name}")
        opt["loss_state"] = tuple(state)
    elif sub == "gemodel":
        args.word()
        ge = [_percent(args, "loss gemodel p"), 1.0, 1.0, 0.0]  # p, r, 1-h, 1-k
        for k, name in enumerate(("r", "h", "k"), start=1):
            if not _number_next(args):
                break
            ge[k] = _percent(args, f"loss gemodel {name}")
        opt["gemodel"] = tuple(ge)
    else:
        raise TcParseError(f"Unknown loss parameter: {args.word()}")


def _parse_slot(args: Args, opt: dict[str, Any]) -> None:
    slot: dict[str, Any] = {}
    if _number_next(args):
        slot["min_delay"] = _get(args, get_time64, "slot min_delay")
        if _number_next(args):
            slot["max_delay"] = _get(args, get_time64, "slot max_delay")
            if slot["max_delay"] < slot["min_delay"]:
                raise TcParseError('Illegal "slot max_delay"')
        else:
            slot["max_delay"] = slot["min_delay"]
    else:
        word = args.value()
        if word != "distribution":
            raise TcParseError(f"Unknown slot parameter: {word}")
        dist = args.value()
        if dist not in DISTRIBUTIONS:
            raise TcParseError(f"No distribution data for {dist} (/usr/lib/tc/{dist}.dist)")
        slot["distribution"] = dist
        slot["dist_delay"] = _get(args, get_time64, "slot delay")
        slot["dist_jitter"] = _get(args, get_time64, "slot jitter")
        if slot["dist_jitter"] <= 0:
            raise TcParseError("Non-positive jitter")
    if args and matches(args.peek(), "packets"):
        args.word()
        slot["max_packets"] = _get(args, get_integer, "slot packets")
    if args and matches(args.peek(), "bytes"):
        args.word()
        slot["max_bytes"] = _get(args, get_size, "slot bytes")
    opt["slot"] = slot


def sprint_percent(fraction: float) -> str:
    """``print_percent``: ``1%``, ``0.5%``, ``25%``."""
    return f"{100.0 * fraction:g}%"


def render_netem(opt: dict[str, Any]) -> str:
    """``netem_print_opt``: ``limit 1000 delay 100ms  10ms 25% loss 1%`` (tc's spacing)."""
    parts = [f"limit {opt.get('limit', 1000)}"]
    if opt.get("latency"):
        text = f" delay {sprint_time64(opt['latency'])}"
        if opt.get("jitter"):
            text += f"  {sprint_time64(opt['jitter'])}"
            if opt.get("delay_corr"):
                text += f" {sprint_percent(opt['delay_corr'])}"
        parts.append(text)
    if opt.get("loss"):
        parts.append(f" loss {sprint_percent(opt['loss'])}" + _corr(opt, "loss_corr"))
    if "loss_state" in opt:
        names = ("p13", "p31", "p32", "p23", "p14")
        text = " loss state" + "".join(
            f" {n} {sprint_percent(v)}" for n, v in zip(names, opt["loss_state"], strict=True)
        )
        parts.append(text)
    if "gemodel" in opt:
        p, r, h1, k1 = opt["gemodel"]
        parts.append(
            f" loss gemodel p {sprint_percent(p)} r {sprint_percent(r)} "
            f"1-h {sprint_percent(h1)} 1-k {sprint_percent(k1)}"
        )
    for name in ("duplicate", "reorder", "corrupt"):
        if opt.get(name):
            parts.append(f" {name} {sprint_percent(opt[name])}" + _corr(opt, f"{name}_corr"))
    if opt.get("rate"):
        text = f" rate {sprint_rate(opt['rate'] // 8)}"
        for key, label in (("packet_overhead", "packetoverhead"), ("cell_size", "cellsize"),
                           ("cell_overhead", "celloverhead")):  # fmt: skip
            if opt.get(key):
                text += f" {label} {opt[key]}"
        parts.append(text)
    slot = opt.get("slot")
    if slot:
        if slot.get("dist_jitter"):
            text = f" slot distribution {sprint_time64(slot['dist_delay'])} {sprint_time64(slot['dist_jitter'])}"
        else:
            text = f" slot {sprint_time64(slot['min_delay'])} {sprint_time64(slot['max_delay'])}"
        for key in ("packets", "bytes"):
            if slot.get(f"max_{key}"):
                text += f" {key} {slot[f'max_{key}']}"
        parts.append(text)
    if opt.get("ecn"):
        parts.append(" ecn ")
    if opt.get("gap"):
        parts.append(f" gap {opt['gap']}")
    return "".join(parts)


def _corr(opt: dict[str, Any], key: str) -> str:
    return f" {sprint_percent(opt[key])}" if opt.get(key) else ""
