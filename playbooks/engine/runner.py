"""`run_advance`: what a worker does when the doorbell for a run rings.

Claim the lease → execute consecutive steps inline, one checkpoint transaction each → stop
when the run finishes, pauses, must wait for a retry backoff, or its time slice is used up
(then ring the doorbell again, for fairness) → release the lease. A paused run holds no
worker; a crashed worker's lease expires and the beat task rings again.
"""

from __future__ import annotations

import enum
import time

import structlog
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from playbooks.engine.checkpoint import checkpoint_step, retry_delay_seconds, run_lock
from playbooks.engine.events import run_events_append_locked
from playbooks.engine.finishing import run_complete_locked
from playbooks.engine.lease import run_claim_lease, run_release_lease, worker_id
from playbooks.engine.outcome import Result
from playbooks.engine.steps import step_execute
from playbooks.engine.view import RunView
from playbooks.models import Run, RunStatus

_log = structlog.get_logger("agentstudio.engine")


class Advance(enum.StrEnum):
    BUSY = "busy"  # another worker holds the lease
    IDLE = "idle"  # nothing to do (finished, paused, cancelled)
    FINISHED = "finished"
    PAUSED = "paused"
    REQUEUED = "requeued"  # time slice used, or waiting for a retry backoff


def _start(run: Run, owner: str) -> Run | None:
    with transaction.atomic():
        locked = Run.objects.select_for_update().select_related("version").get(pk=run.pk)
        if locked.status != RunStatus.QUEUED or locked.lease_owner != owner:
            return locked if locked.status == RunStatus.RUNNING else None
        locked.start()
        if locked.started_at is None:
            locked.started_at = timezone.now()
        run_events_append_locked(
            run=locked,
            events=[
                (
                    "run.started",
                    {
                        "attempt": locked.attempt,
                        "version": locked.version.number,
                        "cursor": locked.cursor,
                    },
                )
            ],
            persist_seq=False,
        )
        locked.save()
        return locked


def _complete(view: RunView, owner: str) -> bool:
    with transaction.atomic():
        locked = run_lock(view.run, owner=owner)
        if locked is None:
            return False
        run_events_append_locked(
            run=locked, events=run_complete_locked(locked, view), persist_seq=False
        )
        locked.save()
    view.run = locked
    return True


def run_advance(*, run_id: object, owner: str | None = None) -> Advance:
    owner = owner or worker_id()
    if not run_claim_lease(run_id=run_id, owner=owner):
        return Advance.BUSY
    try:
        return _advance_claimed(run_id, owner)
    finally:
        run_release_lease(run_id=run_id, owner=owner)


def _advance_claimed(run_id: object, owner: str) -> Advance:
    from playbooks.run_services import run_enqueue

    run = Run.objects.select_related("version").get(pk=run_id)
    run = _start(run, owner) if run.status == RunStatus.QUEUED else run
    if run is None or run.status != RunStatus.RUNNING:
        return Advance.IDLE
    if retry_delay_seconds(run) > 0:
        run_enqueue(run_id=run.pk, countdown=retry_delay_seconds(run))
        return Advance.REQUEUED
    view = RunView.load(run)
    deadline = time.monotonic() + settings.AGENTSTUDIO_RUN_SLICE_SECONDS
    while True:
        if view.run.cursor >= len(view.steps):
            return Advance.FINISHED if _complete(view, owner) else Advance.IDLE
        index = view.run.cursor
        outcome = step_execute(view, index)
        if not checkpoint_step(
            view=view, index=index, attempt=view.attempt_for(index), outcome=outcome, owner=owner
        ):
            _log.info("run stopped by someone else", run=str(run.pk))
            return Advance.IDLE
        if outcome.result == Result.RETRY:
            run_enqueue(run_id=run.pk, countdown=retry_delay_seconds(view.run))
            return Advance.REQUEUED
        if view.run.status != RunStatus.RUNNING:
            return Advance.FINISHED if view.run.is_final else Advance.PAUSED
        if time.monotonic() > deadline and view.run.cursor < len(view.steps):
            # Every slice makes progress first; then others get a turn (fairness).
            run_enqueue(run_id=run.pk)
            return Advance.REQUEUED
