"""The beat task's work: ring the doorbell again for runs that lost theirs, and settle the
credit of runs that ended without their settlement (a worker died in between)."""

from datetime import timedelta

from django.conf import settings
from django.db.models import F, Q
from django.utils import timezone

from playbooks.engine.slice_failures import slice_death_record
from playbooks.models import Run, RunStatus
from playbooks.runs import doorbell
from playbooks.runs.credit import runs_settle_credit


def runs_requeue_stalled() -> int:
    """Queued or running runs with no live lease whose doorbell is older than the stall
    window (a crashed worker, a lost broker message) are enqueued again; the lease makes a
    duplicate doorbell harmless. A lease that expired (its worker stopped renewing it: it
    died) is rung for at once, if nobody rang since it expired, and counts a death
    (engine.slice_failures): the death that reaches the limit fails the run instead."""
    now = timezone.now()
    stale = now - timedelta(seconds=settings.AGENTSTUDIO_STALLED_RUN_SECONDS)
    stalled = Run.objects.filter(
        Q(status__in=[RunStatus.QUEUED, RunStatus.RUNNING]),
        Q(lease_expires_at__isnull=True) | Q(lease_expires_at__lt=now),
        Q(doorbell_at__isnull=True)
        | Q(doorbell_at__lt=stale)
        | Q(lease_expires_at__lt=now, doorbell_at__lt=F("lease_expires_at")),
        Q(not_before__isnull=True) | Q(not_before__lte=now),
    ).values_list("pk", "lease_owner")[:1000]
    count = 0
    for run_id, owner in stalled:
        # A lease that ran out without being let go: its worker died mid-slice.
        if owner and not slice_death_record(run_id=run_id, owner=owner):
            continue  # that was one death too many: the run failed
        doorbell.run_enqueue(run_id=run_id)
        count += 1
    return count


def runs_settle_credit_holds() -> int:
    """Ended runs whose credit hold is still open are settled now (exactly once: the hold's
    row lock and `settled_at` make a concurrent settlement a no-op). Returns how many."""
    return runs_settle_credit()
