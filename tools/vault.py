"""The vault: secrets encrypted at rest with Fernet (AES-128-CBC + HMAC-SHA256), written by
admins, read only by the broker at call time, and scrubbed from anything a call returns.

Keys come from AGENTSTUDIO_VAULT_KEYS (comma-separated Fernet keys, newest first: older
keys still decrypt, so keys can be rotated). Without it the key is derived from the
Django secret key, which suits the embedded default but ties the vault to that key.
"""

from __future__ import annotations

import base64
import hashlib
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.db import transaction

from agentstudio.accounts.roles import org_admin_assert
from agentstudio.audit import events as audit_events
from agentstudio.errors import AppError, ErrorCode

VAULT_MARKER = "$vault"  # an argument value {"$vault": name} is a handle to a secret


class VaultError(Exception):
    """A secret that does not exist or cannot be decrypted (the key changed)."""


def _cipher() -> MultiFernet:
    keys = [key.strip() for key in settings.AGENTSTUDIO_VAULT_KEYS if key.strip()]
    if not keys:
        derived = hashlib.sha256(b"agentstudio-vault:" + settings.SECRET_KEY.encode()).digest()
        keys = [base64.urlsafe_b64encode(derived).decode()]
    return MultiFernet([Fernet(key.encode()) for key in keys])


def vault_encrypt(value: str) -> bytes:
    return _cipher().encrypt(value.encode())


def vault_decrypt(ciphertext: bytes) -> str:
    try:
        return _cipher().decrypt(bytes(ciphertext)).decode()
    except InvalidToken as exc:
        raise VaultError("the secret cannot be decrypted with the configured keys") from exc


@transaction.atomic
def secret_set(*, organization: Any, actor: Any, name: str, value: str) -> Any:
    """Creates or replaces a secret (admins); the value is stored encrypted only."""
    from tools.models import VAULT_NAME_VALIDATOR, Secret

    org_admin_assert(actor=actor, organization=organization, what="manage the vault")
    try:
        VAULT_NAME_VALIDATOR(name)
    except Exception as exc:
        raise AppError(
            ErrorCode.VALIDATION_ERROR,
            "Invalid secret name.",
            details=[{"path": "/name", "message": VAULT_NAME_VALIDATOR.message}],
        ) from exc
    if not isinstance(value, str) or not value:
        raise AppError(
            ErrorCode.VALIDATION_ERROR,
            "A secret needs a value.",
            details=[{"path": "/value", "message": "Send a non-empty string."}],
        )
    secret, created = Secret.objects.update_or_create(
        organization=organization,
        name=name,
        defaults={"ciphertext": vault_encrypt(value), "created_by": actor},
    )
    audit_events.secret_written(organization=organization, actor=actor, name=name, created=created)
    return secret


@transaction.atomic
def secret_delete(*, organization: Any, actor: Any, name: str) -> None:
    from tools.models import Secret

    org_admin_assert(actor=actor, organization=organization, what="manage the vault")
    deleted, _ = Secret.objects.filter(organization=organization, name=name).delete()
    if not deleted:
        raise AppError(ErrorCode.NOT_FOUND, f"No secret named {name!r}.")
    audit_events.secret_deleted(organization=organization, actor=actor, name=name)


def vault_resolve(*, organization_id: Any, name: str) -> str:
    """The plaintext of a secret: for the broker, at call time, and nobody else."""
    from tools.models import Secret

    secret = Secret.objects.filter(organization_id=organization_id, name=name).first()
    if secret is None:
        raise VaultError(f"there is no secret named {name!r} in this organization's vault")
    return vault_decrypt(secret.ciphertext)


def vault_resolve_arguments(arguments: Any, *, organization_id: Any) -> tuple[Any, list[str]]:
    """Arguments with every `{"$vault": name}` handle replaced by its secret, and the
    secrets used (to scrub from whatever the call returns)."""
    used: list[str] = []

    def walk(value: Any) -> Any:
        if isinstance(value, dict):
            if set(value) == {VAULT_MARKER} and isinstance(value[VAULT_MARKER], str):
                secret = vault_resolve(organization_id=organization_id, name=value[VAULT_MARKER])
                used.append(secret)
                return secret
            return {key: walk(item) for key, item in value.items()}
        if isinstance(value, list):
            return [walk(item) for item in value]
        return value

    return walk(arguments), used


def vault_has_handles(arguments: Any) -> bool:
    if isinstance(arguments, dict):
        return VAULT_MARKER in arguments or any(vault_has_handles(v) for v in arguments.values())
    if isinstance(arguments, list):
        return any(vault_has_handles(item) for item in arguments)
    return False


def vault_scrub(value: Any, secrets: list[str]) -> Any:
    """`value` with every secret replaced by a marker, wherever it appears in a string."""
    if not secrets:
        return value
    if isinstance(value, str):
        for secret in secrets:
            if secret:
                value = value.replace(secret, "[secret]")
        return value
    if isinstance(value, dict):
        return {key: vault_scrub(item, secrets) for key, item in value.items()}
    if isinstance(value, list):
        return [vault_scrub(item, secrets) for item in value]
    return value
