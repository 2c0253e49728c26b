"""Celery entry points for approvals (doors, not rooms)."""

from celery import shared_task

from approvals.services import (
    approval_undo_window_closed,
    approvals_expire_overdue,
    approvals_release_after_undo,
)


@shared_task(name="approvals.expire_overdue", ignore_result=True)
def approvals_expire_overdue_task() -> int:
    """Beat: expires overdue approvals, and releases calls whose undo window closed."""
    return approvals_expire_overdue() + approvals_release_after_undo()


@shared_task(name="approvals.undo_window_closed", acks_late=True, ignore_result=True)
def approval_undo_window_closed_task(approval_id: str) -> None:
    approval_undo_window_closed(approval_id=approval_id)
