"""Poison never loops (issue 13.3), on real Celery workers and beat: a step whose result the
database refuses ends its run failed with the reason, and a run whose slice dies at the same
step every time is failed after three deaths instead of being re-enqueued forever."""

from __future__ import annotations

import uuid

import pytest

from agentstudio.audit.models import AuditEvent
from playbooks.engine.workspace import run_workspace
from playbooks.runs.starting import run_start
from tests.support.runs import (
    assert_event_stream_intact,
    invocations,
    run_reload,
    run_wait_for_status,
    step_rows,
)
from tests.support.tool_definitions import KILL_WORKER, POISON

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

READ = "tools.studio.files.read"


def test_a_file_read_with_nul_bytes_ends_its_run_failed_with_the_reason(
    e2e_stack, active_playbook, author
):
    e2e_stack.start_beat()
    e2e_stack.start_worker()
    spec = {
        "name": "Read a binary file",
        "tools": [READ],
        "steps": [{"id": "read", "tool": READ, "args": {"path": "blob.bin"}}],
    }
    run_id = uuid.uuid4()
    (run_workspace(run_id) / "blob.bin").write_bytes(b"PK\x03\x04\x00\x00data")
    run = run_start(playbook=active_playbook(spec), actor=author, inputs={}, run_id=run_id)
    run = run_wait_for_status(run, "failed", timeout=30)
    assert run.error == (
        "step read failed: step output cannot be stored: PostgreSQL cannot store a NUL "
        "character (\\u0000) at /content of its output (and 1 more place); its tool call is "
        "recorded with each such character replaced by U+FFFD"
    )
    assert step_rows(run) == [(0, "read", 1, "failed")]
    assert invocations(run) == {f"{run.pk}:read@1:0": "succeeded"}
    types = assert_event_stream_intact(run)
    assert types == [
        "run.queued",
        "run.started",
        "step.started",
        "tool.called",
        "step.failed",
        "run.failed",
    ]
    assert run.lease_owner == "" and run.slice_failures == 0


def test_a_slice_that_keeps_dying_fails_its_run_after_three_deaths(
    e2e_stack, active_playbook, author
):
    e2e_stack.start_beat()
    worker = e2e_stack.start_worker()
    spec = {
        "name": "Cannot get past a step",
        "tools": [POISON],
        "steps": [{"id": "stuck", "tool": POISON, "args": {"value": 1}}],
    }
    run = run_start(playbook=active_playbook(spec), actor=author, inputs={})
    # each death releases the lease; only the beat rings again, a stall window later
    run = run_wait_for_status(run, "failed", timeout=45)
    assert run.error == (
        "step stuck failed: the worker's slice died at it 3 times in a row: UniqueViolation: "
        'duplicate key value violates unique constraint "one_row_per_step_attempt"'
    )
    assert run.slice_failures == 3 and run.lease_owner == ""
    # three slices, three attempts: each took its row and recorded its call apart, then died
    assert step_rows(run) == [(0, "stuck", attempt, "failed") for attempt in (1, 2, 3)]
    assert invocations(run) == {f"{run.pk}:stuck@{n}:0": "succeeded" for n in (1, 2, 3)}
    audit = list(
        AuditEvent.objects.filter(stream=f"run:{run.pk}").order_by("seq").values_list("type")
    )
    # between the run's own rows: queued, started once (the later slices found it running)
    assert audit == (
        [("run.queued",), ("run.started",)] + [("tool.called",)] * 3 + [("run.failed",)]
    )
    types = assert_event_stream_intact(run)
    assert types == ["run.queued", "run.started", "run.failed"]
    assert worker.log_text().count("slice died") == 3
    assert run_reload(run).status == "failed"


def test_a_step_that_kills_its_worker_every_time_fails_its_run_after_three_deaths(
    e2e_stack, active_playbook, author
):
    # Nothing in the dying worker can count: the beat does, when it finds the lease run out
    # and never let go (the stack's leases last 6 s).
    beat = e2e_stack.start_beat()
    worker = e2e_stack.start_worker()
    spec = {
        "name": "Runs its worker out of memory",
        "tools": [KILL_WORKER],
        "steps": [{"id": "oom", "tool": KILL_WORKER, "args": {}}],
    }
    run = run_start(playbook=active_playbook(spec), actor=author, inputs={})
    run = run_wait_for_status(run, "failed", timeout=45)
    assert run.error == (
        "step oom failed: the worker's slice died at it 3 times in a row: its worker stopped "
        "mid-slice (killed, or out of memory) and its lease ran out"
    )
    assert (run.slice_failures, run.lease_owner) == (3, "")
    assert step_rows(run) == []  # no execution got as far as its checkpoint
    types = assert_event_stream_intact(run)
    assert types == ["run.queued", "run.started", "run.failed"]
    assert beat.alive and worker.alive  # the worker replaced its killed pool child each time
