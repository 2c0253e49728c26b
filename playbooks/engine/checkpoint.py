"""Committing one step's outcome as one transaction: step row, tool invocations, artifacts,
usage, events, cursor and any pause. The run row is locked first, so a cancel or a decision
racing with the worker is seen, and event seqs stay gap-free."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import structlog
from django.db import transaction
from django.db.models import F
from django.utils import timezone
from jinja2 import TemplateError

from agentstudio.audit.models import AuditEvent
from agentstudio.model_instances import model_instance
from playbooks.engine.audit import run_audit_append_locked, run_audit_rows
from playbooks.engine.calls_apart import invocations_record_apart
from playbooks.engine.events import (
    EventSpec,
    run_event_payloads,
    run_events_append_locked,
    run_events_build,
    run_events_publish_on_commit,
    run_events_publish_payloads,
)
from playbooks.engine.lease import lease_expiry, lease_renewal
from playbooks.engine.outcome import Result, StepOutcome
from playbooks.engine.pg_checkpoint import (
    pg_checkpoint_commit,
    pg_checkpoint_params,
    pg_checkpoint_statement,
    pg_checkpoint_supported,
    pg_run_update_params,
    pg_run_update_statement,
)
from playbooks.engine.unstorable import UNSTORABLE_ERRORS, unstorable_outcome
from playbooks.engine.view import RunView
from playbooks.engine.writer import checkpoint_writer, writer_available
from playbooks.models import Artifact, Run, RunEvent, RunStatus, RunStep, StepStatus
from playbooks.spec.defaults import step_kind

_log = structlog.get_logger("agentstudio.engine")

_ROW_STATUS = {
    Result.SUCCEEDED: StepStatus.SUCCEEDED,
    Result.FAILED: StepStatus.FAILED,
    Result.RETRY: StepStatus.FAILED,
    Result.SKIPPED: StepStatus.SKIPPED,
    Result.PROGRESS: StepStatus.RUNNING,
    Result.PAUSED: StepStatus.WAITING,
}
_DONE = (Result.SUCCEEDED, Result.FAILED, Result.RETRY, Result.SKIPPED)


def run_lock(run: Run, *, owner: str | None) -> Run | None:
    """The run row, locked, if it is still running and (when given) still ours."""
    locked = Run.objects.select_for_update().get(pk=run.pk)
    if locked.status != RunStatus.RUNNING or (owner is not None and locked.lease_owner != owner):
        return None
    locked.version = run.version  # already loaded; spares a query
    return locked


def _step_row(
    view: RunView, index: int, attempt: int, outcome: StepOutcome, now: Any, events: list[EventSpec]
) -> RunStep:
    step = view.steps[index]
    row = view.open_steps.get(index)
    if row is None:
        row = model_instance(
            RunStep,
            run_id=view.run.pk,
            index=index,
            step_id=step["id"],
            kind=step_kind(step),
            attempt=attempt,
            started_at=outcome.started_at or now,
        )
        events.append(
            (
                "step.started",
                {"step": step["id"], "index": index, "attempt": attempt, "kind": row.kind},
            )
        )
    row.status = _ROW_STATUS[outcome.result]
    if outcome.input is not None:
        row.input = outcome.input
    row.state = outcome.state if outcome.state is not None else row.state
    row.output = outcome.output
    row.error = outcome.error
    if outcome.result in _DONE:
        row.finished_at = now
    return row


def _step_events(row: RunStep, outcome: StepOutcome) -> list[EventSpec]:
    base = {"step": row.step_id, "index": row.index, "attempt": row.attempt}
    if outcome.result == Result.SUCCEEDED:
        return [("step.succeeded", base)]
    if outcome.result == Result.SKIPPED:
        return [("step.skipped", {**base, "reason": outcome.error or "when was false"})]
    if outcome.result in (Result.FAILED, Result.RETRY):
        retry_at = outcome.retry_at.isoformat() if outcome.retry_at else None
        return [("step.failed", {**base, "error": outcome.error, "retry_at": retry_at})]
    return []


def _save_artifacts(run: Run, step_id: str, outcome: StepOutcome) -> None:
    artifacts_record(run=run, step_id=step_id, written=outcome.written)


def artifacts_record(*, run: Run, step_id: str, written: list[Any]) -> None:
    """The files a call wrote become (or update) the run's artifacts, in the caller's
    transaction."""
    for file in written:
        Artifact.objects.update_or_create(
            run=run,
            path=file.path,
            defaults={
                "content_type": file.content_type,
                "size": file.size,
                "sha256": file.sha256,
                "step_id": step_id,
            },
        )


def _apply_usage(locked: Run, outcome: StepOutcome) -> None:
    usage = outcome.usage
    locked.usage_usd += usage.usd
    locked.usage_input_tokens += usage.input_tokens
    locked.usage_output_tokens += usage.output_tokens
    locked.usage_tool_calls += usage.tool_calls


# Checkpoints a slice may have in flight at once (pipelined on the writer's connection)
OVERLAP_DEPTH = 2

_USAGE_FIELDS = ("usage_usd", "usage_input_tokens", "usage_output_tokens", "usage_tool_calls")
_FAST_RESULTS = (Result.SUCCEEDED, Result.SKIPPED, Result.PROGRESS, Result.RETRY)


def _view_after(
    view: RunView, index: int, attempt: int, row: RunStep, outcome: StepOutcome
) -> None:
    view.invocation_keys.update(invocation.key for invocation in outcome.invocations)
    if outcome.result in (Result.SUCCEEDED, Result.SKIPPED):
        view.outputs[row.step_id] = row.output
        view.open_steps.pop(index, None)
        view.step_attempts[index] = attempt
        view.record_lineage(row, [w.path for w in outcome.written])
    elif outcome.result in (Result.PROGRESS, Result.PAUSED):
        view.open_steps[index] = row
    elif outcome.result == Result.RETRY:
        view.open_steps.pop(index, None)
        view.step_attempts[index] = attempt


@dataclass
class _FastWrite:
    """One step's checkpoint, worked out and ready to send."""

    row: RunStep
    events: list[EventSpec]
    fields: dict[str, Any]
    now: Any
    audit: list[AuditEvent]


