"""`qdisclab bpf header | build | inspect | verify` as a user runs them."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
from bpf_corpus import CORPUS, EXAMPLES, clang19, obj

from qdisclab.bpf.host_verify import _libbpf
from qdisclab.cli import main

# What each corpus object must show: struct_ops kind (or None) and some kfuncs it calls.
EXPECTED = {
    "fifo": ("bpf_fifo", {"bpf_qdisc_skb_drop", "bpf_list_push_back_impl", "bpf_kfree_skb"}),
    "fq": ("bpf_fq", {"bpf_rbtree_add_impl", "bpf_qdisc_watchdog_schedule", "bpf_skb_get_hash"}),
    "prio": ("bpf_prio", {"bpf_qdisc_create_child", "bpf_qdisc_enqueue", "bpf_qdisc_dequeue"}),
    "dctcp": ("bpf_dctcp", {"tcp_reno_cong_avoid"}),
    "cubic": ("bpf_cubic", {"tcp_slow_start", "tcp_cong_avoid_ai"}),
    "tc_count_mark": (None, set()),
}


@pytest.mark.parametrize("source", CORPUS, ids=lambda p: p.stem)
def test_inspect_lists_programs_maps_struct_ops_kfuncs(source: Path, capsys) -> None:
    path = source.with_suffix(".o")
    assert main(["bpf", "inspect", str(path), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    text = source.read_text()
    for p in summary["programs"]:
        # every listed program is one the source defines (directly or via list_queue.h)
        assert f'SEC("{p["section"]}")' in text or p["section"].startswith("struct_ops/")
        assert p["name"].split("_")[0] in text
    if "LIST_QUEUE_OPS" not in text:
        assert len(summary["programs"]) == text.count('SEC("struct_ops/') + text.count('SEC("tc')
    name = source.name.removesuffix(".bpf.c")
    if name in EXPECTED:
        kind, kfuncs = EXPECTED[name]
        assert [s["kind"] for s in summary["struct_ops"]] == ([kind] if kind else [])
        assert kfuncs <= set(summary["kfuncs"])
    # the table form names the same things
    assert main(["bpf", "inspect", str(path)]) == 0
    table = capsys.readouterr().out
    for p in summary["programs"]:
        assert p["name"] in table
    for m in summary["maps"]:
        assert m["name"] in table


def test_inspect_maps_of_tc_pair(capsys) -> None:
    assert main(["bpf", "inspect", str(obj("tc_count_mark")), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["maps"] == [
        {"name": "tc_stats", "type": "array", "key_size": 4, "value_size": 8, "max_entries": 4,
         "key": "__u32", "value": "__u64", "fields": []}
    ]  # fmt: skip
    assert {(p["name"], p["type"], p["attach"]) for p in summary["programs"]} == {
        ("count_ingress", "tcx", "ingress"),
        ("mark_egress", "tcx", "egress"),
    }


@pytest.mark.parametrize(
    ("path", "needle"),
    [
        ("tests/bpf/objects/unknown_kfunc.bpf.o", "extern kfunc 'bpf_qdisc_teleport'"),
        ("tests/bpf/objects/unmodelled_field.bpf.o", "no field 'secmark'"),
        ("nowhere.bpf.o", "cannot read"),
    ],
)
def test_inspect_errors_are_one_line_exit_2(path: str, needle: str, capsys) -> None:
    root = EXAMPLES.parent.parent
    assert main(["bpf", "inspect", str(root / path)]) == 2
    err = capsys.readouterr().err
    assert needle in err and err.count("\n") == 1 and "Traceback" not in err


def test_header_commands(capsys) -> None:
    assert main(["bpf", "header"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("/* vmlinux.h for qdisclab") and "struct bpf_sk_buff_ptr {" in out
    assert main(["bpf", "header", "--helpers"]) == 0
    assert "#define private(name)" in capsys.readouterr().out


def test_build_then_inspect(tmp_path: Path, capsys) -> None:
    clang19()
    src = tmp_path / "fifo.bpf.c"
    shutil.copy(EXAMPLES / "fifo.bpf.c", src)
    assert main(["bpf", "build", str(src)]) == 0
    assert "clang 19" in capsys.readouterr().out
    assert (tmp_path / "fifo.bpf.o").read_bytes() == obj("fifo").read_bytes()


def _can_verify() -> None:
    if os.geteuid() != 0:
        pytest.skip("loading programs into the kernel's verifier needs root")
    if _libbpf() is None:
        pytest.skip("libbpf1 not installed (scripts/install-test-deps.sh installs it)")
    if not Path("/sys/kernel/btf/vmlinux").exists():
        pytest.skip("the kernel exposes no BTF (/sys/kernel/btf/vmlinux)")


@pytest.mark.root
@pytest.mark.parametrize("name", ["tc_count_mark", "dctcp", "cubic"])
def test_host_verifier_accepts_tc_programs_and_congestion_controls(name: str, capsys) -> None:
    _can_verify()
    assert main(["bpf", "verify", str(obj(name))]) == 0
    assert "accepted" in capsys.readouterr().out


@pytest.mark.root
def test_host_verifier_rejects_the_unchecked_packet_read(capsys) -> None:
    _can_verify()
    assert main(["bpf", "verify", str(obj("must_fail/packet_oob"))]) == 1
    out = capsys.readouterr().out
    assert "rejected" in out and "invalid access to packet" in out


@pytest.mark.parametrize("name", ["fifo", "fq", "prio"])
def test_verify_reports_the_missing_qdisc_program_type(name: str, capsys) -> None:
    vmlinux = Path("/sys/kernel/btf/vmlinux")
    if not vmlinux.exists():
        pytest.skip("the kernel exposes no BTF (/sys/kernel/btf/vmlinux)")
    if b"bpf_struct_ops_Qdisc_ops" in vmlinux.read_bytes():
        pytest.skip("this kernel has the BPF qdisc (CONFIG_NET_SCH_BPF)")
    assert main(["bpf", "verify", str(obj(name))]) == 3
    assert "does not open struct Qdisc_ops to BPF" in capsys.readouterr().out
