"""Outbound URL checks: no private, loopback, link-local or metadata addresses unless the
host is listed in AGENTSTUDIO_HTTP_ALLOW (tests and local demos list 127.0.0.1)."""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urlsplit

from django.conf import settings


def _address_refused(address: str) -> bool:
    ip = ipaddress.ip_address(address)
    return (
        ip.is_private
        or ip.is_loopback
        or ip.is_link_local
        or ip.is_multicast
        or ip.is_reserved
        or ip.is_unspecified
    )


def url_refusal(url: str) -> str:
    """Why `url` may not be fetched, or "" when it may (resolves DNS; call on every hop)."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return "only http(s) URLs with a host are allowed"
    host = parts.hostname
    if host in settings.AGENTSTUDIO_HTTP_ALLOW:
        return ""
    try:
        infos = socket.getaddrinfo(host, parts.port or 443, proto=socket.IPPROTO_TCP)
    except OSError:
        return f"{host} does not resolve"
    for info in infos:
        if _address_refused(str(info[4][0])):
            return f"{host} resolves to a private or local address"
    return ""
