"""Reads the credential of an `Authorization: Bearer <credential>` header, for the REST API
(API keys, run scope tokens) and the MCP endpoint alike."""


def bearer_token(header: str | None) -> str | None:
    """The credential of a Bearer header, stripped (empty when the header names the scheme
    only); None when the header is missing or names another scheme. The scheme is matched
    without regard to case, as RFC 7235 asks."""
    scheme, _, credential = (header or "").partition(" ")
    if scheme.lower() != "bearer":
        return None
    return credential.strip()
