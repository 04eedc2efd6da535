"""A misbehaving extension on the command line: strict exits 1 with one diagnostic line,
contain finishes the run with the fault in the results and the books balanced."""

from __future__ import annotations

import json

import pytest

from qdisclab.cli import main

from .test_errors import GOOD

PROGRAMS = """
from qdisclab.tcx import TCX_NEXT

def raises(ctx):
    raise KeyError("no such flow")

def returns_none(ctx):
    return None

def fine(ctx):
    return TCX_NEXT
"""


def run(tmp_path, capsys, program: str, policy: str) -> tuple[int, str, str]:
    (tmp_path / "progs.py").write_text(PROGRAMS)
    text = GOOD + f'\n[[tcx]]\ndev = "A:eth0"\nprogram = "progs.py:{program}"\nname = "{program}"\n'
    (tmp_path / "s.toml").write_text(text)
    code = main(["run", str(tmp_path / "s.toml"), "--json", "--policy", policy,
                 "--duration", "300ms"])  # fmt: skip
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.mark.parametrize(("program", "fragment"),
                         [("raises", "raised KeyError"), ("returns_none", "returned None")])  # fmt: skip
def test_strict_exits_1_with_one_line_naming_program_and_problem(tmp_path, capsys, program,
                                                                  fragment):  # fmt: skip
    code, _out, err = run(tmp_path, capsys, program, "strict")
    lines = err.strip().splitlines()
    assert code == 1, err
    assert len(lines) == 1 and lines[0].startswith("qdisclab: fault: "), err
    assert program in lines[0] and fragment in lines[0] and "egress" in lines[0]


@pytest.mark.parametrize("program", ["raises", "returns_none"])
def test_contain_finishes_with_the_fault_listed_and_books_balanced(tmp_path, capsys, program):
    code, out, err = run(tmp_path, capsys, program, "contain")
    assert code == 0, err
    res = json.loads(out)
    assert any(program in json.dumps(f) for f in res["faults"]), res["faults"]
    books = res["conservation"]
    dropped = sum(books["dropped"].values())
    assert books["sent"] == books["delivered"] + dropped + books["in_flight"]


def test_a_well_behaved_program_has_no_fault(tmp_path, capsys):
    code, out, err = run(tmp_path, capsys, "fine", "strict")
    assert code == 0, err
    assert json.loads(out)["faults"] == []
