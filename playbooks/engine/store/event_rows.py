"""Run events as RunEvent rows: gap-free `seq` per run, written with the run's checkpoint.

What is stored (`event_row`, one RunEvent row) and what live subscribers get
(`engine.events.live_event_payload`) are two shapes; `event_batch` makes both for one
checkpoint, each event's data serialised once.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import orjson
from django.utils import timezone

from agentstudio.json_encoding import json_dumps
from playbooks.engine.events import EventSpec, live_event_payload, run_events_publish_on_commit
from playbooks.engine.store.run_audit import run_audit_pending_write
from playbooks.models import Run, RunEvent


def event_row(*, seq: int, kind: str, data: Any, created_at: Any) -> dict[str, Any]:
    """One RunEvent row as the one-statement write's document: every column but the key
    and the run (the guarded run's id). `tests/engine/test_store_columns.py` holds it to
    the model."""
    return {"seq": seq, "type": kind, "data": data, "created_at": created_at}


@dataclass(frozen=True, slots=True)
class EventBatch:
    """A checkpoint's events, numbered: `rows`, the JSON list of their RunEvent rows (for
    the statement), and `payloads`, each as its live subscribers get it (published once
    the rows committed)."""

    rows: str
    payloads: list[str]

    def __len__(self) -> int:
        return len(self.payloads)


def event_batch(
    *, first_seq: int, events: Iterable[EventSpec], created_at: datetime.datetime
) -> EventBatch:
    """The rows and live payloads of `events`, numbered from `first_seq`."""
    stamp = created_at.isoformat()
    rows, payloads = [], []
    for offset, (kind, data) in enumerate(events):
        seq, body = first_seq + offset, orjson.Fragment(json_dumps(data))
        rows.append(event_row(seq=seq, kind=kind, data=body, created_at=stamp))
        payloads.append(live_event_payload(seq=seq, kind=kind, data=body, created_at=stamp))
    return EventBatch(rows=json_dumps(rows), payloads=payloads)


def run_events_build(*, run: Run, first_seq: int, events: Iterable[EventSpec]) -> list[RunEvent]:
    """The events as unsaved RunEvent instances (the ORM's paths), numbered from
    `first_seq`."""
    now = timezone.now()
    return [
        RunEvent(run=run, seq=first_seq + offset, type=kind, data=data, created_at=now)
        for offset, (kind, data) in enumerate(events)
    ]


def run_events_append_locked(
    *, run: Run, events: list[EventSpec], persist_seq: bool = True
) -> list[RunEvent]:
    """Appends to a run whose row the caller has locked (select_for_update), with the audit
    rows of the transitions made on it (`run_audit_transition`: the caller saves the run,
    `audit_seq` and `audit_hash` included). `event_seq` moves on the instance, and in the
    row unless the caller saves the run itself."""
    run_audit_pending_write(run)
    if not events:
        return []
    rows = run_events_build(run=run, first_seq=run.event_seq + 1, events=events)
    RunEvent.objects.bulk_create(rows)
    run.event_seq += len(rows)
    if persist_seq:
        Run.objects.filter(pk=run.pk).update(event_seq=run.event_seq)
    run_events_publish_on_commit(rows)
    return rows
