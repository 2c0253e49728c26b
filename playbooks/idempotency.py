"""Idempotency-Key handling: the first successful response to a key is replayed for 24 hours.

A request names its key in the `Idempotency-Key` header. The key belongs to one user of one
organization and one endpoint (the scope); the request hash is the SHA-256 of the canonical
JSON of the parsed body. Usage, inside the transaction that does the work:

    replay = idempotency_replay(claim=claim)        # outside: a stored response, or None
    with transaction.atomic():
        record = idempotency_claim(claim=claim)     # holds the key until commit
        ...do the work...
        idempotency_complete(record=record, status=201, body=body)

A concurrent request with the same key waits on the key's unique index until the first one
commits, then gets `IdempotencyKeyTaken` and replays the stored response instead. A failed
request rolls its claim back, so only successful (2xx) responses are ever stored.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder
from django.db import IntegrityError, transaction
from django.utils import timezone

from agentstudio.audit.chain import canonical_json
from agentstudio.errors import AppError, ErrorCode
from playbooks.models import IdempotencyRecord

IDEMPOTENCY_TTL = timedelta(hours=24)
IDEMPOTENCY_KEY_MAX_LENGTH = 200
IDEMPOTENCY_HEADER = "Idempotency-Key"


class IdempotencyKeyTaken(Exception):
    """Another request with the same key committed first; replay its response."""


@dataclass(frozen=True)
class IdempotencyClaim:
    """Who used which key on which endpoint, with the hash of what they sent."""

    organization_id: Any
    user_id: Any
    scope: str
    key: str
    request_hash: str

    def records(self) -> Any:
        return IdempotencyRecord.objects.filter(
            organization_id=self.organization_id,
            user_id=self.user_id,
            scope=self.scope,
            key=self.key,
        )


def idempotency_request_hash(body: Any) -> str:
    """SHA-256 hex of the canonical JSON (sorted keys, no spaces, UTF-8) of the parsed body."""
    return hashlib.sha256(canonical_json(body)).hexdigest()


def idempotency_key_checked(raw: str | None) -> str | None:
    """The header's value, or None when absent; 400 when empty or too long."""
    if raw is None:
        return None
    key = raw.strip()
    if not key or len(key) > IDEMPOTENCY_KEY_MAX_LENGTH:
        raise AppError(
            ErrorCode.VALIDATION_ERROR,
            f"{IDEMPOTENCY_HEADER} must be 1 to {IDEMPOTENCY_KEY_MAX_LENGTH} characters.",
            details=[{"path": f"/headers/{IDEMPOTENCY_HEADER}", "message": "1-200 characters"}],
        )
    return key


def _cutoff() -> Any:
    return timezone.now() - IDEMPOTENCY_TTL


def idempotency_replay(*, claim: IdempotencyClaim) -> IdempotencyRecord | None:
    """The stored response for this key within 24 hours, or None; 409 when the key was used
    with another body."""
    record = claim.records().filter(created_at__gte=_cutoff(), response_status__gt=0).first()
    if record is None:
        return None
    if record.request_hash != claim.request_hash:
        raise AppError(
            ErrorCode.INVALID_STATE,
            f"This {IDEMPOTENCY_HEADER} was used with a different request body; use a new key "
            "for a new request.",
            details=[{"path": f"/headers/{IDEMPOTENCY_HEADER}", "message": "reused key"}],
        )
    return record


def idempotency_claim(*, claim: IdempotencyClaim) -> IdempotencyRecord:
    """Inside the caller's transaction: takes the key (an expired record of it is dropped)."""
    claim.records().filter(created_at__lt=_cutoff()).delete()
    try:
        with transaction.atomic():
            return IdempotencyRecord.objects.create(
                organization_id=claim.organization_id,
                user_id=claim.user_id,
                scope=claim.scope,
                key=claim.key,
                request_hash=claim.request_hash,
                response_status=0,
                response_body={},
            )
    except IntegrityError as exc:
        raise IdempotencyKeyTaken(claim.key) from exc


def idempotency_complete(*, record: IdempotencyRecord, status: int, body: Any) -> None:
    """Stores the response the key replays; only 2xx responses reach this point."""
    record.response_status = status
    record.response_body = json.loads(json.dumps(body, cls=DjangoJSONEncoder))
    record.save(update_fields=["response_status", "response_body"])
