"""API-key authentication: `Authorization: Bearer as_<prefix>_<secret>`."""

import hashlib
import hmac
from datetime import timedelta
from typing import Any

from django.utils import timezone
from rest_framework import authentication, exceptions

from agentstudio.accounts.bearer import bearer_token
from agentstudio.accounts.models import ApiKey

API_KEY_PREFIX = "as_"
LAST_USED_RESOLUTION = timedelta(seconds=60)


def api_key_hash(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def api_key_split(raw: str) -> tuple[str, str] | None:
    """`as_<prefix>_<secret>` → (prefix, raw); None when it does not look like our key."""
    if not raw.startswith(API_KEY_PREFIX):
        return None
    parts = raw[len(API_KEY_PREFIX) :].split("_", 1)
    if len(parts) != 2 or not parts[0] or not parts[1]:
        return None
    return parts[0], raw


class ApiKeyAuthentication(authentication.BaseAuthentication):
    """Finds the key by its public prefix and compares the SHA-256 of the whole key."""

    keyword = "Bearer"

    def authenticate(self, request: Any) -> tuple[Any, ApiKey] | None:
        credential = bearer_token(
            authentication.get_authorization_header(request).decode("latin-1")
        )
        if credential is None:
            return None
        split = api_key_split(credential)
        if split is None:
            # Not an API key: a run scope token (JWT) is checked by the tool endpoints.
            if credential.count(".") == 2:
                return None
            raise exceptions.AuthenticationFailed("Invalid API key.")
        prefix, raw = split
        key = ApiKey.objects.select_related("user", "organization").filter(prefix=prefix).first()
        if key is None or not hmac.compare_digest(key.key_hash, api_key_hash(raw)):
            raise exceptions.AuthenticationFailed("Invalid API key.")
        if key.revoked_at is not None:
            raise exceptions.AuthenticationFailed("This API key was revoked.")
        if not key.user.is_active:
            raise exceptions.AuthenticationFailed("The user of this API key is inactive.")
        now = timezone.now()
        if key.last_used_at is None or now - key.last_used_at > LAST_USED_RESOLUTION:
            ApiKey.objects.filter(pk=key.pk).update(last_used_at=now)
        return key.user, key

    def authenticate_header(self, request: Any) -> str:
        return self.keyword
