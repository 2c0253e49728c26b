"""Committing one step's outcome: the store's entry points for a step's checkpoint.

A checkpoint writes the step row, tool invocations, artifacts, usage, events, cursor and any
pause, all or nothing. The common one is a guarded write (one statement on PostgreSQL,
`postgres.py`, possibly left in flight on the writer's connection while the next pure step
runs); the rest, and every guarded write that misses, go under the run's row lock
(`locked.py`), so a cancel or a decision racing with the worker is seen and event seqs stay
gap-free. An outcome the database refuses is stored failed (`unstorable.py`); the tool
calls of a checkpoint that dies are written apart (`calls_apart.py`)."""

from __future__ import annotations

from dataclasses import dataclass

import structlog
from django.db import transaction
from django.db.models import F

from agentstudio.audit.models import AuditEvent
from agentstudio.billing.models import UsageRecord
from playbooks.engine.budget import budget_charge_deferred, run_budget_ref
from playbooks.engine.events import run_events_publish_on_commit, run_events_publish_payloads
from playbooks.engine.outcome import Result, StepOutcome
from playbooks.engine.store.calls_apart import invocations_record_apart
from playbooks.engine.store.event_rows import event_batch, run_events_build
from playbooks.engine.store.locked import artifacts_record, checkpoint_locked
from playbooks.engine.store.postgres import (
    checkpoint_commit,
    checkpoint_params,
    checkpoint_statement,
    checkpoint_supported,
)
from playbooks.engine.store.step_write import (
    StepWrite,
    run_finish_for,
    run_finished,
    step_write,
    usage_apply,
    view_after,
)
from playbooks.engine.store.unstorable import UNSTORABLE_ERRORS, unstorable_outcome
from playbooks.engine.store.writer import checkpoint_writer
from playbooks.engine.view import RunView
from playbooks.models import Run, RunEvent, RunStatus, RunStep

_log = structlog.get_logger("agentstudio.engine")

# Checkpoints a slice may have in flight at once (pipelined on the writer's connection)
OVERLAP_DEPTH = 2

_USAGE_FIELDS = (
    "usage_usd",
    "usage_input_tokens",
    "usage_output_tokens",
    "usage_tool_calls",
    "usage_wall_seconds",
)
# Outcomes the lease holder may write without the row lock (a pause or a failure takes it)
_GUARDED_RESULTS = (Result.SUCCEEDED, Result.SKIPPED, Result.PROGRESS, Result.RETRY)


def checkpoint_step(
    *,
    view: RunView,
    index: int,
    attempt: int,
    outcome: StepOutcome,
    owner: str,
    overlap: bool = False,
) -> bool:
    """Commits the outcome; False when the run stopped being ours (cancelled, lease lost).
    With `overlap` (the caller will run a pure step next) a plain success may be left to
    commit on the writer while the caller goes on; `checkpoint_settle` collects it."""
    overlap = overlap and outcome.result in (Result.SUCCEEDED, Result.SKIPPED)
    try:
        if outcome.result in _GUARDED_RESULTS and _checkpoint_guarded(
            view=view, index=index, attempt=attempt, outcome=outcome, owner=owner, overlap=overlap
        ):
            return True
        if not checkpoint_settle(view, owner):
            return False
        return checkpoint_locked(view, index, attempt, outcome, owner)
    except UNSTORABLE_ERRORS as exc:
        return _checkpoint_unstorable(view, index, attempt, outcome, owner, exc, True)
    except Exception:
        invocations_record_apart(run_id=view.run.pk, owner=owner, invocations=outcome.invocations)
        raise


@dataclass
class PendingCheckpoint:
    """A checkpoint sent to the writer and not yet answered; the view already reflects it."""

    row: RunStep
    event_payloads: list[str]
    index: int
    attempt: int
    outcome: StepOutcome


def checkpoint_settle(view: RunView, owner: str, keep: int = 0) -> bool:
    """Collects the answers of the view's checkpoints in flight, oldest first, until at most
    `keep` remain. True when they committed. When a guard did not match, every later one in
    flight missed too (each also guards on the cursor the earlier one moves): those steps
    are committed (or refused) under the row lock, in order, exactly as synchronous
    checkpoints would have been. False means the run is not ours any more."""
    while len(view.pending) > keep:
        pending = view.pending.popleft()
        try:
            written = checkpoint_writer.receive()
        except UNSTORABLE_ERRORS as exc:
            # The writer let go of its connection and of the later answers: each of those
            # guarded on the cursor this one never moved, so none committed. This step ends
            # the run; the later (pure) ones are moot.
            view.pending.clear()
            _checkpoint_unstorable(
                view, pending.index, pending.attempt, pending.outcome, owner, exc, False
            )
            return False
        if written is not None:
            pending.row.pk = int(written[0])
            pending.row._state.adding = False
            run_events_publish_payloads(view.run.pk, pending.event_payloads)
            continue
        missed = [pending, *view.pending]
        view.pending.clear()
        for _later in missed[1:]:
            if checkpoint_writer.receive() is not None:
                raise RuntimeError("a checkpoint committed after an earlier one missed")
        _log.info("checkpoint guard missed; taking the row lock", run=str(view.run.pk))
        for step in missed:
            if not checkpoint_locked(
                view, step.index, step.attempt, step.outcome, owner, update_view=False
            ):
                return False
    return True


