"""Bad values in scenario files: bounded, one line naming the file and field, exit 2.

Each case was a hang or a traceback before; the run is made short so a
regression shows as a failure rather than a hang.
"""

from __future__ import annotations

import pytest

from fuzz.generate import QDISC_FILE  # tests/ is on the path, as for every test package
from qdisclab.cli import main

from .test_errors import GOOD


def run_file(tmp_path, capsys, text: str | bytes, *extra: str) -> tuple[int, str]:
    path = tmp_path / "bad.toml"
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text)
    code = main(["run", str(path), "--json", *extra])
    return code, capsys.readouterr().err


def assert_one_line(err: str, tmp_path, *fragments: str) -> None:
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert "Traceback" not in err
    assert lines[0].startswith(f"qdisclab: error: {tmp_path / 'bad.toml'}"), err
    for fragment in fragments:
        assert fragment in lines[0], err


FLOW = '[[flow]]\ntype = "udp-cbr"\nsrc = "A"\ndst = "B"\nrate = "1mbit"\n'

CASES = [
    # (old, new, fragments)
    ('duration = "100ms"', 'duration = "1e999999999s"', ["run.duration", "out of range"]),
    ('duration = "100ms"', 'duration = "0s"', ["run.duration", "above zero"]),
    ('duration = "100ms"', 'duration = "9223372036854775808ns"', ["out of range", "9223372036854775807"]),
    ('rate = "10mbit"', 'rate = "1e999999999gbit"', ["link[0].rate", "out of range"]),
    ('rate = "10mbit"', 'rate = "1e12gbit"', ["link[0].rate", "out of range"]),
    ('rate = "10mbit"', 'rate = "1e400"', ["link[0].rate", "out of range"]),
    ('rate = "10mbit"', "rate = 1e400", ["link[0].rate"]),
    ('rate = "10mbit"', "rate = nan", ["link[0].rate"]),
    ('rate = "10mbit"', 'rate = "0mbit"', ["link[0].rate", "above zero"]),
    ('rate = "10mbit"', f'rate = "{"9" * 5000}"', ["link[0].rate", "more than 40 digits"]),
    ('rate = "10mbit"', f"rate = {'9' * 5000}", ["TOML syntax error"]),
    ('rate = "10mbit"', 'rate = "10mbit"\njitter = 1e400', ["link[0].jitter"]),
    ('rate = "10mbit"', 'rate = "10mbit"\njitter = "1e400s"', ["link[0].jitter", "out of range"]),
    ('rate = "1mbit"', 'rate = "1e9gbit"', ["flow[0].rate", "packet_budget"]),
    ('rate = "1mbit"', 'rate = "1mbit"\nsize = 0', ["flow[0].size", "above zero"]),
    ('rate = "1mbit"', 'rate = "1mbit"\nsize = "1e10gb"', ["flow[0].size", "out of range"]),
    ('type = "udp-cbr"', 'type = "ping"\ninterval = "0ms"', ["flow[0].interval", "above zero"]),
    ('type = "udp-cbr"', 'type = "ping"\ninterval = "1ns"', ["flow[0].interval", "packet_budget"]),
    ('duration = "100ms"', 'duration = "100ms"\nwindow = ["80ms", "20ms"]', ["run.window", "start before end"]),
    ('duration = "100ms"', 'duration = "100ms"\n[run.record]\ntraces = ["A:eth0"]\ntrace_interval = "0"', ["trace_interval", "above zero"]),
    ('duration = "100ms"', 'duration = "100ms"\n[run.record]\ntraces = ["A:eth0"]\ntrace_interval = "1ns"', ["trace_interval", "packet_budget"]),
    ('qdisc_a = "pfifo limit 10"', 'qdisc_a = "pfifo limit 10"\n[[link.filter]]\nclassid = "1:1"\nmatch = { dport = "abc" }', ["link[0].filter[0].match.dport", "found 'abc'", "0..65535"]),
    ('qdisc_a = "pfifo limit 10"', 'qdisc_a = "pfifo limit 10"\n[[link.filter]]\nclassid = "1:1"\nmatch = { dport = 70000 }', ["match.dport", "found 70000"]),
    ('qdisc_a = "pfifo limit 10"', 'qdisc_a = "pfifo limit 10"\n[[link.filter]]\nclassid = "1:1"\nmatch = { dst = "10.0.0.300/8" }', ["match.dst", "IPv4"]),
    ('duration = "100ms"', 'duration = "100ms"\nx = ' + "[" * 1000 + "]" * 1000, ["nested deeper than 16"]),
    ('duration = "100ms"', 'duration = "100ms"\nx = ' + "[" * 100 + "]" * 100, ["run.x", "nested deeper than 16"]),
    ('duration = "100ms"', 'duration = "100ms"\nqueue_memory = "0b"', ["run.queue_memory", "above zero"]),
]  # fmt: skip


@pytest.mark.parametrize(("old", "new", "fragments"), CASES)
def test_bad_value_is_one_line_naming_file_and_field(tmp_path, capsys, old, new, fragments):
    assert old in GOOD
    code, err = run_file(tmp_path, capsys, GOOD.replace(old, new, 1))
    assert code == 2, err
    assert_one_line(err, tmp_path, *fragments)


