"""Signed JSON POSTs to a receiver's URL (run callbacks, approval notifications): the body's
HMAC-SHA256 in `X-Signature`, no redirects followed, SSRF rules of the HTTP tools."""

from __future__ import annotations

import hashlib
import hmac

import httpx

from agentstudio.netguard import guarded_transport, url_refusal


def hmac_sha256(secret: str, body: bytes) -> str:
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def signed_post(url: str, body: bytes, *, secret: str, headers: dict[str, str]) -> int | None:
    """POSTs `body` once; None when the URL is refused (private address, bad scheme). A 5xx
    raises OSError, so the calling task retries; other statuses are returned."""
    if url_refusal(url):
        return None
    with httpx.Client(
        timeout=10, follow_redirects=False, trust_env=False, transport=guarded_transport()
    ) as client:
        response = client.post(
            url,
            content=body,
            headers={
                "Content-Type": "application/json",
                "X-Signature": f"sha256={hmac_sha256(secret, body)}",
                **headers,
            },
        )
    if response.status_code >= 500:
        raise OSError(f"{url} answered {response.status_code}")
    return response.status_code
