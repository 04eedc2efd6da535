"""The instruction conformance corpus (tests/bpf/conformance/*.toml) on both engines.

Expected results in the corpus come from the ISA specification, worked out by
hand; each case runs on the interpreter and on the translator.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest
from bpf_engines import ENGINES, corpus_resolver

from qdisclab.bpf.asm import assemble
from qdisclab.bpf.code import Code
from qdisclab.bpf.errors import BpfLoadError
from qdisclab.bpf.fault import BpfFault
from qdisclab.bpf.memory import BytesRegion, Memory

CORPUS = Path(__file__).parent / "conformance"
OUTCOMES = ("r0", "fault", "load_error")


def _cases() -> list:
    params = []
    for path in sorted(CORPUS.glob("*.toml")):
        for case in tomllib.loads(path.read_text())["case"]:
            for engine in ENGINES:
                params.append(pytest.param(case, engine, id=f"{path.stem}:{case['name']}:{engine}"))
    return params


def test_corpus_is_well_formed() -> None:
    files = sorted(CORPUS.glob("*.toml"))
    assert len(files) >= 9
    names = set()
    for path in files:
        for case in tomllib.loads(path.read_text())["case"]:
            assert sum(k in case for k in OUTCOMES) == 1, case["name"]
            assert ("fault" in case) == ("fault_pc" in case), case["name"]
            assert (path.stem, case["name"]) not in names
            names.add((path.stem, case["name"]))
    assert len(names) > 150


@pytest.mark.parametrize(("case", "engine"), _cases())
def test_conformance(case: dict, engine: str) -> None:
    code = (
        Code(case["name"], bytes.fromhex(case["raw"]))
        if "raw" in case
        else assemble(case["asm"], name="case")
    )
    memory = Memory()
    args = []
    region = None
    if "mem" in case:
        data = bytearray.fromhex(case["mem"])
        region = BytesRegion("mem", data, writable=not case.get("mem_readonly", False))
        args.append(memory.map(region))
    limits = {k: case[k] for k in ("budget", "max_loops") if k in case}
    if "load_error" in case:
        with pytest.raises(BpfLoadError) as err:
            ENGINES[engine](code, corpus_resolver(), memory, **limits)
        assert case["load_error"] in str(err.value)
        return
    prog = ENGINES[engine](code, corpus_resolver(), memory, **limits)
    if "fault" in case:
        with pytest.raises(BpfFault) as fault:
            prog.run(*args)
        assert case["fault"] in fault.value.message
        assert fault.value.pc == case["fault_pc"]
        assert fault.value.program == "case"
    else:
        assert prog.run(*args) == case["r0"]
    if "mem_after" in case:
        assert region is not None and region.data.hex() == case["mem_after"]
