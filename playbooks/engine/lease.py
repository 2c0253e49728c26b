"""Run leases: one conditional UPDATE claims a run, so two workers never advance it at once."""

import os
import socket
import uuid
from datetime import timedelta

from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from playbooks.models import Run, RunStatus

_WORKER_IDS: dict[int, str] = {}


def worker_id() -> str:
    """This process's lease owner name, made after fork so pool children never share one."""
    pid = os.getpid()
    if pid not in _WORKER_IDS:
        _WORKER_IDS[pid] = f"{socket.gethostname()}:{pid}:{uuid.uuid4().hex[:8]}"
    return _WORKER_IDS[pid]


def lease_expiry() -> object:
    return timezone.now() + timedelta(seconds=settings.AGENTSTUDIO_RUN_LEASE_SECONDS)


def run_claim_lease(*, run_id: object, owner: str | None = None) -> bool:
    """True when `owner` now holds the lease (it was free, expired, or already ours)."""
    owner = owner or worker_id()
    now = timezone.now()
    claimed = (
        Run.objects.filter(pk=run_id, status__in=[RunStatus.QUEUED, RunStatus.RUNNING])
        .filter(
            Q(lease_expires_at__isnull=True) | Q(lease_expires_at__lt=now) | Q(lease_owner=owner)
        )
        .update(lease_owner=owner, lease_expires_at=lease_expiry())
    )
    return claimed == 1


def run_release_lease(*, run_id: object, owner: str | None = None) -> None:
    owner = owner or worker_id()
    Run.objects.filter(pk=run_id, lease_owner=owner).update(lease_owner="", lease_expires_at=None)
