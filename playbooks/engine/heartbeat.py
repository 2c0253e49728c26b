"""The lease heartbeat: while a slice advances a run, a thread renews the run's lease every
third of its length, so leases stay short (a dead worker's runs move on within seconds)
and a step may still outlast one."""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta

import structlog
from django.conf import settings
from django.db import connection
from django.utils import timezone

from playbooks.models import Run

_log = structlog.get_logger("agentstudio.engine")
RETRY_SECONDS = 1.0  # after a failed renewal (the database was away): try again this soon


@dataclass
class HeldLease:
    owner: str
    expires_at: datetime  # the latest expiry written for this holder (claim or renewal)
    lost: bool = False  # a renewal found another owner: never renewed again


class LeaseHeartbeat:
    """One per process, made again in a forked child (a thread does not survive a fork).
    Its thread sleeps while no slice holds a lease and then closes its connection; a
    renewal is one guarded UPDATE on that connection, outside the engine's hot path."""

    def __init__(self) -> None:
        self._reset()

    def _reset(self) -> None:
        """Also in a forked child: the parent's thread and lock state stay behind."""
        self._wake = threading.Condition()
        self._held: dict[object, HeldLease] = {}
        self._thread: threading.Thread | None = None

    def hold(self, *, run: Run, owner: str) -> bool:
        """Keeps renewing `run`'s lease (just claimed by `owner`) until `release`; False,
        and nothing held, inside a transaction: the thread's connection could not see the
        uncommitted run and would wait on its locks (tests in a transaction; not workers)."""
        if connection.in_atomic_block or run.lease_expires_at is None:
            return False
        with self._wake:
            self._held[run.pk] = HeldLease(owner=owner, expires_at=run.lease_expires_at)
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._beat_forever, name="lease-heartbeat", daemon=True
                )
                self._thread.start()
            self._wake.notify()
        return True

    def release(self, *, run_id: object) -> None:
        with self._wake:
            if self._held.pop(run_id, None) is not None and not self._held:
                self._wake.notify()  # so the idle thread closes its connection now

    def held(self, *, run_id: object) -> HeldLease | None:
        """What is known of the run's lease, when a slice of this process holds it (a plain
        dict read: the engine asks before every step)."""
        return self._held.get(run_id)

    def lost(self, *, run_id: object) -> bool:
        held = self._held.get(run_id)
        return held is not None and held.lost

    def renewed(self, *, run_id: object, expires_at: datetime) -> None:
        """The slice itself wrote a later expiry."""
        held = self._held.get(run_id)
        if held is not None and expires_at > held.expires_at:
            held.expires_at = expires_at

    def renew_due(self) -> float:
        """Renews every held lease written at least a third of a lease ago, each with one
        UPDATE guarded on its owner (a lease another worker took stays theirs); the seconds
        until the next renewal is due."""
        lease = timedelta(seconds=settings.AGENTSTUDIO_RUN_LEASE_SECONDS)
        keep = lease - lease / 3  # renew once no more than two thirds are left
        with self._wake:
            now = timezone.now()
            due = [
                (run_id, held)
                for run_id, held in self._held.items()
                if not held.lost and held.expires_at - now <= keep
            ]
        for run_id, held in due:
            expiry = timezone.now() + lease
            count = Run.objects.filter(pk=run_id, lease_owner=held.owner).update(
                lease_expires_at=expiry
            )
            with self._wake:
                if self._held.get(run_id) is not held:
                    continue  # the slice let go meanwhile
                if count == 1:
                    held.expires_at = max(held.expires_at, expiry)
                else:
                    held.lost = True
                    _log.warning("run lease lost to another worker", run=str(run_id))
        with self._wake:
            now = timezone.now()
            waits = [
                (held.expires_at - keep - now).total_seconds()
                for held in self._held.values()
                if not held.lost
            ]
        return max(0.05, min(waits, default=lease.total_seconds() / 3))

    def _beat_forever(self) -> None:
        while True:
            with self._wake:
                if not self._held:
                    connection.close()  # idle: no session left open between slices
                while not self._held:
                    self._wake.wait()
            try:
                wait = self.renew_due()
            except Exception:
                _log.warning("run lease renewal failed", exc_info=True)
                connection.close()  # a new connection next time
                wait = RETRY_SECONDS
            with self._wake:
                self._wake.wait(timeout=wait)


lease_heartbeat = LeaseHeartbeat()
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=lease_heartbeat._reset)
