"""Slices that die: counted on the run, so a run that cannot get past a step fails.

A slice that raises (a checkpoint the database refuses for a reason the engine does not
know, a bug) lets go of its lease, and the beat rings the doorbell again a stall window
later: without a count the run would die the same way every 30 to 45 seconds forever. Each
death at the step where the previous one happened adds one to `Run.slice_failures`; a
death after progress starts again at one, a slice that ends normally clears the count, and
the AGENTSTUDIO_RUN_SLICE_FAILURES_MAXth death fails the run with its error (run.failed,
and an audit row on the run's chain). Failures of the infrastructure (the database or a
broker out of reach) are not the run's fault and are not counted.

A worker killed mid-slice (SIGKILL, out of memory) counts nothing itself: the beat counts
it when it finds the run's lease expired and never let go (`slice_death_record`).
"""

from __future__ import annotations

import kombu.exceptions
import psycopg
import redis.exceptions
import structlog
from django import db
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from playbooks.engine.store.event_rows import run_events_append_locked
from playbooks.models import Run, RunStatus
from playbooks.runs.finishing import run_fail_locked

_log = structlog.get_logger("agentstudio.engine")

_INFRASTRUCTURE = (
    db.OperationalError,
    db.InterfaceError,
    psycopg.OperationalError,
    psycopg.InterfaceError,
    redis.exceptions.ConnectionError,
    redis.exceptions.TimeoutError,
    kombu.exceptions.OperationalError,
    ConnectionError,
    TimeoutError,
)
_ERROR_MAX = 1000


def slice_error_text(exc: BaseException) -> str:
    """The exception's type and first line: what the run's error says it died of."""
    lines = str(exc).strip().removeprefix("ERROR:").strip().splitlines()
    return f"{type(exc).__name__}: {lines[0] if lines else ''}".strip().rstrip(":")[:_ERROR_MAX]


def slice_failure_record(*, run_id: object, owner: str, cursor: int, exc: Exception) -> None:
    """After a slice that started at `cursor` died of `exc`: counts the death, and fails the
    run at the limit. Never raises: the slice's own error is the one to report."""
    if isinstance(exc, _INFRASTRUCTURE):
        return
    try:
        with transaction.atomic():
            _record_locked(run_id, owner, cursor, slice_error_text(exc))
    except Exception:
        _log.exception("a dead slice could not be counted", run=str(run_id))


def _record_locked(run_id: object, owner: str, cursor: int, error: str) -> None:
    locked = Run.objects.select_for_update().get(pk=run_id)
    if locked.lease_owner != owner or locked.status not in (RunStatus.QUEUED, RunStatus.RUNNING):
        return  # someone else moved the run meanwhile; their move stands
    failures = 1 if locked.cursor != cursor else locked.slice_failures + 1
    _count_locked(locked, failures, error, ["slice_failures"])


def slice_death_record(*, run_id: object, owner: str) -> bool:
    """The beat found the run still leased to `owner` past the lease's end: that worker
    died mid-slice (killed, out of memory) without counting it. Counts the death and lets go
    of the dead lease, so each death counts once. False when this failed the run (nothing
    to re-enqueue); never raises."""
    try:
        with transaction.atomic():
            locked = Run.objects.select_for_update().get(pk=run_id)
            expired = locked.lease_expires_at is not None and (
                locked.lease_expires_at < timezone.now()
            )
            alive = locked.status in (RunStatus.QUEUED, RunStatus.RUNNING)
            if not (expired and alive and locked.lease_owner == owner):
                return True  # claimed (or moved) meanwhile: nothing to count
            locked.lease_owner, locked.lease_expires_at = "", None
            error = "its worker stopped mid-slice (killed, or out of memory) and its lease ran out"
            fields = ["slice_failures", "lease_owner", "lease_expires_at"]
            return not _count_locked(locked, locked.slice_failures + 1, error, fields)
    except Exception:
        _log.exception("a dead worker's slice could not be counted", run=str(run_id))
        return True


def _count_locked(locked: Run, failures: int, error: str, fields: list[str]) -> bool:
    """Saves the count (`fields` of `locked`); at the limit fails the run instead, through
    the normal failure path. True when it failed the run."""
    locked.slice_failures = failures
    limit = settings.AGENTSTUDIO_RUN_SLICE_FAILURES_MAX
    _log.warning("slice died", run=str(locked.pk), failures=failures, limit=limit, error=error)
    if failures < limit:
        locked.save(update_fields=fields)
        return False
    died = f"the worker's slice died at it {failures} times in a row"
    source = locked.status
    if locked.status == RunStatus.QUEUED:
        locked.start()  # it never got to start: fail it from running, as any run fails
    # the system's decision to give up on the run, audited with the count
    events = run_fail_locked(
        locked,
        f"{_step_name(locked)} failed: {died}: {error}",
        source=source,
        slice_failures=failures,
    )
    locked.lease_owner, locked.lease_expires_at = "", None
    run_events_append_locked(run=locked, events=events, persist_seq=False)
    locked.save()
    return True


def _step_name(locked: Run) -> str:
    steps = locked.version.spec.get("steps", [])
    if locked.cursor < len(steps):
        return f"step {steps[locked.cursor]['id']}"
    return "the run's completion"


def slice_failures_clear(*, run_id: object) -> None:
    """A slice ended normally: the run's next death is a first one again."""
    Run.objects.filter(pk=run_id).exclude(slice_failures=0).update(slice_failures=0)
