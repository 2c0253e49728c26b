"""Appending run events: gap-free `seq` per run, published to live streams after commit."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from playbooks.models import Run, RunEvent

EventSpec = tuple[str, dict[str, Any]]


def run_events_channel(run_id: object) -> str:
    return f"agentstudio:run:{run_id}:events"


def run_events_build(*, run: Run, first_seq: int, events: Iterable[EventSpec]) -> list[RunEvent]:
    now = timezone.now()
    return [
        RunEvent(run=run, seq=first_seq + offset, type=kind, data=data, created_at=now)
        for offset, (kind, data) in enumerate(events)
    ]


def run_events_append_locked(
    *, run: Run, events: list[EventSpec], persist_seq: bool = True
) -> list[RunEvent]:
    """Appends to a run whose row the caller has locked (select_for_update). `event_seq`
    moves on the instance, and in the row unless the caller saves the run itself."""
    if not events:
        return []
    rows = run_events_build(run=run, first_seq=run.event_seq + 1, events=events)
    RunEvent.objects.bulk_create(rows)
    run.event_seq += len(rows)
    if persist_seq:
        Run.objects.filter(pk=run.pk).update(event_seq=run.event_seq)
    run_events_publish_on_commit(rows)
    return rows


def run_events_publish_on_commit(rows: list[RunEvent]) -> None:
    """Live subscribers hear of new events once they are durable; without Redis they poll."""
    if not rows or not settings.REDIS_URL:
        return
    payloads = [
        (
            run_events_channel(row.run_id),
            json.dumps(
                {
                    "seq": row.seq,
                    "type": row.type,
                    "data": row.data,
                    "created_at": row.created_at.isoformat(),
                },
                default=str,
            ),
        )
        for row in rows
    ]
    transaction.on_commit(lambda: _publish(payloads))


def _publish(payloads: list[tuple[str, str]]) -> None:
    from agentstudio.redis_client import redis_client

    try:
        client = redis_client()
        pipe = client.pipeline(transaction=False)
        for channel, message in payloads:
            pipe.publish(channel, message)
        pipe.execute()
    except Exception:
        import structlog

        structlog.get_logger("agentstudio.events").warning("event publish failed")
