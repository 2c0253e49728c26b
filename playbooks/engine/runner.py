"""`run_advance`: what a worker does when the doorbell for a run rings.

Claim the lease → execute consecutive steps inline, one checkpoint transaction each → stop
when the run finishes, pauses, must wait for a retry backoff, or its time slice is used up
(then ring the doorbell again, for fairness) → release the lease. A paused run holds no
worker. While the slice runs, the heartbeat renews the (short) lease; a crashed worker's
lease expires within one lease length and the beat task rings again.
"""

from __future__ import annotations

import enum
import time

import structlog
from django.conf import settings
from django.db import connection
from django.utils import timezone
from jinja2 import TemplateError

from agentstudio.billing.budgets import budget_holds_release
from playbooks.engine.events import EventSpec, run_events_flush
from playbooks.engine.heartbeat import lease_heartbeat
from playbooks.engine.lease import (
    run_claim_lease,
    run_lease_cover,
    run_release_lease,
    worker_id,
)
from playbooks.engine.outcome import Result
from playbooks.engine.slice_failures import slice_failure_record, slice_failures_clear
from playbooks.engine.steps import step_execute
from playbooks.engine.steps.tool import step_timeout
from playbooks.engine.store.checkpoint import checkpoint_settle, checkpoint_step
from playbooks.engine.store.run_audit import run_audit_transition
from playbooks.engine.store.run_row import run_save_guarded, run_save_locked
from playbooks.engine.store.writer import writer_available
from playbooks.engine.view import RunView
from playbooks.models import Run, RunStatus
from playbooks.runs import doorbell
from playbooks.runs.events import run_event_started
from playbooks.runs.finishing import run_complete_locked, run_outputs, run_succeed_locked

_log = structlog.get_logger("agentstudio.engine")


class Advance(enum.StrEnum):
    BUSY = "busy"  # another worker holds the lease
    IDLE = "idle"  # nothing to do (finished, paused, cancelled)
    FINISHED = "finished"
    PAUSED = "paused"
    REQUEUED = "requeued"  # time slice used, or waiting for a retry backoff


def _start(run: Run, owner: str) -> bool:
    """queued → running, guarded like a checkpoint: no row lock, one UPDATE and the INSERTs
    of its event and audit row (one statement on the writer)."""

    def transition() -> list[EventSpec]:
        run.start()
        run.started_at = run.started_at or timezone.now()
        run_audit_transition(
            run, transition="started", source=RunStatus.QUEUED, attempt=run.attempt
        )
        return [
            run_event_started(attempt=run.attempt, version=run.version.number, cursor=run.cursor)
        ]

    return run_save_guarded(
        run=run,
        owner=owner,
        expected_status=RunStatus.QUEUED,
        fields=("status", "started_at", "audit_seq", "audit_hash"),
        transition=transition,
    )


def _succeed(view: RunView, owner: str) -> bool | None:
    """The common ending (outputs render, no review) as one guarded write that also lets go
    of the lease; None when the run needs the locked path (a review, or outputs that fail)."""
    run = view.run
    if view.spec.get("review"):
        return None
    try:
        outputs = run_outputs(view)
    except TemplateError:
        return None

    def transition() -> list[EventSpec]:
        run.outputs = outputs
        run.lease_owner, run.lease_expires_at = "", None
        return run_succeed_locked(run)

    return run_save_guarded(
        run=run,
        owner=owner,
        expected_status=RunStatus.RUNNING,
        fields=(
            "status",
            "outputs",
            "finished_at",
            "usage_wall_seconds",
            "paused_reason",
            "lease_owner",
            "lease_expires_at",
            "audit_seq",
            "audit_hash",
        ),
        transition=transition,
    )


def _complete(view: RunView, owner: str) -> bool:
    """Every step is done: succeed, or (review, failure) decide under the row lock."""
    succeeded = _succeed(view, owner)
    if succeeded is not None:
        return succeeded
    return run_save_locked(
        view=view, owner=owner, transition=lambda locked: run_complete_locked(locked, view)
    )


def retry_delay_seconds(run: Run) -> float:
    """How long the run must still wait before its step is tried again."""
    if run.not_before is None:
        return 0.0
    return max(0.0, (run.not_before - timezone.now()).total_seconds())


