"""Writes for runs after they start: cancel, retry, resume, and a parent woken by its
sub-run. Each transition locks the run row and appends its events in one transaction."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.utils import timezone

from agentstudio.audit import events as audit_events
from agentstudio.errors import AppError, ErrorCode
from approvals.models import ApprovalStatus
from playbooks.engine.events import EventSpec
from playbooks.engine.outcome import PauseReason
from playbooks.engine.store.event_rows import run_events_append_locked
from playbooks.engine.store.run_audit import run_audit_transition
from playbooks.models import Playbook, Run, RunStatus
from playbooks.models.runs import FINAL_RUN_STATUSES
from playbooks.runs import doorbell
from playbooks.runs.credit import run_credit_reserve, run_credit_settle
from playbooks.runs.events import (
    run_event_cancelled,
    run_event_child_finished,
    run_event_requeued,
    run_event_resumed,
)
from playbooks.runs.finishing import run_after_finish


def run_assert_can_start(*, actor: Any, playbook: Playbook) -> None:
    """Start, cancel, retry: the role table's "start runs" row. `None` is the system."""
    from agentstudio.accounts.roles import can_start_runs

    if actor is None or actor.is_superuser:
        return
    if not can_start_runs(actor, playbook):
        raise AppError(
            ErrorCode.PERMISSION_DENIED, "You may not start, cancel or retry runs of this playbook."
        )


def run_locked(run_id: object) -> Run:
    """The run's row, locked for the caller's transaction (with its pinned version)."""
    return Run.objects.select_for_update().select_related("version").get(pk=run_id)


def _by(actor: Any) -> str:
    return actor.get_username() if actor is not None else "system"


def run_resume_locked(
    locked: Run, events: list[EventSpec], *, actor: Any = None, **reason: Any
) -> None:
    """What the run waited for arrived: it runs again (audited by `actor`, the system when
    None, with `reason`: what arrived)."""
    source = locked.status
    locked.resume()
    locked.paused_reason = ""
    run_audit_transition(locked, transition="resumed", source=source, actor=actor, **reason)
    events.append(run_event_resumed(cursor=locked.cursor))
    doorbell.run_enqueue(run_id=locked.pk)


def run_wake_parent(*, parent_id: object, child_id: object) -> None:
    """A sub-run ended: its parent, blocked on it, resumes (its step reads the child)."""
    with transaction.atomic():
        parent = run_locked(parent_id)
        if parent.status != RunStatus.BLOCKED or parent.paused_reason != PauseReason.SUB_RUN:
            return
        events: list[EventSpec] = [run_event_child_finished(child_id=child_id)]
        run_resume_locked(parent, events, child_run=str(child_id))
        run_events_append_locked(run=parent, events=events, persist_seq=False)
        parent.save()


@transaction.atomic
def run_cancel(*, run: Run, actor: Any, reason: str = "cancelled") -> Run:
    run_assert_can_start(actor=actor, playbook=run.playbook)
    return _run_cancel(run=run, actor=actor, reason=reason)


def _run_cancel(*, run: Run, actor: Any, reason: str) -> Run:
    from approvals.services import approval_cancel

    locked = run_locked(run.pk)
    if locked.is_final:
        raise AppError(ErrorCode.INVALID_STATE, f"The run already {locked.status}.")
    source = locked.status
    locked.cancel()
    locked.finished_at = timezone.now()
    locked.paused_reason = ""
    run_audit_transition(locked, transition="cancelled", source=source, actor=actor, reason=reason)
    for approval in locked.approvals.filter(status=ApprovalStatus.PENDING):
        approval_cancel(approval=approval, actor=actor, reason="run cancelled")
    for child in locked.child_runs.exclude(status__in=FINAL_RUN_STATUSES):
        _run_cancel(run=child, actor=actor, reason="parent run cancelled")
    run_events_append_locked(
        run=locked, events=[run_event_cancelled(by=_by(actor), reason=reason)], persist_seq=False
    )
    locked.save()
    audit_events.run_transitioned(
        run=locked, actor=actor, transition="cancelled", source=source, reason=reason
    )
    run_after_finish(locked)
    return locked


@transaction.atomic
def run_retry(*, run: Run, actor: Any) -> Run:
    """A failed run continues from its failed step as a new attempt."""
    run_assert_can_start(actor=actor, playbook=run.playbook)
    locked = run_locked(run.pk)
    if locked.status != RunStatus.FAILED:
        raise AppError(
            ErrorCode.INVALID_STATE, f"Only failed runs are retried; it is {locked.status}."
        )
    locked.retry()
    locked.attempt += 1
    # the failed attempt's hold is settled (if its settlement has not run yet), then the
    # new attempt reserves its own: 402 when the organization is short
    run_credit_settle(run_id=locked.pk)
    run_credit_reserve(locked, actor=actor)
    run_audit_transition(
        locked,
        transition="retried",
        source=RunStatus.FAILED,
        actor=actor,
        attempt=locked.attempt,
    )
    locked.error = ""
    locked.finished_at = None
    locked.not_before = None
    locked.slice_failures = 0  # a person's retry gives it its chances again
    event = run_event_requeued(
        retry_of_attempt=locked.attempt - 1, by=_by(actor), cursor=locked.cursor
    )
    run_events_append_locked(run=locked, events=[event], persist_seq=False)
    locked.save()
    audit_events.run_transitioned(
        run=locked, actor=actor, transition="retried", source=RunStatus.FAILED
    )
    doorbell.run_enqueue(run_id=locked.pk)
    return locked