@dataclass
class RunFinish:
    """The run's success, written by its last step's checkpoint (see `_finish_with`)."""

    outputs: Any
    finished_at: Any = None
    wall_seconds: float = 0.0


def _fast_write(
    view: RunView, index: int, attempt: int, outcome: StepOutcome, finish: RunFinish | None = None
) -> _FastWrite:
    run, now, events = view.run, timezone.now(), []
    row = _step_row(view, index, attempt, outcome, now, events)
    events += outcome.events
    events += _step_events(row, outcome)
    if finish is not None:
        finish.finished_at = now
        finish.wall_seconds = (now - run.started_at).total_seconds() if run.started_at else 0.0
        events.append(("run.succeeded", {"outputs": finish.outputs}))
    usage = outcome.usage
    fields: dict = {
        "current_step": row.step_id,
        "lease_expires_at": lease_renewal(run.lease_expires_at),
        "event_seq": run.event_seq + len(events),
        "model_calls": run.model_calls,
        # increments: the ORM path turns them into F() expressions
        "usage_usd": usage.usd,
        "usage_input_tokens": usage.input_tokens,
        "usage_output_tokens": usage.output_tokens,
        "usage_tool_calls": usage.tool_calls,
    }
    if outcome.result in (Result.SUCCEEDED, Result.SKIPPED):
        fields["cursor"] = index + 1
    if outcome.result == Result.RETRY:
        fields["not_before"] = outcome.retry_at
    if finish is not None:
        fields["finish"] = finish
    audit: list[AuditEvent] = []
    if outcome.invocations:
        audit, (fields["audit_seq"], fields["audit_hash"]) = run_audit_rows(
            run, outcome.invocations, now
        )
    return _FastWrite(row=row, events=events, fields=fields, now=now, audit=audit)


def _finish_with(view: RunView, index: int, outcome: StepOutcome) -> RunFinish | None:
    """The run's success, when the last step's checkpoint can carry it: the step succeeded
    (or was skipped), the run ends without a review, its outputs render, and the write goes
    through the writer (PostgreSQL, no transaction open). Otherwise None: the run completes
    on its own afterwards, as always (`runner._complete`)."""
    if not (
        index == len(view.steps) - 1
        and outcome.result in (Result.SUCCEEDED, Result.SKIPPED)
        and view.on_postgresql
        and view.may_overlap
        and not view.spec.get("review")
        # the one-statement write: new rows only, no artifacts (pg_checkpoint_supported)
        and index not in view.open_steps
        and not outcome.written
        and all(invocation.pk is None for invocation in outcome.invocations)
    ):
        return None
    from playbooks.runs.finishing import run_outputs

    step_id = view.steps[index]["id"]
    missing = object()
    before = view.outputs.get(step_id, missing)
    view.outputs[step_id] = outcome.output  # what the outputs see once the step is recorded
    try:
        return RunFinish(outputs=run_outputs(view))
    except TemplateError:
        return None  # the completion fails the run, with the reason, under the row lock
    finally:
        if before is missing:
            del view.outputs[step_id]
        else:
            view.outputs[step_id] = before


