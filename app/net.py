"""The client's address: the TCP peer, or the first untrusted X-Forwarded-For hop."""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence

from aiohttp import web

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def _trusted(address: str, proxies: Sequence[Network]) -> bool:
    try:
        ip = ipaddress.ip_address(address.strip())
    except ValueError:
        return False
    return any(ip in network for network in proxies)


def client_ip(request: web.BaseRequest, trusted_proxies: Sequence[Network]) -> str:
    peer = request.transport.get_extra_info("peername") if request.transport else None
    address = peer[0] if peer else (request.remote or "unknown")
    if not trusted_proxies or not _trusted(address, trusted_proxies):
        return address
    # Walk the chain from the nearest hop outwards; the first hop we do not trust is the
    # client as far as we can tell (anything further out could be forged).
    hops = [h.strip() for h in request.headers.getall("X-Forwarded-For", []) for h in h.split(",")]
    for hop in reversed([h for h in hops if h]):
        if not _trusted(hop, trusted_proxies):
            return hop
    return address
