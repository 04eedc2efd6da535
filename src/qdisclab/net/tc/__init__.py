"""The ``tc`` front end: a simulated host taking iproute2 command lines (``TcHost``)."""

from qdisclab.net.tc.batch import run_batch, run_batch_json
from qdisclab.net.tc.host import CmdResult, TcHost

__all__ = ["CmdResult", "TcHost", "run_batch", "run_batch_json"]
