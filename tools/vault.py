"""The vault: secrets encrypted at rest with Fernet (AES-128-CBC + HMAC-SHA256), written by
admins, read only by the broker at call time, and scrubbed from anything a call returns.

Keys come from AGENTSTUDIO_VAULT_KEYS (comma-separated Fernet keys, newest first: older
keys still decrypt, so keys can be rotated). Without it the key is derived from the
Django secret key, which suits the embedded default but ties the vault to that key.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Collection, Mapping
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.db import transaction

from agentstudio.accounts.roles import org_admin_assert
from agentstudio.audit import events as audit_events
from agentstudio.errors import AppError, ErrorCode
from agentstudio.secret_references import json_pointer_join, vault_references
from tools.vault_logs import vault_logs_watch


class VaultError(Exception):
    """A secret that does not exist or cannot be decrypted (the key changed)."""


class VaultHandleForged(Exception):
    """A handle-shaped value the playbook's author did not write: data never resolves."""

    def __init__(self, path: str) -> None:
        super().__init__(
            f"Arguments hold a vault handle at {path or '/'} that the playbook's author did "
            "not write: a secret resolves only from vault('name') in the spec."
        )
        self.path = path


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
    value = vault_decrypt(secret.ciphertext)
    vault_logs_watch(value)  # from now on, no log line of this process shows it
    return value


def vault_resolve_arguments(
    arguments: Any, *, organization_id: Any, authored: Mapping[str, Any]
) -> tuple[Any, list[str]]:
    """Arguments with each handle the author wrote (`authored`: JSON Pointer → name, from
    the spec's vault() calls) replaced by its secret, and the secrets used (to scrub from
    whatever the call returns). Any other handle-shaped value arrived as data (an input,
    an output, a caller's arguments, an edit): VaultHandleForged, and nothing resolves."""
    found = vault_references(arguments)
    for path in sorted(found):
        if path not in authored or authored[path] != found[path]:
            raise VaultHandleForged(path)
    if not found:
        return arguments, []
    used: list[str] = []

    def walk(value: Any, path: str) -> Any:
        if path in found:
            secret = vault_resolve(organization_id=organization_id, name=found[path])
            used.append(secret)
            return secret
        if isinstance(value, dict):
            return {key: walk(item, json_pointer_join(path, key)) for key, item in value.items()}
        if isinstance(value, list):
            return [walk(item, json_pointer_join(path, i)) for i, item in enumerate(value)]
        return value

    return walk(arguments, ""), used


def vault_scrub(value: Any, secrets: Collection[str]) -> Any:
    """`value` with every secret replaced by a marker, wherever it appears in a string: the
    one scrub for every way out of the broker (results, errors, records and logs)."""
    if not secrets:
        return value
    if isinstance(value, str):
        for secret in secrets:
            if secret:
                value = value.replace(secret, "[secret]")
        return value
    if isinstance(value, dict):
        return {key: vault_scrub(item, secrets) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [vault_scrub(item, secrets) for item in value]
    return value
