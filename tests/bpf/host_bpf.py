"""Loading a program through the running kernel's verifier with the raw bpf(2) syscall.

Only what the verdict comparison needs: array maps and BPF_PROG_TYPE_SCHED_CLS
programs, the verifier log returned. Root only; :func:`available` says
whether this machine can.
"""

from __future__ import annotations

import ctypes
import os
import struct

from qdisclab.bpf import isa
from qdisclab.bpf.code import Code

_SYS_BPF = 321  # x86_64
_BPF_MAP_CREATE, _BPF_PROG_LOAD = 0, 5
BPF_PROG_TYPE_SCHED_CLS = 3
_libc = ctypes.CDLL(None, use_errno=True)


def _bpf(cmd: int, attr: bytes) -> int:
    buf = ctypes.create_string_buffer(attr, 128)
    fd = _libc.syscall(_SYS_BPF, cmd, buf, 128)
    if fd < 0:
        raise OSError(ctypes.get_errno(), os.strerror(ctypes.get_errno()))
    return fd


BPF_MAP_TYPE_HASH, BPF_MAP_TYPE_ARRAY = 1, 2


def create_map(kind: int, key_size: int, value_size: int, max_entries: int) -> int:
    return _bpf(_BPF_MAP_CREATE, struct.pack("=IIII", kind, key_size, value_size, max_entries))


def load(
    code: Code, maps: dict[str, int], prog_type: int = BPF_PROG_TYPE_SCHED_CLS
) -> tuple[bool, str]:
    """(accepted, the verifier's log) for ``code`` with its map symbols bound to fds."""
    raw = bytearray(code.insns)
    for insn in isa.decode(code.insns):
        name = code.symbols.get(insn.slot)
        if insn.code == isa.LD_IMM64 and insn.src == isa.BPF_PSEUDO_MAP_FD and name in maps:
            struct.pack_into("<i", raw, insn.slot * 8 + 4, maps[name])
    insns = ctypes.create_string_buffer(bytes(raw))
    lic = ctypes.create_string_buffer(b"GPL")
    log = ctypes.create_string_buffer(1 << 20)
    attr = struct.pack(
        "=IIQQIIQII16sII",
        prog_type,
        len(raw) // 8,
        ctypes.addressof(insns),
        ctypes.addressof(lic),
        1,
        len(log),
        ctypes.addressof(log),
        0,
        0,
        b"qdisclab",
        0,
        0,
    )
    try:
        fd = _bpf(_BPF_PROG_LOAD, attr)
    except OSError:
        return False, log.value.decode(errors="replace")
    os.close(fd)
    return True, ""


def available() -> str | None:
    """None when this machine can load programs, else why not."""
    if os.uname().machine != "x86_64":
        return "the raw bpf(2) syscall number here is x86_64's"
    if os.geteuid() != 0:
        return "loading BPF programs through the kernel's verifier needs root"
    try:
        fd = create_map(BPF_MAP_TYPE_ARRAY, 4, 4, 1)
    except OSError as exc:
        return f"the kernel refuses bpf(2): {exc}"
    os.close(fd)
    return None
