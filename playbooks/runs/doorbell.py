"""The doorbell: a run's row says when it was last rung (`doorbell_at`) and a Celery message
wakes a worker for it; the database, not the message, says what to do."""

from __future__ import annotations

from datetime import datetime

from django.db import transaction
from django.utils import timezone

from playbooks.models import Run, RunStatus


def run_enqueue(*, run_id: object, countdown: float | None = None) -> None:
    """Rings the doorbell after commit. The doorbell time is written in the caller's
    transaction, so nothing sits between the commit and the message."""
    from playbooks.tasks import advance_run

    Run.objects.filter(pk=run_id).update(doorbell_at=timezone.now())

    def send() -> None:
        advance_run.apply_async(args=[str(run_id)], countdown=countdown or None)

    transaction.on_commit(send, robust=True)


def run_ring_if_woken(*, run_id: object, since: datetime) -> bool:
    """A doorbell that rang while this slice held the lease found it busy and did nothing:
    a sub-run that ended, or a decision, woke a run that was pausing. Ring again once the
    lease is let go, rather than leave it to beat's stall sweep (30 s)."""
    woken = Run.objects.filter(
        pk=run_id,
        status__in=(RunStatus.QUEUED, RunStatus.RUNNING),
        lease_owner="",
        doorbell_at__gte=since,
    ).exists()
    if woken:
        run_enqueue(run_id=run_id)
    return woken
