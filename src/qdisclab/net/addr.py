"""IPv4 addresses as 32-bit integers, and prefixes.

>>> parse_ip("10.0.0.1") == 0x0A000001
True
>>> parse_prefix("10.1.0.0/16")
(167837696, 16)
"""

from __future__ import annotations

import ipaddress

from qdisclab.errors import UserError
from qdisclab.skb import ip_str

__all__ = ["ip_str", "parse_ip", "parse_prefix", "prefix_mask"]


def parse_ip(text: str | int) -> int:
    if isinstance(text, int):
        return text
    try:
        return int(ipaddress.IPv4Address(text.strip()))
    except ValueError:
        raise UserError(
            f"bad IPv4 address {text!r}: expected dotted quad such as '10.0.0.1'"
        ) from None


def parse_prefix(text: str) -> tuple[int, int]:
    """``"10.1.0.0/16"`` -> (network as int, prefix length); a bare address is a /32."""
    try:
        net = ipaddress.IPv4Network(text.strip(), strict=False)
    except ValueError:
        raise UserError(f"bad IPv4 prefix {text!r}: expected e.g. '10.1.0.0/16'") from None
    return int(net.network_address), net.prefixlen


def prefix_mask(length: int) -> int:
    return (0xFFFFFFFF << (32 - length)) & 0xFFFFFFFF if length else 0
