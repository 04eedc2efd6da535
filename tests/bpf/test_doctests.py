"""The examples in qdisclab.bpf's docstrings run and print what they say."""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

import qdisclab.bpf

MODULES = sorted(
    info.name
    for info in pkgutil.iter_modules(qdisclab.bpf.__path__, "qdisclab.bpf.")
    if info.name.rsplit(".", 1)[-1]
    in {
        "btf", "btf_build", "btf_ext", "build", "core", "elf", "errors", "externs",
        "global_data", "helper_ids", "kernel_layout", "kernel_types", "map_defs",
        "program", "special_fields", "struct_ops_maps", "vmlinux_header",
    }
)  # fmt: skip


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name: str) -> None:
    result = doctest.testmod(importlib.import_module(name))
    assert result.attempted > 0 and result.failed == 0
