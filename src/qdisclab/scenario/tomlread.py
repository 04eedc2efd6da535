"""The TOML reader: the compiled ``tomli`` when installed, else the standard library's ``tomllib``.

``tomllib`` is ``tomli`` vendored into the standard library as pure Python;
tomli's PyPI wheels are compiled with mypyc and parse a 256-flow scenario
about three times faster.  Both give the same values and raise
``TOMLDecodeError`` with the same ``... (at line N, column M)`` messages, so
the loader's one-line errors do not depend on which one is installed.

>>> loads('rate = "10mbit"\\nlimit = 5\\n')
{'rate': '10mbit', 'limit': 5}
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tomllib import TOMLDecodeError, loads
else:
    try:
        from tomli import TOMLDecodeError, loads
    except ImportError:  # tomli not installed: the standard library's copy
        from tomllib import TOMLDecodeError, loads

__all__ = ["TOMLDecodeError", "loads"]