@pytest.mark.parametrize(
    "data",
    [GOOD.replace("[run]", '# café\n[run]').encode("latin-1"), b"\xff\xfe" + GOOD.encode("utf-16-le")],
)  # fmt: skip
def test_a_file_that_is_not_utf8_says_so_with_its_line(tmp_path, capsys, data):
    code, err = run_file(tmp_path, capsys, data)
    assert code == 2
    assert_one_line(err, tmp_path, "not UTF-8 text")


def test_a_latin1_byte_is_located_on_its_line(tmp_path, capsys):
    code, err = run_file(
        tmp_path, capsys, GOOD.replace("[[link]]", "# caf\xe9\n[[link]]").encode("latin-1")
    )
    assert code == 2
    line = GOOD.splitlines().index("[[link]]") + 1
    assert_one_line(err, tmp_path, f"bad.toml:{line}: not UTF-8", "0xe9")


@pytest.mark.parametrize(
    ("override", "fragment"),
    [
        ("link.0.rate.x=1", "'rate' is '10mbit', not a table"),
        ("run.duration.x=1", "'duration' is '100ms', not a table"),
        ("run=5", "run: found 5"),
        ("run.x=" + "[" * 100 + "]" * 100, "nested deeper than 16"),
    ],
)
def test_set_into_a_value_names_the_key(tmp_path, capsys, override, fragment):
    code, err = run_file(tmp_path, capsys, GOOD, "--set", override)
    assert code == 2
    assert_one_line(err, tmp_path, fragment)


@pytest.mark.parametrize(
    ("top", "member", "fragments"),
    [
        ("import sys\nsys.exit(3)", "", ["extension[0].class", "ext.py", "called sys.exit(3)"]),
        ("raise KeyboardInterrupt", "", ["ext.py", "raised KeyboardInterrupt"]),
        ("1 / 0", "", ["ext.py", "ZeroDivisionError"]),
        ("", "options = {'limit': 5}", ["class Bad", "options['limit'] must be an Opt", "found 5"]),
        ("", "options = 7", ["class Bad", "options must be a dict"]),
        ("", "@classmethod\n    def parse_options(cls, tokens):\n        raise RuntimeError('boom')",
         ["link[0].qdisc_a", "ext.py:Bad.parse_options raised RuntimeError: boom"]),
    ],
)  # fmt: skip
def test_failing_extension_names_its_file_and_class(tmp_path, capsys, top, member, fragments):
    qid = f"bad{abs(hash((top, member))) % 10**6}"  # one registration per case
    (tmp_path / "ext.py").write_text(QDISC_FILE.format(top=top, member=member, name="Bad", qid=qid))
    text = GOOD.replace('"pfifo limit 10"', f'"{qid}"') + '\n[[extension]]\nclass = "ext.py:Bad"\n'
    code, err = run_file(tmp_path, capsys, text)
    assert code == 2, err
    assert_one_line(err, tmp_path, *fragments)


def test_an_error_found_while_building_names_the_file_and_link(tmp_path, capsys):
    # fq's init refuses a zero quantum, as sch_fq's fq_change does: found while building
    code, err = run_file(tmp_path, capsys, GOOD.replace('"pfifo limit 10"', '"fq quantum 0"'))
    assert code == 2
    line = GOOD.splitlines().index('qdisc_a = "pfifo limit 10"') + 1
    assert_one_line(err, tmp_path, f"bad.toml:{line}: link[0].qdisc_a", "quantum")


@pytest.mark.parametrize(
    ("ref", "fragments"),
    [
        ("prog.py:NOT_CALLABLE", ["tcx[0].program", "is not callable (found int)"]),
        ("prog.py:missing", ["tcx[0].program", "has no 'missing'"]),
    ],
)
def test_a_tcx_program_that_cannot_run_is_refused_at_load(tmp_path, capsys, ref, fragments):
    (tmp_path / "prog.py").write_text("NOT_CALLABLE = 5\n")
    text = GOOD + f'\n[[tcx]]\ndev = "A:eth0"\nprogram = "{ref}"\n'
    code, err = run_file(tmp_path, capsys, text)
    assert code == 2
    assert_one_line(err, tmp_path, *fragments)


def test_a_device_that_does_not_exist_names_the_file(tmp_path, capsys):
    (tmp_path / "prog.py").write_text("def prog(ctx):\n    return -1\n")
    code, err = run_file(
        tmp_path, capsys, GOOD + '\n[[tcx]]\ndev = "A:eth7"\nprogram = "prog.py:prog"\n'
    )
    assert code == 2
    assert_one_line(err, tmp_path, "no device 'A:eth7'")


@pytest.mark.parametrize("text", ["", "# nothing here\n", '[run]\nduration = "1s"\n'])
def test_a_scenario_without_nodes_is_refused(tmp_path, capsys, text):
    code, err = run_file(tmp_path, capsys, text)
    assert code == 2
    assert_one_line(err, tmp_path, "no [[node]] defined")


def test_a_tcp_flow_counts_against_the_packet_budget_at_its_link_rate(tmp_path, capsys):
    tcp = GOOD.replace('type = "udp-cbr"', 'type = "tcp-bulk"').replace('rate = "1mbit"\n', "")
    forever = tcp.replace('duration = "100ms"', 'duration = "9223372036854775807ns"')
    code, err = run_file(tmp_path, capsys, forever)
    assert code == 2
    assert_one_line(
        err, tmp_path, "flow[0].type", "this TCP flow, at its link's rate", "packet_budget"
    )
    code, err = run_file(tmp_path, capsys, tcp)  # 100 ms at 10 mbit: well inside the budget
    assert code == 0, err
