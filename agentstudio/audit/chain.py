"""Appending to and verifying the hash chains of the audit log."""

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from django.db import transaction
from django.utils import timezone

from agentstudio.audit.models import AuditEvent, AuditStream


def canonical_json(value: Any) -> bytes:
    """Sorted keys, no spaces, UTF-8 with non-ASCII kept: the one hashing form."""
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str
    ).encode("utf-8")


def audit_row_hash(
    *,
    prev_hash: str,
    stream: str,
    seq: int,
    type: str,
    actor_label: str,
    data: Any,
    created_at: str,
) -> str:
    body = {
        "prev": prev_hash,
        "stream": stream,
        "seq": seq,
        "type": type,
        "actor": actor_label,
        "data": data,
        "at": created_at,
    }
    return hashlib.sha256(canonical_json(body)).hexdigest()


def actor_label_of(actor: Any) -> str:
    return actor.get_username() if actor is not None else "system"


@transaction.atomic
def audit_append(
    *, stream: str, type: str, actor: Any = None, organization: Any = None, data: Any = None
) -> AuditEvent:
    """Appends one row to `stream`, locking only that stream's head."""
    AuditStream.objects.get_or_create(key=stream)
    head = AuditStream.objects.select_for_update().get(key=stream)
    seq = head.last_seq + 1
    created_at = timezone.now()
    payload = json.loads(canonical_json(data or {}))
    label = actor_label_of(actor)
    row_hash = audit_row_hash(
        prev_hash=head.last_hash,
        stream=stream,
        seq=seq,
        type=type,
        actor_label=label,
        data=payload,
        created_at=created_at.isoformat(),
    )
    event = AuditEvent.objects.create(
        stream=stream,
        seq=seq,
        type=type,
        organization=organization,
        actor=actor,
        actor_label=label,
        data=payload,
        created_at=created_at,
        prev_hash=head.last_hash,
        hash=row_hash,
    )
    head.last_seq = seq
    head.last_hash = row_hash
    head.save(update_fields=["last_seq", "last_hash"])
    return event


@dataclass(frozen=True)
class BrokenLink:
    stream: str
    seq: int
    reason: str


def audit_verify() -> Iterator[BrokenLink]:
    """Yields the first broken link of every stream whose chain does not verify."""
    for head in AuditStream.objects.order_by("key").iterator():
        prev_hash = ""
        expected_seq = 1
        for row in AuditEvent.objects.filter(stream=head.key).order_by("seq").iterator():
            problem = None
            if row.seq != expected_seq:
                problem = f"expected seq {expected_seq}, found {row.seq}"
            elif row.prev_hash != prev_hash:
                problem = "prev_hash does not match the previous row"
            elif row.hash != audit_row_hash(
                prev_hash=row.prev_hash,
                stream=row.stream,
                seq=row.seq,
                type=row.type,
                actor_label=row.actor_label,
                data=row.data,
                created_at=row.created_at.isoformat(),
            ):
                problem = "row content does not match its hash"
            if problem:
                yield BrokenLink(stream=head.key, seq=row.seq, reason=problem)
                break
            prev_hash = row.hash
            expected_seq += 1
        else:
            if expected_seq - 1 != head.last_seq:
                yield BrokenLink(
                    stream=head.key, seq=expected_seq, reason="rows missing at the end"
                )