def _checkpoint_fast(
    *, view: RunView, index: int, attempt: int, outcome: StepOutcome, owner: str, overlap: bool
) -> bool:
    """The common checkpoint as one guarded write instead of SELECT FOR UPDATE + save.

    While a run is `running` and leased, only its lease holder appends events (cancels change
    the status; decisions and wake-ups act on paused runs only), so `event_seq` as last seen
    is the guard: if it matches no row, someone else moved the run and the caller falls back
    to the locked path, which sees why. The write is worked out before the previous one in
    flight is collected, so that work overlaps the previous commit too."""
    loaded = view.run
    finish = _finish_with(view, index, outcome)
    overlap = overlap and view.may_overlap and finish is None
    write = _fast_write(view, index, attempt, outcome, finish)
    if not checkpoint_settle(view, owner, keep=OVERLAP_DEPTH - 1 if overlap else 0):
        return False
    if view.run is not loaded:  # the previous step went through the row lock: run reloaded
        finish = _finish_with(view, index, outcome)
        write = _fast_write(view, index, attempt, outcome, finish)
    run, row, events, fields = view.run, write.row, write.events, write.fields
    if (
        view.on_postgresql
        and not outcome.written
        and pg_checkpoint_supported(row, outcome.invocations)
    ):
        payloads = run_event_payloads(
            first_seq=run.event_seq + 1, events=events, created_at=write.now
        )
        params = pg_checkpoint_params(
            run=run,
            owner=owner,
            fields=fields,
            row=row,
            invocations=outcome.invocations,
            event_payloads=payloads,
            audit=write.audit,
        )
        if overlap:
            checkpoint_writer.send(pg_checkpoint_statement(), params)
            view.pending.append(PendingCheckpoint(row, payloads, index, attempt, outcome))
        elif view.may_overlap:  # the writer's connection, where the statement is prepared
            statement = pg_checkpoint_statement(finishing=finish is not None)
            written = checkpoint_writer.execute(statement, params)
            if written is None:
                return False
            row.pk, row._state.adding = int(written[0]), False
            run_events_publish_payloads(run.pk, payloads)
        else:
            with transaction.atomic():  # a refused statement must not abort the caller's
                committed = pg_checkpoint_commit(row=row, params=params)
            if not committed:
                return False
            transaction.on_commit(lambda: run_events_publish_payloads(run.pk, payloads))
    else:
        if finish is not None:
            raise RuntimeError("a finishing checkpoint must take the one-statement write")
        rows = run_events_build(run=run, first_seq=run.event_seq + 1, events=events)
        if not _checkpoint_fast_orm(run, owner, fields, row, outcome, rows, write.audit):
            return False
    run.event_seq += len(events)
    run.current_step = row.step_id
    run.lease_expires_at = fields.get("lease_expires_at") or run.lease_expires_at
    run.cursor = fields.get("cursor", run.cursor)
    run.not_before = fields.get("not_before", run.not_before)
    run.audit_seq = fields.get("audit_seq", run.audit_seq)
    run.audit_hash = fields.get("audit_hash", run.audit_hash)
    _apply_usage(run, outcome)
    _view_after(view, index, attempt, row, outcome)
    if finish is not None:
        _run_finished(run, finish)
    return True


def _run_finished(run: Run, finish: RunFinish) -> None:
    """The run as its finishing checkpoint left it (committed), then what follows an end."""
    from playbooks.runs.finishing import run_after_finish

    run.succeed()
    run.outputs, run.finished_at = finish.outputs, finish.finished_at
    run.usage_wall_seconds, run.paused_reason = finish.wall_seconds, ""
    run.lease_owner, run.lease_expires_at = "", None
    run_after_finish(run)


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
            if not _checkpoint_locked(
                view, step.index, step.attempt, step.outcome, owner, update_view=False
            ):
                return False
    return True


