"""Built-in congestion controls, one file each, named like the kernel's modules.

Each is imported the first time its name is looked up (``lookup_cc``), as the
kernel loads ``tcp_<name>`` on demand, so a run pays only for the controls it
uses; listings (``available_cc``) name them all from the start.

>>> BUILTIN_CC["cubic"]
'qdisclab.tcp.cc.cubic'
"""

from __future__ import annotations

import importlib
import sys

#: The built-in controls: the name each registers → the module that defines it.
BUILTIN_CC: dict[str, str] = {
    name: f"qdisclab.tcp.cc.{name}" for name in ("bbr", "cubic", "dctcp", "reno")
}


def load_builtin_cc(name: str) -> None:
    """Import the built-in control ``name`` (which registers it); nothing for other names."""
    module = BUILTIN_CC.get(name)
    if module is not None and module not in sys.modules:
        importlib.import_module(module)


def unloaded_builtin_cc() -> list[str]:
    """The built-in names whose module is not imported yet (registered once looked up)."""
    return [name for name, module in BUILTIN_CC.items() if module not in sys.modules]
