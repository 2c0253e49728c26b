"""Celery entry points for approvals (doors, not rooms)."""

import httpx
from celery import shared_task

from approvals.notifications import approval_notify, approvals_remind_expiring
from approvals.services import (
    approval_undo_window_closed,
    approvals_expire_overdue,
    approvals_release_after_undo,
)
from approvals.services.escalation import approvals_escalate_due


@shared_task(name="approvals.expire_overdue", ignore_result=True)
def approvals_expire_overdue_task() -> int:
    """Beat: expires overdue approvals, and releases calls whose undo window closed."""
    return approvals_expire_overdue() + approvals_release_after_undo()


@shared_task(
    name="approvals.notify",
    ignore_result=True,
    autoretry_for=(OSError, httpx.HTTPError),
    retry_backoff=True,
    max_retries=5,
)
def approval_notify_task(approval_id: str, event: str) -> bool:
    return approval_notify(approval_id=approval_id, event=event)


@shared_task(name="approvals.remind_expiring", ignore_result=True)
def approvals_remind_expiring_task() -> int:
    return approvals_remind_expiring()


@shared_task(name="approvals.escalate_due", ignore_result=True)
def approvals_escalate_due_task() -> int:
    """Beat: escalates approvals that waited their escalate_after_seconds."""
    return approvals_escalate_due()


@shared_task(name="approvals.undo_window_closed", acks_late=True, ignore_result=True)
def approval_undo_window_closed_task(approval_id: str) -> None:
    approval_undo_window_closed(approval_id=approval_id)
