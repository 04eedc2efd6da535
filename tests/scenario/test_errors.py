"""Bad scenario files: one clear line naming file, line and field; exit code 2."""

import re

import pytest

from qdisclab.cli import main

GOOD = """[run]
duration = "100ms"

[[node]]
name = "A"

[[node]]
name = "B"

[[link]]
a = "A"
b = "B"
rate = "10mbit"
qdisc_a = "pfifo limit 10"

[[flow]]
type = "udp-cbr"
src = "A"
dst = "B"
rate = "1mbit"
"""

CASES = [
    # (replace old -> new, expected line, pattern)
    ('duration = "100ms"', 'duration = 5.5.5', None, r"TOML syntax error"),
    ('rate = "10mbit"', "rate = true", 13, r"link\[0\]\.rate: found True"),
    ('[run]\n', "[run]\nspeed = 3\n", 2, r"run\.speed: unknown key 'speed'; allowed keys: duration"),
    ('rate = "10mbit"', 'rate = "10mbt"', 13, r"link\[0\]\.rate: found '10mbt'.*unknown unit 'mbt'"),
    ('"pfifo limit 10"', '"pfifo limt 10"', 14, r"link\[0\]\.qdisc_a: .*unknown parameter \"limt\""),
    ('dst = "B"', 'dst = "C"', 19, r"flow\[0\]\.dst: found 'C'; allowed: A, B"),
    ('[[flow]]', '[[extension]]\nclass = "nosuch_pkg.mod:Q"\n\n[[flow]]', 17, r"extension\[0\]\.class: found 'nosuch_pkg.mod:Q': cannot import"),
    ('[[flow]]', '[[extension]]\nclass = "qdisclab.sched:Nope"\n\n[[flow]]', 17, r"has no 'Nope'"),
    ('type = "udp-cbr"', 'type = "udp-cbrr"', 17, r"flow\[0\]\.type: found 'udp-cbrr'; allowed: ping, tcp-bulk, tcp-rr, tcp-transfer, udp-cbr"),
    ('type = "udp-cbr"', 'type = "tcp-bulk"\ncc = "cubc"', 18, r"flow\[0\]\.cc: found 'cubc'; allowed: .*bbr, cubic, dctcp, reno"),
    ('type = "udp-cbr"', 'type = "tcp-bulk"\nmss = 9000', 18, r"flow\[0\]\.mss: found 9000; allowed: at most 1448"),
    ('type = "udp-cbr"', 'type = "tcp-transfer"', 16, r"flow\[0\]\.bytes: found None; allowed: a size to transfer"),
    ('type = "udp-cbr"', 'type = "tcp-bulk"\necn = "yes"', 18, r"flow\[0\]\.ecn: found 'yes'; allowed: Input should be a valid boolean"),
]  # fmt: skip


@pytest.mark.parametrize("old,new,line,pattern", CASES)
def test_bad_file_one_line_exit_2(tmp_path, capsys, old, new, line, pattern):
    path = tmp_path / "bad.toml"
    assert old in GOOD
    path.write_text(GOOD.replace(old, new, 1))
    assert main(["run", str(path), "--json"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    assert err.startswith(f"qdisclab: error: {path}:")
    if line is not None:
        assert f"{path}:{line}:" in err, err
    assert re.search(pattern, err), err


def test_good_file_runs(tmp_path, capsys):
    path = tmp_path / "good.toml"
    path.write_text(GOOD)
    assert main(["run", str(path), "--json"]) == 0
    assert '"A->B"' in capsys.readouterr().out


def test_unknown_builtin_and_bad_override(capsys):
    assert main(["run", "nosuch"]) == 2
    assert "unknown scenario 'nosuch'" in capsys.readouterr().err
    assert main(["run", "udp-dumbbell", "--set", "link.nolink.rate=1mbit"]) == 2
    assert "no element named 'nolink'" in capsys.readouterr().err


def test_user_qdisc_class_from_file(tmp_path, capsys):
    (tmp_path / "myq.py").write_text(
        "from qdisclab.sched import QdiscOps, NET_XMIT_SUCCESS\n"
        "from qdisclab.ops import SkbList\n"
        "class Tiny(QdiscOps):\n"
        "    id = 'tiny_fifo'\n"
        "    def init(self, sch, opt):\n        self.q = SkbList(); sch.limit = 5\n"
        "    def enqueue(self, skb, sch, to_free):\n"
        "        if sch.qlen >= sch.limit:\n            return sch.drop(skb, to_free)\n"
        "        self.q.push_back(skb); return NET_XMIT_SUCCESS\n"
        "    def dequeue(self, sch):\n        return self.q.pop_front()\n"
        "    def reset(self, sch):\n        pass\n"
        "    def destroy(self, sch):\n        pass\n"
    )
    text = GOOD.replace('"pfifo limit 10"', '"tiny_fifo"').replace('"1mbit"', '"20mbit"')
    (tmp_path / "s.toml").write_text(text + '\n[[extension]]\nclass = "myq.py:Tiny"\n')
    assert main(["run", str(tmp_path / "s.toml"), "--json"]) == 0
    import json

    res = json.loads(capsys.readouterr().out)
    q = next(q for q in res["qdiscs"] if q["kind"] == "tiny_fifo")
    assert q["drops"] > 0  # 20 mbit into 10 mbit with 5 packets of room
