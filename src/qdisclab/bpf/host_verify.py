"""``qdisclab bpf verify``: load an object through the running kernel's verifier.

Uses the system's libbpf (Debian package ``libbpf1``) through ctypes: open the
object, give each program the type its section means to qdisclab (older
libbpf does not know ``tcx/`` or ``netkit/``), load — which runs every program
through the verifier and, for struct_ops maps, checks them against the
kernel's ops type — and close again. Nothing is attached. Needs root (or
CAP_BPF + CAP_NET_ADMIN).

Outcomes: :data:`ACCEPTED`, :data:`REJECTED` (with the verifier log tail),
:data:`UNSUPPORTED` when the kernel lacks the program type (the BPF qdisc:
``struct Qdisc_ops`` is not in its BTF), or :data:`UNAVAILABLE` (not root, no
libbpf).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
from dataclasses import dataclass, field
from pathlib import Path

from qdisclab.bpf.elf import program_type
from qdisclab.bpf.objects import load_object

ACCEPTED = "accepted"
REJECTED = "rejected"
UNSUPPORTED = "unsupported"
UNAVAILABLE = "unavailable"

# enum bpf_prog_type
BPF_PROG_TYPE_SCHED_CLS = 3
_PROG_TYPES = {"tc": BPF_PROG_TYPE_SCHED_CLS, "tcx": BPF_PROG_TYPE_SCHED_CLS}
_PROG_TYPES["netkit"] = BPF_PROG_TYPE_SCHED_CLS
VMLINUX_BTF = Path("/sys/kernel/btf/vmlinux")
LOG_TAIL = 12


@dataclass(slots=True)
class Verdict:
    outcome: str
    reason: str
    log: list[str] = field(default_factory=list)


def _libbpf() -> ctypes.CDLL | None:
    name = ctypes.util.find_library("bpf") or "libbpf.so.1"
    try:
        lib = ctypes.CDLL(name, use_errno=True)
    except OSError:
        return None
    lib.bpf_object__open_file.restype = ctypes.c_void_p
    lib.bpf_object__open_file.argtypes = [ctypes.c_char_p, ctypes.c_void_p]
    lib.bpf_object__load.argtypes = [ctypes.c_void_p]
    lib.bpf_object__close.argtypes = [ctypes.c_void_p]
    lib.bpf_object__next_program.restype = ctypes.c_void_p
    lib.bpf_object__next_program.argtypes = [ctypes.c_void_p, ctypes.c_void_p]
    lib.bpf_program__section_name.restype = ctypes.c_char_p
    lib.bpf_program__section_name.argtypes = [ctypes.c_void_p]
    lib.bpf_program__set_type.argtypes = [ctypes.c_void_p, ctypes.c_int]
    return lib


def _kernel_has_struct_ops(name: str) -> bool | None:
    """Whether the running kernel opens ``struct name`` to BPF as struct_ops (None: no BTF).

    The kernel describes each such type with a ``bpf_struct_ops_<name>``
    struct; that name occurs in no other role, so finding it among the BTF
    strings answers without parsing the kernel's several megabytes of types.
    """
    try:
        data = VMLINUX_BTF.read_bytes()
    except OSError:
        return None
    return b"\0bpf_struct_ops_" + name.encode() + b"\0" in data


_PRINT_FN = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_void_p)


def verify(path: str | Path) -> Verdict:
    """Run ``path`` through the host kernel's verifier; see the module docstring."""
    obj = load_object(path)  # qdisclab's own checks first: a clear error beats a kernel log
    for ops in obj.struct_ops.values():
        has = _kernel_has_struct_ops(ops.struct)
        if has is False:
            return Verdict(
                UNSUPPORTED,
                f"this kernel does not open struct {ops.struct} to BPF (no "
                f"bpf_struct_ops_{ops.struct} in its BTF; for Qdisc_ops that is "
                f"CONFIG_NET_SCH_BPF off), so struct_ops map {ops.name} cannot load here",
            )
    if os.geteuid() != 0:
        return Verdict(UNAVAILABLE, "loading BPF programs needs root")
    lib = _libbpf()
    if lib is None:
        return Verdict(UNAVAILABLE, "libbpf is not installed (Debian: apt-get install libbpf1)")
    log: list[str] = []
    libc = ctypes.CDLL(None)
    libc.vsnprintf.argtypes = [ctypes.c_char_p, ctypes.c_size_t, ctypes.c_char_p, ctypes.c_void_p]

    @_PRINT_FN
    def collect(level: int, fmt: bytes, args: int) -> int:
        buf = ctypes.create_string_buffer(4096)
        libc.vsnprintf(buf, len(buf), fmt, args)
        log.extend(buf.value.decode("utf-8", "replace").splitlines())
        return 0

    lib.libbpf_set_print.restype = ctypes.c_void_p
    lib.libbpf_set_print.argtypes = [_PRINT_FN]
    previous = lib.libbpf_set_print(collect)
    try:
        handle = lib.bpf_object__open_file(str(path).encode(), None)
        if not handle:
            err = ctypes.get_errno()
            return Verdict(
                REJECTED, f"libbpf could not open it: {os.strerror(err)}", log[-LOG_TAIL:]
            )
        try:
            prog = lib.bpf_object__next_program(handle, None)
            while prog:
                section = lib.bpf_program__section_name(prog).decode()
                kind = program_type(section)
                if kind is not None and kind[0] in _PROG_TYPES:
                    lib.bpf_program__set_type(prog, _PROG_TYPES[kind[0]])
                prog = lib.bpf_object__next_program(handle, prog)
            err = lib.bpf_object__load(handle)
        finally:
            lib.bpf_object__close(handle)
    finally:
        lib.libbpf_set_print(ctypes.cast(previous, _PRINT_FN) if previous else _PRINT_FN(0))
    if err:
        return Verdict(REJECTED, f"the kernel refused it ({os.strerror(-err)})", log[-LOG_TAIL:])
    names = ", ".join(sorted(obj.programs))
    return Verdict(ACCEPTED, f"the kernel's verifier accepted {names}", log[-LOG_TAIL:])
