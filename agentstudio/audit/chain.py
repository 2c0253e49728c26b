"""Appending to and verifying the hash chains of the audit log."""

import hashlib
import json
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import orjson
from django.db import transaction
from django.utils import timezone

from agentstudio.audit.models import AuditEvent, AuditStream, time_ordered_uuid
from agentstudio.model_instances import model_instance


def canonical_json(value: Any) -> bytes:
    """Sorted keys, no spaces, UTF-8 with non-ASCII kept: the one hashing form. Documents of
    strings, booleans, nulls, 64-bit integers, lists and string-keyed objects (every row the
    engine writes) are encoded by orjson, which gives the same bytes for them several times
    faster; anything else (floats, datetimes, ...) by the standard library, as always."""
    if _plain(value):
        return orjson.dumps(value, option=orjson.OPT_SORT_KEYS)
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str
    ).encode("utf-8")


def _plain(value: Any) -> bool:
    kind = type(value)
    if kind is str or kind is bool or value is None:
        return True
    if kind is int:
        return -(2**63) <= value < 2**64
    if kind is dict:
        return all(type(key) is str and _plain(item) for key, item in value.items())
    if kind is list:
        return all(_plain(item) for item in value)
    return False


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
    [event], (head.last_seq, head.last_hash) = audit_rows_build(
        stream=stream,
        head=(head.last_seq, head.last_hash),
        organization_id=getattr(organization, "pk", None),
        items=[(type, json.loads(canonical_json(data or {})))],
        created_at=timezone.now(),
        actor=actor,
    )
    event.save(force_insert=True)
    head.save(update_fields=["last_seq", "last_hash"])
    return event


def run_audit_stream(run_id: Any) -> str:
    """The chain of one run's tool calls and transitions; its head is kept on the run row."""
    return f"run:{run_id}"


def audit_rows_build(
    *,
    stream: str,
    head: tuple[int, str],
    organization_id: Any,
    items: list[tuple[str, dict[str, Any]]],
    created_at: Any,
    actor: Any = None,
) -> tuple[list[AuditEvent], tuple[int, str]]:
    """Unsaved rows by `actor` (the system when None) that extend a chain whose head is
    `head` (seq, hash), and the new head. The caller holds the head: an AuditStream row's
    lock (`audit_append`), or a run's lease or row lock (the engine)."""
    rows: list[AuditEvent] = []
    seq, prev_hash = head
    stamp = created_at.isoformat()
    label = actor_label_of(actor)
    for type_, data in items:
        seq += 1
        row_hash = audit_row_hash(
            prev_hash=prev_hash,
            stream=stream,
            seq=seq,
            type=type_,
            actor_label=label,
            data=data,
            created_at=stamp,
        )
        rows.append(
            model_instance(
                AuditEvent,
                id=time_ordered_uuid(),
                stream=stream,
                seq=seq,
                type=type_,
                organization_id=organization_id,
                actor=actor,
                actor_label=label,
                data=data,
                created_at=created_at,
                prev_hash=prev_hash,
                hash=row_hash,
            )
        )
        prev_hash = row_hash
    return rows, (seq, prev_hash)


@dataclass(frozen=True)
class BrokenLink:
    stream: str
    seq: int
    reason: str


AuditHeads = Callable[[], Iterable[tuple[str, int, str]]]
_head_sources: list[AuditHeads] = []


def audit_head_source_register(source: AuditHeads) -> None:
    """An app whose rows hold the heads of their own chains (runs keep theirs on the run
    row) tells the verifier where they are, at `AppConfig.ready()`: the core imports no app."""
    if source not in _head_sources:
        _head_sources.append(source)


def _heads() -> Iterator[tuple[str, int, str]]:
    """Every chain's head (key, last seq, last hash): AuditStream rows, then each
    registered source's (the runs' chains)."""
    yield from AuditStream.objects.order_by("key").values_list("key", "last_seq", "last_hash")
    for source in _head_sources:
        yield from source()


def _first_break(key: str, last_seq: int, last_hash: str) -> BrokenLink | None:
    prev_hash = ""
    expected_seq = 1
    for row in AuditEvent.objects.filter(stream=key).order_by("seq").iterator():
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
            return BrokenLink(stream=key, seq=row.seq, reason=problem)
        prev_hash = row.hash
        expected_seq += 1
    if expected_seq - 1 != last_seq:
        return BrokenLink(stream=key, seq=expected_seq, reason="rows missing at the end")
    if prev_hash != last_hash:
        return BrokenLink(stream=key, seq=last_seq, reason="the head's hash does not match")
    return None


def audit_verify() -> Iterator[BrokenLink]:
    """Yields the first broken link of every stream whose chain does not verify, and of
    every stream that has rows but no head (its head row was deleted)."""
    seen: set[str] = set()
    for key, last_seq, last_hash in _heads():
        seen.add(key)
        broken = _first_break(key, last_seq, last_hash)
        if broken is not None:
            yield broken
    streams = AuditEvent.objects.order_by().values_list("stream", flat=True).distinct()
    for key in sorted(set(streams) - seen):
        yield BrokenLink(stream=key, seq=1, reason="the stream's head is missing")
