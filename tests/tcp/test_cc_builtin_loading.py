"""Built-in congestion controls load on first lookup, and are listed before that."""

from __future__ import annotations

import errno
import subprocess
import sys

import pytest

from qdisclab.errors import KernelError
from qdisclab.tcp.congestion import CongestionOps, register_cc, tcp_reno_ssthresh

PROBE = """
import sys
import qdisclab.tcp as tcp
loaded = lambda n: f"qdisclab.tcp.cc.{n}" in sys.modules
print(sorted(n for n in ("bbr", "cubic", "dctcp", "reno") if loaded(n)))
print(tcp.available_cc(), tcp.get_default_cc())
print(tcp.lookup_cc("dctcp").name, loaded("dctcp"), loaded("bbr"))
print(tcp.lookup_cc("no_such_cc"), tcp.available_cc())
"""


def test_a_builtin_is_imported_when_looked_up_and_listed_before():
    out = subprocess.run(
        [sys.executable, "-c", PROBE], capture_output=True, text=True, check=True
    ).stdout.splitlines()
    assert out[0] == "[]"  # importing TCP loads no congestion control
    assert out[1] == "['bbr', 'cubic', 'dctcp', 'reno'] cubic"
    assert out[2] == "dctcp True False"  # only the one looked up
    assert out[3] == "None ['bbr', 'cubic', 'dctcp', 'reno']"


def test_a_builtin_name_is_taken_before_its_first_use():
    class Impostor(CongestionOps):
        name = "bbr"

        def ssthresh(self, sk):
            return tcp_reno_ssthresh(sk)

        def cong_avoid(self, sk, ack, acked):
            pass

        def undo_cwnd(self, sk):
            return sk.snd_cwnd

    with pytest.raises(KernelError) as exc:
        register_cc(Impostor)
    assert exc.value.errno == errno.EEXIST
