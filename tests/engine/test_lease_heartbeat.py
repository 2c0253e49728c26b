"""The lease heartbeat, on real PostgreSQL with committed rows (its thread has a connection
of its own): it renews the lease of a run a slice holds, stops when the slice lets go,
never extends a lease another worker took, and lets a long step keep a short lease; and
beat's sweep rings at once for a run whose lease expired."""

import time
from datetime import timedelta

import pytest
from django.utils import timezone

from playbooks.engine.heartbeat import lease_heartbeat
from playbooks.engine.lease import run_claim_lease, run_lease_cover
from playbooks.engine.runner import Advance, run_advance
from playbooks.models import Run
from playbooks.runs.maintenance import runs_requeue_stalled
from playbooks.runs.starting import run_start
from tests.engine import tools_for_tests  # noqa: F401 (registers tools.test.*)
from tests.support.processes import wait_for

pytestmark = pytest.mark.django_db(transaction=True)

OWNER = "test-host:1:heartbeat"
SPEC = {
    "name": "Lease",
    "tools": ["tools.test.count"],
    "steps": [{"id": "a", "tool": "tools.test.count", "args": {"value": 1}}],
}


def _claimed(active_playbook, author) -> Run:
    run = run_start(playbook=active_playbook(SPEC), actor=author, inputs={})
    claimed = run_claim_lease(run_id=run.pk, owner=OWNER)
    assert claimed is not None
    return claimed


def _lease(run: Run) -> tuple[str, object]:
    return Run.objects.values_list("lease_owner", "lease_expires_at").get(pk=run.pk)


def test_the_heartbeat_renews_a_held_lease_until_the_slice_lets_go(
    settings, active_playbook, author
):
    settings.AGENTSTUDIO_RUN_LEASE_SECONDS = 3  # renewed every second
    run = _claimed(active_playbook, author)
    claimed_until = run.lease_expires_at
    lease_heartbeat.hold(run=run, owner=OWNER)
    try:
        first = wait_for(lambda: (at := _lease(run)[1]) > claimed_until and at, 5)
        second = wait_for(lambda: (at := _lease(run)[1]) > first and at, 5)
        assert _lease(run)[0] == OWNER
        assert second - timezone.now() <= timedelta(seconds=3)  # renewed, never lengthened
        assert not lease_heartbeat.lost(run_id=run.pk)
    finally:
        lease_heartbeat.release(run_id=run.pk)
    time.sleep(0.5)  # a renewal already on its way lands
    after_release = _lease(run)
    time.sleep(2.5)
    assert _lease(run) == after_release  # nobody renews a lease no slice holds


def test_the_heartbeat_never_extends_a_lease_another_worker_took(settings, active_playbook, author):
    settings.AGENTSTUDIO_RUN_LEASE_SECONDS = 3
    run = _claimed(active_playbook, author)
    lease_heartbeat.hold(run=run, owner=OWNER)
    taken_until = timezone.now() + timedelta(seconds=1)
    Run.objects.filter(pk=run.pk).update(lease_owner="other:2:w", lease_expires_at=taken_until)
    try:
        wait_for(lambda: lease_heartbeat.lost(run_id=run.pk), 5, message="the lease seen lost")
        assert not run_lease_cover(run=run, owner=OWNER, step_seconds=1)  # no next step
        time.sleep(1.5)
    finally:
        lease_heartbeat.release(run_id=run.pk)
    assert _lease(run) == ("other:2:w", taken_until)


def test_a_step_longer_than_the_lease_leaves_it_short_when_a_heartbeat_keeps_it(
    settings, active_playbook, author
):
    settings.AGENTSTUDIO_RUN_LEASE_SECONDS = 100
    spec = {
        "name": "Long step",
        "tools": ["tools.test.lease_left"],
        "steps": [
            {"id": "long", "tool": "tools.test.lease_left", "args": {}, "timeout_seconds": 600}
        ],
    }
    run = run_start(playbook=active_playbook(spec), actor=author, inputs={})
    assert run_advance(run_id=run.pk) == Advance.FINISHED
    run.refresh_from_db()
    # Not stretched to the step's 600 s: a worker that died in it would hold the run that long.
    assert 0 < run.outputs["long"]["value"] <= 100
    assert (run.status, run.lease_owner, run.lease_expires_at) == ("succeeded", "", None)


def test_beat_rings_at_once_for_a_run_whose_lease_expired(settings, active_playbook, author):
    settings.AGENTSTUDIO_STALLED_RUN_SECONDS = 30
    run = _claimed(active_playbook, author)
    now = timezone.now()
    # Rung 5 s ago (well inside the stall window), its worker's lease ran out 1 s ago.
    Run.objects.filter(pk=run.pk).update(
        status="running",
        doorbell_at=now - timedelta(seconds=5),
        lease_expires_at=now - timedelta(seconds=1),
    )
    assert runs_requeue_stalled() == 1
    rung = Run.objects.get(pk=run.pk).doorbell_at
    assert rung > now
    assert runs_requeue_stalled() == 0  # rung once since the lease expired: not again
    assert Run.objects.get(pk=run.pk).doorbell_at == rung
