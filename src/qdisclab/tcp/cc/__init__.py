"""Built-in congestion controls, one file each, named like the kernel's modules.

``BUILTIN_CC`` is the congestion-control registry's list of built-ins: each
is imported the first time its name is looked up (``lookup_cc``), as the
kernel loads ``tcp_<name>`` on demand, so a run pays only for the controls it
uses; listings (``available_cc``) name them all from the start.

>>> BUILTIN_CC["cubic"]
'qdisclab.tcp.cc.cubic'
"""

from __future__ import annotations

#: The built-in controls: the name each registers → the module that defines it.
BUILTIN_CC: dict[str, str] = {
    name: f"qdisclab.tcp.cc.{name}" for name in ("bbr", "cubic", "dctcp", "reno")
}