def _checkpoint_fast_orm(
    run: Run,
    owner: str,
    fields: dict,
    row: RunStep,
    outcome: StepOutcome,
    rows: list[RunEvent],
    audit: list[AuditEvent],
) -> bool:
    if fields["lease_expires_at"] is None:
        fields = {name: value for name, value in fields.items() if name != "lease_expires_at"}
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
        row.save()
        for invocation in outcome.invocations:
            invocation.save()
        AuditEvent.objects.bulk_create(audit)
        _save_artifacts(run, row.step_id, outcome)
        RunEvent.objects.bulk_create(rows)
        run_events_publish_on_commit(rows)
    return True


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
        if outcome.result in _FAST_RESULTS and _checkpoint_fast(
            view=view, index=index, attempt=attempt, outcome=outcome, owner=owner, overlap=overlap
        ):
            return True
        if not checkpoint_settle(view, owner):
            return False
        return _checkpoint_locked(view, index, attempt, outcome, owner)
    except UNSTORABLE_ERRORS as exc:
        return _checkpoint_unstorable(view, index, attempt, outcome, owner, exc, True)
    except Exception:
        invocations_record_apart(run_id=view.run.pk, owner=owner, invocations=outcome.invocations)
        raise


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
        return _checkpoint_locked(view, index, attempt, failed, owner, update_view=update_view)
    except Exception:
        invocations_record_apart(run_id=view.run.pk, owner=owner, invocations=failed.invocations)
        raise


def _checkpoint_locked(
    view: RunView,
    index: int,
    attempt: int,
    outcome: StepOutcome,
    owner: str,
    *,
    update_view: bool = True,
) -> bool:
    from playbooks.runs.finishing import run_fail_locked
    from playbooks.runs.pausing import pause_apply

    now = timezone.now()
    with transaction.atomic():
        locked = run_lock(view.run, owner=owner)
        if locked is None:
            return False
        events: list[EventSpec] = []
        row = _step_row(view, index, attempt, outcome, now, events)
        row.save()
        events += outcome.events
        events += _step_events(row, outcome)
        for invocation in outcome.invocations:
            invocation.save()
        run_audit_append_locked(locked, outcome.invocations, now)
        _save_artifacts(locked, row.step_id, outcome)
        _apply_usage(locked, outcome)
        locked.model_calls = view.run.model_calls
        locked.current_step = row.step_id
        locked.lease_expires_at = lease_expiry()
        if outcome.result in (Result.SUCCEEDED, Result.SKIPPED):
            locked.cursor = index + 1
        elif outcome.result == Result.RETRY:
            locked.not_before = outcome.retry_at
        elif outcome.result == Result.PAUSED:
            events += pause_apply(locked=locked, view=view, row=row, pause=outcome.pause)
        elif outcome.result == Result.FAILED:
            events += run_fail_locked(locked, f"step {row.step_id} failed: {outcome.error}")
        if update_view:
            _view_after(view, index, attempt, row, outcome)
        run_events_append_locked(run=locked, events=events, persist_seq=False)
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
    writes `fields` of `run` with those events in one transaction, if the row is still as
    the lease holder last saw it (status, holder, event seq); otherwise nothing is written,
    on-commit hooks included, and the answer is False."""
    if writer_available():
        return _run_save_guarded_pg(run, owner, expected_status, fields, transition)
    with transaction.atomic():
        events = transition()
        rows = run_events_build(run=run, first_seq=run.event_seq + 1, events=events)
        guard = Run.objects.filter(
            pk=run.pk, status=expected_status, lease_owner=owner, event_seq=run.event_seq
        )
        values = {name: getattr(run, name) for name in fields}
        if guard.update(event_seq=run.event_seq + len(rows), **values) != 1:
            transaction.set_rollback(True)
            return False
        RunEvent.objects.bulk_create(rows)
        run_events_publish_on_commit(rows)
    run.event_seq += len(rows)
    return True


def _run_save_guarded_pg(
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
        payloads = run_event_payloads(
            first_seq=run.event_seq + 1, events=events, created_at=timezone.now()
        )
        params = pg_run_update_params(
            run=run,
            fields=fields,
            expected_status=expected_status,
            owner=owner,
            event_payloads=payloads,
        )
        if checkpoint_writer.execute(pg_run_update_statement(fields), params) is None:
            transaction.set_rollback(True)
            return False
        transaction.on_commit(lambda: run_events_publish_payloads(run.pk, payloads))
    run.event_seq += len(events)
    return True


def retry_delay_seconds(run: Run) -> float:
    if run.not_before is None:
        return 0.0
    return max(0.0, (run.not_before - timezone.now()).total_seconds())