def _checkpoint_guarded(
    *, view: RunView, index: int, attempt: int, outcome: StepOutcome, owner: str, overlap: bool
) -> bool:
    """The common checkpoint as one guarded write instead of SELECT FOR UPDATE + save.

    While a run is `running` and leased, only its lease holder appends events (cancels change
    the status; decisions and wake-ups act on paused runs only), so `event_seq` as last seen
    is the guard: if it matches no row, someone else moved the run and the caller falls back
    to the locked path, which sees why. The write is worked out before the previous one in
    flight is collected, so that work overlaps the previous commit too."""
    loaded = view.run
    finish = run_finish_for(view, index, outcome)
    overlap = overlap and view.may_overlap and finish is None
    write = step_write(view, index, attempt, outcome, finish)
    if not checkpoint_settle(view, owner, keep=OVERLAP_DEPTH - 1 if overlap else 0):
        return False
    if view.run is not loaded:  # the previous step went through the row lock: run reloaded
        finish = run_finish_for(view, index, outcome)
        write = step_write(view, index, attempt, outcome, finish)
    run, row, fields = view.run, write.row, write.fields
    one_statement = view.on_postgresql and not outcome.written
    if one_statement and checkpoint_supported(row, outcome.invocations):
        if not _checkpoint_statement(view, index, attempt, outcome, owner, write, overlap):
            return False
    else:
        if write.fields.get("finish") is not None:
            raise RuntimeError("a finishing checkpoint must take the one-statement write")
        if not _checkpoint_guarded_orm(run, owner, write, outcome):
            return False
    run.event_seq += len(write.events)
    run.current_step = row.step_id
    run.lease_expires_at = fields.get("lease_expires_at") or run.lease_expires_at
    run.cursor = fields.get("cursor", run.cursor)
    run.not_before = fields.get("not_before", run.not_before)
    run.audit_seq = fields.get("audit_seq", run.audit_seq)
    run.audit_hash = fields.get("audit_hash", run.audit_hash)
    usage_apply(run, outcome)
    view_after(view, index, attempt, row, outcome)
    if finish is not None:
        run_finished(run, finish)
    return True


def _checkpoint_statement(
    view: RunView,
    index: int,
    attempt: int,
    outcome: StepOutcome,
    owner: str,
    write: StepWrite,
    overlap: bool,
) -> bool:
    """The guarded write as one statement: left in flight on the writer (`overlap`), sent
    and waited for there, or run on the engine's own connection inside its transaction."""
    run, row, finish = view.run, write.row, write.fields.get("finish")
    batch = event_batch(first_seq=run.event_seq + 1, events=write.events, created_at=write.now)
    params = checkpoint_params(
        run=run,
        owner=owner,
        fields=write.fields,
        row=row,
        invocations=outcome.invocations,
        event_rows=batch.rows,
        audit=write.audit,
        usage_records=outcome.usage_records,
        charge_budget=run_budget_ref(run).id if outcome.deferred_tool_charges else None,
        charge_tool_calls=outcome.deferred_tool_charges,
    )
    if overlap:
        checkpoint_writer.send(checkpoint_statement(), params)
        view.pending.append(PendingCheckpoint(row, batch.payloads, index, attempt, outcome))
    elif view.may_overlap:  # the writer's connection, where the statement is prepared
        statement = checkpoint_statement(finishing=finish is not None)
        written = checkpoint_writer.execute(statement, params)
        if written is None:
            return False
        row.pk, row._state.adding = int(written[0]), False
        run_events_publish_payloads(run.pk, batch.payloads)
    else:
        with transaction.atomic():  # a refused statement must not abort the caller's
            committed = checkpoint_commit(row=row, params=params)
        if not committed:
            return False
        transaction.on_commit(lambda: run_events_publish_payloads(run.pk, batch.payloads))
    return True


def _checkpoint_guarded_orm(run: Run, owner: str, write: StepWrite, outcome: StepOutcome) -> bool:
    """The guarded write through the ORM (another database, or rows that exist already)."""
    fields, row = write.fields, write.row
    if fields["lease_expires_at"] is None:
        fields = {name: value for name, value in fields.items() if name != "lease_expires_at"}
    rows: list[RunEvent] = run_events_build(
        run=run, first_seq=run.event_seq + 1, events=write.events
    )
    with transaction.atomic():
        guard = Run.objects.filter(
            pk=run.pk,
            status=RunStatus.RUNNING,
            lease_owner=owner,
            event_seq=run.event_seq,
            cursor=run.cursor,
        )
        increments = {name: F(name) + fields[name] for name in _USAGE_FIELDS}
        if guard.update(**{**fields, **increments}) != 1:
            return False
        if budget_charge_deferred(run, outcome) is not None:
            transaction.set_rollback(True)  # the locked path turns it into the breach
            return False
        row.save()
        for invocation in outcome.invocations:
            invocation.save()
        AuditEvent.objects.bulk_create(write.audit)
        UsageRecord.objects.bulk_create(outcome.usage_records)
        artifacts_record(run=run, step_id=row.step_id, written=outcome.written)
        RunEvent.objects.bulk_create(rows)
        run_events_publish_on_commit(rows)
    return True


def _checkpoint_unstorable(
    view: RunView,
    index: int,
    attempt: int,
    outcome: StepOutcome,
    owner: str,
    exc: BaseException,
    update_view: bool,
) -> bool:
    """The database refused the outcome (every try would): the step fails with the reason,
    under the row lock, its tool calls and their audit rows recorded (see unstorable.py)."""
    failed = unstorable_outcome(outcome, exc)
    _log.warning(
        "step outcome cannot be stored", run=str(view.run.pk), index=index, error=failed.error
    )
    try:
        if not checkpoint_settle(view, owner):
            return False
        return checkpoint_locked(view, index, attempt, failed, owner, update_view=update_view)
    except Exception:
        invocations_record_apart(run_id=view.run.pk, owner=owner, invocations=failed.invocations)
        raise
