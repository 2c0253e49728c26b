"""A tool call made outside any step (REST `/tools/call/`, MCP) recorded on its run."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.utils import timezone

from playbooks.engine.events import EventSpec
from playbooks.engine.outcome import Usage
from playbooks.engine.store.event_rows import run_events_append_locked
from playbooks.engine.store.locked import artifacts_record
from playbooks.engine.store.run_audit import run_audit_append_locked
from playbooks.models import Run


def api_call_record(
    *,
    run_id: object,
    step_id: str,
    invocation: Any,
    written: list[Any],
    events: list[EventSpec],
    usage_record: Any = None,
    usage: Usage | None = None,
) -> None:
    """The invocation, its audit row, the artifacts it wrote, its usage and its events, in
    one transaction under the run's row lock (a worker advancing the same run sees the new
    events and takes its row-lock path)."""
    with transaction.atomic():
        locked = Run.objects.select_for_update().get(pk=run_id)
        invocation.save()
        if usage_record is not None:
            usage_record.save(force_insert=True)
        run_audit_append_locked(locked, [invocation], timezone.now())
        artifacts_record(run=locked, step_id=step_id, written=written)
        locked.usage_tool_calls += 1
        fields = ["usage_tool_calls", "event_seq", "audit_seq", "audit_hash"]
        if usage is not None and usage.model_calls:  # the model calls the tool made
            locked.model_calls += usage.model_calls
            locked.usage_usd += usage.usd
            locked.usage_input_tokens += usage.input_tokens
            locked.usage_output_tokens += usage.output_tokens
            fields += ["model_calls", "usage_usd", "usage_input_tokens", "usage_output_tokens"]
        run_events_append_locked(run=locked, events=events, persist_seq=False)
        locked.save(update_fields=fields)
