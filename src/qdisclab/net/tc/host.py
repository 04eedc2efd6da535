"""A simulated host that takes ``tc`` and ``ip link`` command lines as iproute2 does.

Each command returns a ``CmdResult``: iproute2's exit code (0 ok, 1 a parse
error, 2 the kernel refused, 255 an invalid handle or incomplete command),
its standard output and its standard error, exactly as ``tc`` prints them.

>>> host = TcHost()
>>> host.run("ip link add dev eth0 type dummy").exit
0
>>> host.run("tc qdisc add dev eth0 root handle 1: tbf rate 10mbit burst 10kb lat 50ms").exit
0
>>> host.run("tc qdisc show dev eth0").stdout
'qdisc tbf 1: root refcnt 2 rate 10Mbit burst 10Kb lat 50ms \\n'
"""

from __future__ import annotations

import errno
import shlex
from dataclasses import dataclass
from typing import Any

from qdisclab.errors import KernelError, UserError
from qdisclab.net.world import World
from qdisclab.sched.options import INCOMPLETE, KernelRefusal, TcParseError
from qdisclab.sched.tcutil import matches


@dataclass
class CmdResult:
    """What one command line printed and returned."""

    exit: int
    stdout: str = ""
    stderr: str = ""


class TcHost:
    """One simulated kernel with one host; devices are created with ``ip link add``.

    ``world``/``node`` may be given to drive the devices of a scenario's node.
    """

    def __init__(self, world: World | None = None, node: Any = None) -> None:
        self.world = world if world is not None else World()
        self.node = node if node is not None else self.world.add_host("host")
        self.speeds: dict[str, int] = {}  # device name -> bit/s, for "rate 10%"
        self.brought_up: set[str] = set()
        self.ingress_queues: dict[int, Any] = {}  # devices that have had an ingress qdisc
        self.filter_blocks: dict[int, Any] = {}  # id(qdisc) -> its filters (net.tc.filters.Block)

    # -- running command lines ------------------------------------------------------
    def run(self, line: str) -> CmdResult:
        """Run one line: ``tc ...``, ``ip ...``, or bare tc arguments (as ``tc -b`` reads).

        ``CMD || /bin/true`` (as test scripts write set-up lines) runs CMD and
        succeeds whatever CMD returned.
        """
        first, sep, rest = line.partition(" || ")
        if sep and rest.strip() in ("/bin/true", "true"):
            result = self.run(first)
            return CmdResult(0, result.stdout, result.stderr)
        try:
            words = shlex.split(line, comments=False)
        except ValueError as exc:
            return CmdResult(1, "", f"Command line is not valid: {exc}\n")
        if not words:
            return CmdResult(0)
        if words[0] == "ip":
            return self._guard(lambda: self.ip(words[1:]))
        if words[0] == "tc":
            words = words[1:]
        return self.tc(words)

    def tc(self, words: list[str]) -> CmdResult:
        """``tc [-s] [-d] [-j] OBJECT COMMAND ...``."""
        from qdisclab.net.tc.commands import Flags, dispatch

        flags = Flags()
        while words and words[0].startswith("-") and len(words[0]) > 1:
            opt = words.pop(0)
            if matches(opt, "-stats") or matches(opt, "-statistics"):
                flags.stats = True
            elif matches(opt, "-details"):
                flags.details = True
            elif matches(opt, "-json"):
                flags.json = True
            elif matches(opt, "-pretty"):
                flags.pretty = True
            elif matches(opt, "-iec"):
                flags.iec = True
            else:
                return CmdResult(255, "", f'Option "{opt}" is unknown, try "tc -help".\n')
        if not words:
            return CmdResult(255, "", "Usage: tc [ OPTIONS ] OBJECT { COMMAND | help }\n")
        return self._guard(lambda: dispatch(self, flags, words))

    def _guard(self, fn: Any) -> CmdResult:
        """Turn the errors a command raises into tc's exit codes and messages."""
        try:
            out = fn()
        except TcParseError as exc:
            return CmdResult(exc.exit_code, "", exc.text + "\n")
        except KernelRefusal as exc:
            return CmdResult(2, "", exc.tc_text + "\n")
        except KernelError as exc:
            return CmdResult(2, "", KernelRefusal(exc.errno).tc_text + "\n")
        except UserError as exc:  # a kernel-side check written as a plain message
            return CmdResult(2, "", f"Error: {exc}.\n")
        if isinstance(out, CmdResult):
            return out
        stdout, stderr = out if isinstance(out, tuple) else (out, "")
        return CmdResult(0, stdout, stderr)

    # -- devices ------------------------------------------------------------------------
    def device(self, name: str) -> Any:
        """The device ``name``, or tc's complaint (exit 1)."""
        dev = self.node.devices.get(name)
        if dev is None:
            raise TcParseError(f'Cannot find device "{name}"')
        return dev

    def speed(self, name: str) -> int | None:
        """The bit rate ``rate N%`` refers to: the device's link, or ``ip link add ... speed``."""
        dev = self.node.devices.get(name)
        channel = getattr(dev, "channel", None)
        return channel.rate if channel is not None else self.speeds.get(name)

    def devices(self) -> list[Any]:
        return sorted(self.node.devices.values(), key=lambda d: d.ifindex)

    def ip(self, words: list[str]) -> str:
        """``ip link add|set|del dev NAME ...`` (the subset a tc script needs)."""
        if not words or not matches(words[0], "link"):
            raise TcParseError(f'Object "{words[0] if words else ""}" is unknown, try "ip help".')
        words = words[1:]
        if not words:
            raise TcParseError(INCOMPLETE, 255)
        cmd, rest = words[0], words[1:]
        if matches(cmd, "add"):
            return self._link_add(rest)
        if matches(cmd, "set"):
            return self._link_set(rest)
        if matches(cmd, "delete"):
            name = _dev_name(rest)
            dev = self.device(name)
            if dev.qdisc is not None:
                dev.qdisc.destroy()
            del self.node.devices[name]
            self.world.devices.pop(dev.ifindex, None)
            return ""
        raise TcParseError(f'Command "{cmd}" is unknown, try "ip link help".', 255)

    def _link_add(self, words: list[str]) -> str:
        from qdisclab.net.tc.commands import install_default_root

        name, mtu, txqlen, kind, speed = None, 1500, 1000, None, None
        args = iter(words)
        for word in args:
            if word in ("dev", "name"):
                name = next(args, None)
            elif word == "mtu":
                mtu = _int(next(args, None), "mtu")
            elif matches(word, "txqueuelen") or word in ("qlen", "txqlen"):
                txqlen = _int(next(args, None), "txqueuelen")
            elif word == "type":
                kind = next(args, None)
            elif word == "speed":  # qdisclab: the speed "rate N%" refers to (ethtool's)
                speed = _int(next(args, None), "speed") * 1_000_000
            elif name is None:
                name = word
            else:
                raise TcParseError(f'Error: either "dev" is duplicate, or "{word}" is a garbage.')
        if name is None:
            raise TcParseError('Not enough information: "dev" argument is required.')
        if kind != "dummy":
            raise TcParseError("Error: only 'type dummy' devices can be added here.")
        if name in self.node.devices:
            raise KernelRefusal(errno.EEXIST)
        dev = self.world.new_device(self.node, name, mtu, txqlen)
        dev.active = False
        if speed:
            self.speeds[name] = speed
        install_default_root(dev)
        return ""

    def _link_set(self, words: list[str]) -> str:
        name = None
        args = iter(words)
        changes: list[tuple[str, Any]] = []
        for word in args:
            if word == "dev":
                name = next(args, None)
            elif word in ("up", "down"):
                changes.append((word, None))
            elif word == "mtu":
                changes.append(("mtu", _int(next(args, None), "mtu")))
            elif matches(word, "txqueuelen") or word in ("qlen", "txqlen"):
                changes.append(("txqueuelen", _int(next(args, None), "txqueuelen")))
            elif name is None:
                name = word
            else:
                raise TcParseError(f'Error: either "dev" is duplicate, or "{word}" is a garbage.')
        dev = self.device(name or "")
        for what, value in changes:
            if what == "up":
                self.brought_up.add(dev.name)
                dev.set_up()
            elif what == "down":
                dev.set_down()
            elif what == "mtu":
                dev.mtu = value
            else:
                dev.tx_queue_len = value
        return ""


def _dev_name(words: list[str]) -> str:
    if words and words[0] == "dev":
        words = words[1:]
    if not words:
        raise TcParseError('Not enough information: "dev" argument is required.')
    return words[0]


def _int(text: str | None, what: str) -> int:
    if text is None:
        raise TcParseError(INCOMPLETE, 255)
    try:
        return int(text, 0)
    except ValueError:
        raise TcParseError(f'Error: argument "{text}" is wrong: Invalid "{what}" value') from None
