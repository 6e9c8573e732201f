"""Who is calling, and over what: the client's address and whether the request came over HTTPS, believing
X-Forwarded-For and X-Forwarded-Proto only from the proxies the settings trust (`CAREPATH_TRUSTED_PROXIES`).

carepath runs uvicorn with its own proxy-header handling off, so a header from anyone else changes nothing.
"""

from __future__ import annotations

import ipaddress
from functools import lru_cache

from starlette.requests import HTTPConnection

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@lru_cache(maxsize=32)
def _networks(trusted: tuple[str, ...]) -> tuple[Network, ...]:
    return tuple(ipaddress.ip_network(entry, strict=False) for entry in trusted)


def _trusted(address: str | None, trusted: tuple[str, ...]) -> bool:
    if not address or not trusted:
        return False
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in _networks(trusted))


def _trusted_list(request: HTTPConnection) -> tuple[str, ...]:
    return tuple(request.app.state.services.settings.trusted_proxies)


def client_address(request: HTTPConnection) -> str | None:
    """The client's address: the peer's, or behind trusted proxies the nearest address they did not add themselves."""
    peer = request.client.host if request.client else None
    trusted = _trusted_list(request)
    if not _trusted(peer, trusted):
        return peer
    hops = [hop.strip() for hop in request.headers.get("x-forwarded-for", "").split(",") if hop.strip()]
    for hop in reversed(hops):
        if not _trusted(hop, trusted):
            return hop[:64]
    return hops[0][:64] if hops else peer


def is_https(request: HTTPConnection) -> bool:
    """Whether the browser reached us over HTTPS (directly, or through a trusted proxy that says so)."""
    if request.url.scheme == "https":
        return True
    peer = request.client.host if request.client else None
    if not _trusted(peer, _trusted_list(request)):
        return False
    proto = request.headers.get("x-forwarded-proto", "").split(",")[-1].strip().lower()
    return proto == "https"
