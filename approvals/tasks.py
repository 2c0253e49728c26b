"""Celery entry points for approvals (doors, not rooms)."""

from celery import shared_task

from approvals.services import approvals_expire_overdue


@shared_task(name="approvals.expire_overdue", ignore_result=True)
def approvals_expire_overdue_task() -> int:
    return approvals_expire_overdue()
