"""Run leases: one conditional UPDATE claims a run, so two workers never advance it at once."""

import functools
import os
import socket
import threading
import uuid
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connection, connections
from django.db.backends.base.base import BaseDatabaseWrapper
from django.utils import timezone

from playbooks.engine.heartbeat import lease_heartbeat
from playbooks.engine.store.postgres import statement_fetch_one
from playbooks.models import PlaybookVersion, Run, RunStatus

_WORKER_IDS: dict[tuple[int, int], str] = {}


def worker_id() -> str:
    """This thread's lease owner name, made after fork so pool children never share one,
    and per thread so two threads of a process (Celery's threads pool, a doorbell beside a
    slice) never both pass the claim, which admits the lease's own owner."""
    key = (os.getpid(), threading.get_ident())
    owner = _WORKER_IDS.get(key)
    if owner is None:
        owner = _WORKER_IDS[key] = f"{socket.gethostname()}:{key[0]}:{uuid.uuid4().hex[:8]}"
    return owner


def lease_expiry() -> object:
    return timezone.now() + timedelta(seconds=settings.AGENTSTUDIO_RUN_LEASE_SECONDS)


def lease_renewal(current: object) -> object | None:
    """The new expiry when less than half the lease is left, else None (keep it). Renewing
    at every checkpoint would change an indexed column and make each run-row UPDATE a
    non-HOT one that rewrites every index of the table."""
    half = timedelta(seconds=settings.AGENTSTUDIO_RUN_LEASE_SECONDS / 2)
    if current is None or current - timezone.now() < half:
        return lease_expiry()
    return None


def run_lease_cover(*, run: Run, owner: str, step_seconds: float) -> bool:
    """Before a step that may take `step_seconds`: no other worker may take the run over
    mid-step. While the heartbeat holds the lease it renews it as the step runs, so the
    lease need only be alive (half of it left, else renewed here) and stays short: a dead
    worker's run is picked up within one lease. Without one (inside a transaction), the
    lease is made to last the step plus a margin (a tenth of the lease, 1 to 30 s). False
    when not ours."""
    lease = settings.AGENTSTUDIO_RUN_LEASE_SECONDS
    held = lease_heartbeat.held(run_id=run.pk)
    if held is not None:
        if held.lost:
            return False
        if run.lease_expires_at is None or held.expires_at > run.lease_expires_at:
            run.lease_expires_at = held.expires_at  # so checkpoints do not renew it again
        needed = timedelta(seconds=lease / 2)
    else:
        needed = timedelta(seconds=step_seconds + min(30.0, max(1.0, lease / 10)))
    now = timezone.now()
    if run.lease_expires_at is not None and run.lease_expires_at - now >= needed:
        return True
    expiry = now + max(timedelta(seconds=lease), needed)
    if Run.objects.filter(pk=run.pk, lease_owner=owner).update(lease_expires_at=expiry) != 1:
        return False
    run.lease_expires_at = expiry
    lease_heartbeat.renewed(run_id=run.pk, expires_at=expiry)
    return True


def run_claim_lease(*, run_id: object, owner: str | None = None) -> Run | None:
    """The run, when `owner` now holds its lease (it was free, expired, or already ours):
    one conditional UPDATE that returns the row it claimed, prepared once per connection on
    PostgreSQL (it runs once per slice)."""
    owner = owner or worker_id()
    ops = connection.ops
    params = {
        "owner": owner,
        "expires_at": ops.adapt_datetimefield_value(lease_expiry()),
        "run_id": Run._meta.pk.get_db_prep_value(run_id, connection),
        "queued": RunStatus.QUEUED,
        "running": RunStatus.RUNNING,
        "now": ops.adapt_datetimefield_value(timezone.now()),
    }
    if connection.vendor == "postgresql":
        row = statement_fetch_one(_claim_statement(), params)
    else:
        with connection.cursor() as cursor:
            cursor.execute(_claim_statement(), params)
            row = cursor.fetchone()
    if row is None:
        return None
    run = _run_from_row(row)
    run.version = playbook_version(run.version_id)
    return run


@functools.cache
def _claim_statement() -> str:
    table = connection.ops.quote_name(Run._meta.db_table)
    columns = ", ".join(connection.ops.quote_name(f.column) for f in Run._meta.concrete_fields)
    return (
        f"UPDATE {table} SET lease_owner = %(owner)s, lease_expires_at = %(expires_at)s "  # noqa: S608
        "WHERE id = %(run_id)s AND status IN (%(queued)s, %(running)s) AND (lease_expires_at"
        " IS NULL OR lease_expires_at < %(now)s OR lease_owner = %(owner)s) "
        f"RETURNING {columns}"
    )


def _run_from_row(row: tuple) -> Run:
    """The Run whose concrete fields `row` holds in order, with the values converted as the
    ORM converts a query's (`Model.from_db`). A raw queryset would do the same, but work out
    the columns, their order and their converters again on every claim: most of its CPU."""
    database = connections[DEFAULT_DB_ALIAS]
    values = list(row)
    for position, (converters, column) in _run_converters(database).items():
        for converter in converters:
            values[position] = converter(values[position], column, database)
    return Run.from_db(database.alias, None, values)


_CONVERTERS = threading.local()


def _run_converters(database: BaseDatabaseWrapper) -> dict[int, tuple[list, Any]]:
    """The ORM's converters of the Run columns, by position, for this thread's connection
    (converters belong to its backend); kept with the thread, as Django keeps the
    connection."""
    cached = getattr(_CONVERTERS, "run", None)
    if cached is None or cached[0] is not database:
        compiler = Run.objects.all().query.get_compiler(connection=database)
        table = Run._meta.db_table
        columns = [field.get_col(table) for field in Run._meta.concrete_fields]
        cached = _CONVERTERS.run = (database, compiler.get_converters(columns))
    return cached[1]


@functools.lru_cache(maxsize=256)
def playbook_version(version_id: object) -> PlaybookVersion:
    """Versions never change once written, so a worker keeps the ones it has used."""
    return PlaybookVersion.objects.get(pk=version_id)


def run_release_lease(*, run_id: object, owner: str | None = None) -> None:
    owner = owner or worker_id()
    Run.objects.filter(pk=run_id, lease_owner=owner).update(lease_owner="", lease_expires_at=None)
