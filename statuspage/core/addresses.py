"""Client addresses as the rate limits count them: one IPv4 address, or one IPv6 /64."""

from __future__ import annotations

import ipaddress

#: An IPv6 customer gets at least a /64: counting single addresses would hand whoever holds one
#: 2**64 fresh "clients" for every per-address limit.
IPV6_PREFIX = 64
#: Longest key a non-address REMOTE_ADDR (a unix socket path, a test client) is kept as.
MAX_RAW = 64


def rate_key(address: str) -> str:
    """The unit a per-address limit counts `address` in: the IPv4 address or its IPv6 /64."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address[:MAX_RAW]
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        # int() drops a zone id (fe80::1%eth0), which ip_network would refuse.
        return str(ipaddress.IPv6Network((int(ip), IPV6_PREFIX), strict=False))
    return str(ip)
