"""The kernel-types table: bindings exist, the header compiles, offsets agree with clang."""

from __future__ import annotations

import subprocess
import types
from pathlib import Path

import pytest
from bpf_corpus import clang19

from qdisclab.bpf.kernel_types import KERNEL_TYPES, resolve_path
from qdisclab.bpf.vmlinux_header import helper_header_path, vmlinux_h, write_include_dir
from qdisclab.net.device import NetDevice
from qdisclab.sched.context import QdiscContext
from qdisclab.skb.skbuff import SkBuff
from qdisclab.tcp.congestion import AckSample
from qdisclab.tcp.sock import TcpSock
from qdisclab.tcx.context import SkbContext

CLASSES = {
    "SkBuff": SkBuff,
    "Qdisc": QdiscContext,  # a program's struct Qdisc is the sch a Python policy receives
    "NetDevice": NetDevice,
    "TcpSock": TcpSock,
    "AckSample": AckSample,
    "SkbContext": SkbContext,  # a tc program's __sk_buff is the ctx a Python program receives
}
# What a pointer field leads to, for dotted bindings ("dev.ifindex").
POINTEE_CLASS = {"dev": NetDevice, "sk": TcpSock}


def slots(cls: type) -> set[str]:
    """Instance slots and the views a class offers (not the properties that refuse access)."""
    names = {name for klass in cls.__mro__ for name in getattr(klass, "__slots__", ())}
    for klass in cls.__mro__:
        for name, value in vars(klass).items():
            if isinstance(value, property) and not (value.__doc__ or "").startswith("refused"):
                names.add(name)
            elif isinstance(value, types.GetSetDescriptorType | types.MemberDescriptorType):
                names.add(
                    name
                )  # a compiled class keeps its attributes as descriptors, no __slots__
    return names


def test_every_binding_names_an_attribute_of_the_viewed_class() -> None:
    checked = 0
    for st in KERNEL_TYPES.values():
        cls = CLASSES.get(st.views)
        if cls is None:
            assert st.views in ("", "struct_ops"), st.name
            continue
        for f in st.fields:
            if not f.attr or f.attr.startswith("@"):
                continue
            first, *rest = f.attr.split(".")
            assert first in slots(cls), f"{st.name}.{f.name} -> {cls.__name__}.{first}"
            if rest:
                assert rest[0] in slots(POINTEE_CLASS[first]), f"{st.name}.{f.name}"
            checked += 1
    assert checked > 60


def test_sk_buff_uapi_layout_is_the_kernels() -> None:
    st = KERNEL_TYPES["__sk_buff"]
    expected = {"len": 0, "mark": 8, "priority": 32, "cb": 48, "hash": 68, "tc_classid": 72}
    expected |= {"data": 76, "data_end": 80, "flow_keys": 144, "tstamp": 152, "sk": 168}
    expected |= {"hwtstamp": 184}
    assert {name: st.field(name).offset for name in expected} == expected
    assert st.size == 192


def test_writable_fields_follow_the_kernels_rules() -> None:
    writable = {
        name: sorted(f.name for f in KERNEL_TYPES[name].fields if f.writable)
        for name in ("sk_buff", "Qdisc", "qdisc_skb_cb")
    }
    assert writable == {
        "sk_buff": ["cb", "tstamp"],
        "Qdisc": ["limit"],
        "qdisc_skb_cb": ["data"],
    }
    assert all(f.writable and f.derived for f in KERNEL_TYPES["gnet_stats_queue"].fields)


def test_field_at_and_resolve_path() -> None:
    tp = KERNEL_TYPES["tcp_sock"]
    icsk = KERNEL_TYPES["inet_connection_sock"]
    at = tp.field("inet_conn").offset + icsk.field("icsk_ca_priv").offset + 16
    assert [f.name for f in tp.field_at(at, 8)] == ["inet_conn", "icsk_ca_priv"]
    assert tp.field_at(tp.size + 4) == []
    assert [f.attr for f in resolve_path("sock", ["__sk_common", "skc_state"])] == ["", "state"]
    with pytest.raises(KeyError, match="struct Qdisc has no field 'ops'"):
        resolve_path("Qdisc", ["ops"])


def _compile(tmp_path: Path, body: str) -> subprocess.CompletedProcess:
    include = write_include_dir(tmp_path / "include")
    src = tmp_path / "check.c"
    src.write_text(f'#include "vmlinux.h"\n#include "qdisclab_bpf.h"\n{body}\n')
    return subprocess.run(
        [clang19(), "-target", "bpfel", "-O2", "-g", "-Wall", "-Werror", f"-I{include}", "-c",
         str(src), "-o", str(tmp_path / "check.o")],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip


def test_clang_lays_out_the_header_as_the_table_says(tmp_path: Path) -> None:
    asserts = []
    for st in KERNEL_TYPES.values():
        asserts.append(f'_Static_assert(sizeof(struct {st.name}) == {st.size}, "{st.name}");')
        for f in st.fields:
            if f.bitfield:
                continue
            asserts.append(
                f"_Static_assert(__builtin_offsetof(struct {st.name}, {f.name}) == {f.offset}, "
                f'"{st.name}.{f.name}");'
            )
    result = _compile(tmp_path, "\n".join(asserts))
    assert result.returncode == 0, result.stderr[:2000]


def test_uapi_sk_buff_matches_the_system_header(tmp_path: Path) -> None:
    uapi = Path("/usr/include/linux/bpf.h")
    if not uapi.exists():
        pytest.skip("no /usr/include/linux/bpf.h (linux-libc-dev)")
    st = KERNEL_TYPES["__sk_buff"]
    lines = ["#include <linux/bpf.h>"]
    lines += [
        f'_Static_assert(__builtin_offsetof(struct __sk_buff, {f.name}) == {f.offset}, "{f.name}");'
        for f in st.fields
    ]
    src = tmp_path / "uapi.c"
    src.write_text("\n".join(lines) + "\n")
    result = subprocess.run(
        [clang19(), "-target", "bpfel", "-I/usr/include/x86_64-linux-gnu", "-fsyntax-only",
         str(src)],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[:2000]


def test_header_declares_what_programs_need() -> None:
    text = vmlinux_h()
    for name in ("bpf_sk_buff_ptr", "Qdisc_ops", "tcp_congestion_ops", "qdisc_skb_cb"):
        assert f"struct {name} {{" in text
    assert "enum tcp_ca_event {" in text and "CA_EVENT_ECN_IS_CE = 5," in text
    helpers = helper_header_path().read_text()
    for macro in ("#define SEC(", "#define __kptr", "#define __contains(", "#define private(",
                  "#define bpf_for(", "#define __uint(", "BPF_CORE_READ_BITFIELD"):  # fmt: skip
        assert macro in helpers


def test_header_rejects_a_field_it_does_not_model(tmp_path: Path) -> None:
    good = _compile(tmp_path, "int f(struct sk_buff *s) { return s->len; }")
    assert good.returncode == 0, good.stderr
    bad = _compile(tmp_path, "int f(struct sk_buff *s) { return s->secmark; }")
    assert bad.returncode != 0 and "secmark" in bad.stderr
