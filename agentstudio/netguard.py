"""Outbound URL checks: only globally routable addresses, unless the host is listed in
AGENTSTUDIO_HTTP_ALLOW (tests and local demos list 127.0.0.1)."""

from __future__ import annotations

import ipaddress
import socket
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings

# Refused although ipaddress may call them global (its tables differ between Python versions):
# shared address space (carrier-grade NAT; 100.100.100.200 is a cloud metadata address), the
# IPv4-compatible ::/96 and the local-use NAT64 prefix, whose embedding varies with its length.
_NEVER_GLOBAL = tuple(
    ipaddress.ip_network(network)
    for network in ("100.64.0.0/10", "::/96", "64:ff9b:1::/48", "2001::/32")
)
_NAT64_WELL_KNOWN = ipaddress.ip_network("64:ff9b::/96")


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> list[ipaddress.IPv4Address]:
    """The IPv4 addresses a translated or tunnelled IPv6 address reaches in the end."""
    if ip.ipv4_mapped is not None:
        return [ip.ipv4_mapped]
    if ip.sixtofour is not None:
        return [ip.sixtofour]
    if ip.teredo is not None:
        return list(ip.teredo)
    if ip in _NAT64_WELL_KNOWN:
        return [ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)]
    return []


def _one_address_refused(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    if ip.is_multicast or not ip.is_global:
        return True
    return any(ip.version == network.version and ip in network for network in _NEVER_GLOBAL)


def address_refusal(address: str) -> str:
    """Why a connection to `address` is refused, or "" when it is globally routable.

    An IPv6 address that carries an IPv4 one (mapped, 6to4, Teredo, NAT64) is judged by the
    IPv4 address too, so ::ffff:127.0.0.1 or 2002:a00:1:: cannot reach what 127.0.0.1 cannot.
    """
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return f"{address!r} is not an IP address"
    if isinstance(ip, ipaddress.IPv6Address) and ip.scope_id:
        return "a scoped (link-local) address"
    candidates = [ip]
    if isinstance(ip, ipaddress.IPv6Address):
        candidates += _embedded_ipv4(ip)
    if any(_one_address_refused(candidate) for candidate in candidates):
        return "a private or local address (not globally routable)"
    return ""


def url_refusal(url: str) -> str:
    """Why `url` may not be fetched, or "" when it may (resolves DNS; call on every hop)."""
    parts = urlsplit(url)
    try:
        host, port = parts.hostname, parts.port
    except ValueError:
        return "the URL's port is not a number"
    if parts.scheme not in ("http", "https") or not host:
        return "only http(s) URLs with a host are allowed"
    if host in settings.AGENTSTUDIO_HTTP_ALLOW:
        return ""
    try:
        infos = socket.getaddrinfo(host, port or 443, proto=socket.IPPROTO_TCP)
    except (OSError, UnicodeError):
        return f"{host} does not resolve"
    for info in infos:
        refusal = address_refusal(str(info[4][0]))
        if refusal:
            return f"{host} resolves to {refusal}"
    return ""


def _connect_backend() -> Any:
    import httpcore

    class _CheckedBackend(httpcore.SyncBackend):
        """Connects only to addresses that pass the guard, resolved here, at connect time:
        a name that resolved to a public address when url_refusal looked cannot point the
        connection at a private one a moment later (DNS rebinding)."""

        def connect_tcp(self, host: str, port: int, *args: Any, **kwargs: Any) -> Any:
            if host in settings.AGENTSTUDIO_HTTP_ALLOW:
                return super().connect_tcp(host, port, *args, **kwargs)
            try:
                infos = socket.getaddrinfo(host, port, proto=socket.IPPROTO_TCP)
            except (OSError, UnicodeError) as exc:
                raise httpcore.ConnectError(f"{host} does not resolve") from exc
            addresses = [str(info[4][0]) for info in infos]
            for address in addresses:
                refusal = address_refusal(address)
                if refusal:
                    raise httpcore.ConnectError(f"{host} resolves to {refusal}")
            return super().connect_tcp(addresses[0], port, *args, **kwargs)

    return _CheckedBackend()


def guarded_transport() -> Any:
    """An httpx transport whose every connection (each redirect hop too) passes the guard
    on the address it actually connects to; TLS still verifies the URL's host name."""
    import httpx

    transport = httpx.HTTPTransport(trust_env=False)
    # httpx has no argument for httpcore's network backend (httpx and httpcore are pinned).
    transport._pool._network_backend = _connect_backend()
    return transport
