"""Saving the run row as its lease holder, under the row lock or guarded.

Guarded: no lock, the row as last seen, for the lifecycle moves the holder makes alone
(start, success)."""

from __future__ import annotations

from collections.abc import Callable

from django.db import transaction
from django.utils import timezone

from agentstudio.audit.models import AuditEvent
from playbooks.engine.events import (
    EventSpec,
    run_events_publish_on_commit,
    run_events_publish_payloads,
)
from playbooks.engine.store.event_rows import (
    event_batch,
    run_events_append_locked,
    run_events_build,
)
from playbooks.engine.store.postgres import run_row_params, run_row_statement
from playbooks.engine.store.run_audit import run_audit_pending_take
from playbooks.engine.store.writer import checkpoint_writer, writer_available
from playbooks.engine.view import RunView
from playbooks.models import Run, RunEvent, RunStatus


def run_lock(run: Run, *, owner: str | None) -> Run | None:
    """The run row, locked, if it is still running and (when given) still ours."""
    locked = Run.objects.select_for_update().get(pk=run.pk)
    if locked.status != RunStatus.RUNNING or (owner is not None and locked.lease_owner != owner):
        return None
    locked.version = run.version  # already loaded; spares a query
    return locked


def run_save_locked(
    *, view: RunView, owner: str, transition: Callable[[Run], list[EventSpec]]
) -> bool:
    """Runs `transition` on the locked run row (still running, still ours) and saves it with
    the events it returns, in one transaction; the view then holds the saved row. False
    when the run is not ours any more."""
    with transaction.atomic():
        locked = run_lock(view.run, owner=owner)
        if locked is None:
            return False
        run_events_append_locked(run=locked, events=transition(locked), persist_seq=False)
        locked.save()
    view.run = locked
    return True


def run_save_guarded(
    *,
    run: Run,
    owner: str,
    expected_status: str,
    fields: tuple[str, ...],
    transition: Callable[[], list[EventSpec]],
) -> bool:
    """Runs `transition` (a lifecycle method and what goes with it, returning its events) and
    writes `fields` of `run` with those events and its audit rows (`run_audit_transition`;
    `fields` then name `audit_seq` and `audit_hash`) in one transaction, if the row is
    still as the lease holder last saw it (status, holder, event seq); otherwise nothing is
    written, on-commit hooks included, and the answer is False."""
    if writer_available():
        return _run_save_guarded_statement(run, owner, expected_status, fields, transition)
    with transaction.atomic():
        events = transition()
        audit = _transition_audit(run, fields)
        rows = run_events_build(run=run, first_seq=run.event_seq + 1, events=events)
        guard = Run.objects.filter(
            pk=run.pk, status=expected_status, lease_owner=owner, event_seq=run.event_seq
        )
        values = {name: getattr(run, name) for name in fields}
        if guard.update(event_seq=run.event_seq + len(rows), **values) != 1:
            transaction.set_rollback(True)
            return False
        RunEvent.objects.bulk_create(rows)
        if audit:
            AuditEvent.objects.bulk_create(audit)
        run_events_publish_on_commit(rows)
    run.event_seq += len(rows)
    return True


def _transition_audit(run: Run, fields: tuple[str, ...]) -> list[AuditEvent]:
    """The transition's audit rows, which the guarded write carries with the head."""
    audit = run_audit_pending_take(run)
    if audit and not {"audit_seq", "audit_hash"} <= set(fields):
        raise RuntimeError("a guarded save of an audited transition must write the audit head")
    return audit


def _run_save_guarded_statement(
    run: Run,
    owner: str,
    expected_status: str,
    fields: tuple[str, ...],
    transition: Callable[[], list[EventSpec]],
) -> bool:
    """The same as one prepared statement on the writer's connection (autocommit). The
    atomic block on the engine's own connection sends nothing to the database: it only
    holds the transition's on-commit hooks until the write is known to have committed, and
    drops them when the guard did not match."""
    with transaction.atomic():
        events = transition()
        audit = _transition_audit(run, fields)
        batch = event_batch(first_seq=run.event_seq + 1, events=events, created_at=timezone.now())
        params = run_row_params(
            run=run,
            fields=fields,
            expected_status=expected_status,
            owner=owner,
            event_rows=batch.rows,
            event_count=len(batch),
            audit=audit,
        )
        if checkpoint_writer.execute(run_row_statement(fields), params) is None:
            transaction.set_rollback(True)
            return False
        transaction.on_commit(lambda: run_events_publish_payloads(run.pk, batch.payloads))
    run.event_seq += len(events)
    return True