def run_advance(*, run_id: object, owner: str | None = None) -> Advance:
    owner = owner or worker_id()
    claimed_at = timezone.now()
    run = run_claim_lease(run_id=run_id, owner=owner)
    if run is None:
        return Advance.BUSY
    lease_heartbeat.hold(run=run, owner=owner)  # renews the lease while the slice runs
    # a reservation a dead worker's model call left behind: this advancer is the only one
    budget_holds_release(run_id=run.pk)
    cursor, failures = run.cursor, run.slice_failures
    try:
        advanced = _advance_claimed(run, owner)
    except Exception as exc:
        slice_failure_record(run_id=run_id, owner=owner, cursor=cursor, exc=exc)
        raise
    finally:
        lease_heartbeat.release(run_id=run_id)
        if run.lease_owner == owner:  # a finished run let go in its last write
            run_release_lease(run_id=run_id, owner=owner)
        run_events_flush()
    if failures:
        slice_failures_clear(run_id=run_id)
    if advanced in (Advance.PAUSED, Advance.IDLE):
        doorbell.run_ring_if_woken(run_id=run_id, since=claimed_at)
    return advanced


def _advance_claimed(run: Run, owner: str) -> Advance:
    fresh = run.status == RunStatus.QUEUED and run.attempt == 1 and run.cursor == 0
    if run.status == RunStatus.QUEUED and not _start(run, owner):
        return Advance.IDLE
    if run.status != RunStatus.RUNNING:
        return Advance.IDLE
    if retry_delay_seconds(run) > 0:
        doorbell.run_enqueue(run_id=run.pk, countdown=retry_delay_seconds(run))
        return Advance.REQUEUED
    # A run that has only just left `queued` for the first time has no step rows yet.
    view = RunView(run=run, spec=run.version.spec) if fresh else RunView.load(run)
    try:
        result = _run_slice(view, owner)
    except BaseException:
        # Collect what is still in flight, but never hide the error that ended the slice:
        # whatever did not commit is done again when the run is next advanced.
        try:
            checkpoint_settle(view, owner)
        except Exception:
            _log.warning("checkpoints in flight lost with the slice", run=str(run.pk))
            view.pending.clear()
        raise
    checkpoint_settle(view, owner)  # every return path has settled already; a safety net
    return result


def _run_slice(view: RunView, owner: str) -> Advance:
    run_id = view.run.pk
    view.on_postgresql = connection.vendor == "postgresql"
    view.may_overlap = writer_available()
    deadline = time.monotonic() + settings.AGENTSTUDIO_RUN_SLICE_SECONDS
    while True:
        if view.run.cursor >= len(view.steps):
            if not checkpoint_settle(view, owner):
                return Advance.IDLE
            return Advance.FINISHED if _complete(view, owner) else Advance.IDLE
        index = view.run.cursor
        if not run_lease_cover(
            run=view.run, owner=owner, step_seconds=step_timeout(view.steps[index])
        ):
            return Advance.IDLE
        outcome = step_execute(view, index)
        following = index + 1
        # What runs while this checkpoint commits: the next step if it is pure, or after
        # the last step the completion, which collects every answer before it writes.
        if not checkpoint_step(
            view=view,
            index=index,
            attempt=view.attempt_for(index),
            outcome=outcome,
            owner=owner,
            overlap=following >= len(view.steps) or view.step_is_pure(following),
        ):
            _log.info("run stopped by someone else", run=str(run_id))
            return Advance.IDLE
        if outcome.result == Result.RETRY:
            doorbell.run_enqueue(run_id=run_id, countdown=retry_delay_seconds(view.run))
            return Advance.REQUEUED
        if view.run.status != RunStatus.RUNNING:
            return Advance.FINISHED if view.run.is_final else Advance.PAUSED
        if time.monotonic() > deadline and view.run.cursor < len(view.steps):
            # Every slice makes progress first; then others get a turn (fairness).
            if checkpoint_settle(view, owner):
                doorbell.run_enqueue(run_id=run_id)
                return Advance.REQUEUED
            return Advance.IDLE
