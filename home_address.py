"""Validation of a home's public address, shared by the stack config, the IpGuard Lambda and the
Pi agent, so all three accept and refuse exactly the same values.

Standard library only: this file is shipped inside the Lambda's archive and next to the Pi agent.
The special-purpose ranges are listed here rather than taken from `ipaddress.is_global`, whose
tables differ between Python 3.11 (the Pi), 3.12 and 3.13 (the Lambda).
"""

from __future__ import annotations

import ipaddress

IPV6_MIN_PREFIX = 48
_MAX_TEXT = 64

CGNAT = ipaddress.IPv4Network("100.64.0.0/10")  # carrier-grade NAT: where DS-Lite lines sit

# IANA IPv4 special-purpose registry plus multicast and the old class E: never a home's address.
_IPV4_NOT_GLOBAL = (CGNAT,) + tuple(
    ipaddress.IPv4Network(cidr)
    for cidr in (
        "0.0.0.0/8", "10.0.0.0/8", "127.0.0.0/8", "169.254.0.0/16",
        "172.16.0.0/12", "192.0.0.0/24", "192.0.2.0/24", "192.31.196.0/24", "192.52.193.0/24",
        "192.88.99.0/24", "192.168.0.0/16", "192.175.48.0/24", "198.18.0.0/15",
        "198.51.100.0/24", "203.0.113.0/24", "224.0.0.0/4", "240.0.0.0/4",
    )
)

# Global unicast is 2000::/3; inside it, these are documentation, transition or special ranges.
_IPV6_GLOBAL_UNICAST = ipaddress.IPv6Network("2000::/3")
_IPV6_NOT_GLOBAL = tuple(
    ipaddress.IPv6Network(cidr)
    for cidr in (
        "2001::/23", "2001:db8::/32", "2002::/16", "3fff::/20", "2620:4f:8000::/48",
    )
)


class AddressError(ValueError):
    """A value that is not a usable home address; the message says why."""


def _text(value: object, what: str) -> str:
    if not isinstance(value, str):
        raise AddressError(f"{what} must be a string, got {type(value).__name__}")
    if not value or len(value) > _MAX_TEXT or value.strip() != value:
        raise AddressError(f"{what} {value[:_MAX_TEXT]!r} is not an address")
    return value


def normalise_ipv4(value: object) -> str:
    """'203.0.113.7' or '203.0.113.7/32' -> '203.0.113.7/32', if globally routable unicast."""
    text = _text(value, "IPv4 address")
    address_text, slash, length = text.partition("/")
    if slash and length != "32":
        raise AddressError(f"IPv4 {text!r} must be a single address (/32), not a range")
    try:
        address = ipaddress.IPv4Address(address_text)
    except ValueError:
        raise AddressError(f"{text!r} is not an IPv4 address") from None
    if any(address in network for network in _IPV4_NOT_GLOBAL):
        raise AddressError(f"IPv4 {text!r} is not a globally routable unicast address")
    return f"{address}/32"


def normalise_ipv6_prefix(value: object) -> str:
    """'2a01:db8:1:2::/64' -> the same, normalised; /48 to /128, globally routable unicast."""
    text = _text(value, "IPv6 prefix")
    if "/" not in text:
        raise AddressError(f"IPv6 prefix {text!r} needs a length, e.g. 2a01:4f8:1:2::/64")
    try:
        network = ipaddress.IPv6Network(text, strict=False)
    except ValueError:
        raise AddressError(f"{text!r} is not an IPv6 prefix") from None
    if network.network_address != ipaddress.IPv6Address(text.partition("/")[0]):
        # Read leniently, an address with a length names the whole prefix around it: a
        # /56 written as one of its hosts would open the group wider than the writer saw.
        raise AddressError(f"IPv6 prefix {text!r} has host bits set; did you mean {network}?")
    if not IPV6_MIN_PREFIX <= network.prefixlen <= 128:
        raise AddressError(
            f"IPv6 prefix {text!r} must be /{IPV6_MIN_PREFIX} to /128, not /{network.prefixlen}"
        )
    if not network.subnet_of(_IPV6_GLOBAL_UNICAST) or any(
        network.subnet_of(special) for special in _IPV6_NOT_GLOBAL
    ):
        raise AddressError(f"IPv6 prefix {text!r} is not globally routable unicast")
    return str(network)


def classify(value: object) -> tuple[str, str]:
    """A home CIDR of either family -> ('ipv4', '…/32') or ('ipv6', '…/nn')."""
    text = _text(value, "home CIDR")
    if ":" in text:
        return "ipv6", normalise_ipv6_prefix(text)
    return "ipv4", normalise_ipv4(text)
