"""Poison never loops (issue 13.3): a run whose slice keeps dying at the same step fails
after AGENTSTUDIO_RUN_SLICE_FAILURES_MAX deaths in a row, through the normal failure path,
instead of being re-enqueued by the beat forever; a tool call whose checkpoint died with its
slice still leaves its invocation and audit row."""

from datetime import timedelta

import psycopg
import pytest
from django.db import IntegrityError
from django.utils import timezone

from agentstudio.audit.models import AuditEvent
from playbooks.engine.runner import Advance, run_advance
from playbooks.engine.workspace import run_workspace
from playbooks.models import Run, RunStatus, RunStep
from playbooks.runs.maintenance import runs_requeue_stalled
from playbooks.runs.services import run_retry
from playbooks.runs.starting import run_start
from tests.engine import tools_for_tests  # noqa: F401 (registers tools.test.*)
from tools.models import ToolInvocation

pytestmark = pytest.mark.django_db(transaction=True)

CONFLICT = "tools.test.conflict"
WRITE = "tools.studio.files.write"


def _start(active_playbook, author, steps: list[dict]) -> Run:
    spec = {"name": "Dying slices", "tools": sorted({s["tool"] for s in steps}), "steps": steps}
    return run_start(playbook=active_playbook(spec), actor=author, inputs={})


def _stall(run: Run) -> None:
    """As if the stall window had passed since the last doorbell."""
    Run.objects.filter(pk=run.pk).update(doorbell_at=None)


def _dies(run: Run) -> Run:
    # through Django, or from the checkpoint writer's own connection
    with pytest.raises((IntegrityError, psycopg.IntegrityError), match="one_row_per_step_attempt"):
        run_advance(run_id=run.pk)
    run.refresh_from_db()
    return run


def test_a_slice_that_keeps_dying_fails_its_run_after_three_deaths(
    active_playbook, author, settings
):
    settings.AGENTSTUDIO_RUN_SLICE_FAILURES_MAX = 3
    run = _start(
        active_playbook,
        author,
        [
            {"id": "ok", "tool": "tools.test.count", "args": {"value": 0}},
            {"id": "bad", "tool": CONFLICT, "args": {"value": 1}},
        ],
    )
    for deaths in (1, 2):
        run = _dies(run)
        assert (run.status, run.slice_failures, run.lease_owner) == ("running", deaths, "")
        _stall(run)
        assert runs_requeue_stalled() == 1  # still re-delivered: it may recover
    run = _dies(run)
    assert run.status == RunStatus.FAILED
    assert run.error == (
        "step bad failed: the worker's slice died at it 3 times in a row: UniqueViolation: "
        'duplicate key value violates unique constraint "one_row_per_step_attempt"'
    )
    assert (run.cursor, run.slice_failures, run.lease_owner) == (1, 3, "")
    events = list(run.events.order_by("seq").values_list("type", "data"))
    assert events[-1] == ("run.failed", {"error": run.error})
    audit = AuditEvent.objects.filter(stream=f"run:{run.pk}").order_by("seq")
    last = audit.last()
    assert (last.type, last.data["error"], last.data["slice_failures"]) == (
        "run.failed",
        run.error,
        3,
    )
    assert last.seq == run.audit_seq and last.hash == run.audit_hash
    # nothing is re-delivered any more
    _stall(run)
    assert runs_requeue_stalled() == 0
    assert run_advance(run_id=run.pk) == Advance.BUSY
    # a person's retry gives the run its chances again
    retried = run_retry(run=run, actor=author)
    assert retried.slice_failures == 0


def test_a_slice_that_ends_normally_clears_the_count(active_playbook, author, settings):
    settings.AGENTSTUDIO_RUN_SLICE_FAILURES_MAX = 3
    run = _start(
        active_playbook, author, [{"id": "bad", "tool": CONFLICT, "args": {"fail_times": 2}}]
    )
    assert _dies(run).slice_failures == 1
    assert _dies(run).slice_failures == 2
    assert run_advance(run_id=run.pk) == Advance.FINISHED
    run.refresh_from_db()
    assert (run.status, run.slice_failures) == ("succeeded", 0)


def test_deaths_count_only_while_the_run_makes_no_progress(active_playbook, author, settings):
    # s0 dies twice, then gets through and s1 dies: s1's first death is a first death
    settings.AGENTSTUDIO_RUN_SLICE_FAILURES_MAX = 3
    run = _start(
        active_playbook,
        author,
        [
            {"id": "s0", "tool": CONFLICT, "args": {"fail_times": 2}},
            {"id": "s1", "tool": CONFLICT, "args": {"fail_times": 1_000}},
        ],
    )
    assert [_dies(run).slice_failures for _ in range(3)] == [1, 2, 1]
    assert run.cursor == 1 and run.status == "running"


def test_a_file_write_whose_checkpoint_died_leaves_its_invocation_and_audit_row(
    active_playbook, author, settings
):
    # The write happens, then its checkpoint dies: a step row for it is already there (a
    # corrupt record). The call is recorded on its own; the next slice replays it.
    settings.AGENTSTUDIO_RUN_SLICE_FAILURES_MAX = 3
    args = {"path": "out.txt", "content": "hello"}
    run = _start(active_playbook, author, [{"id": "w", "tool": WRITE, "args": args}])
    RunStep.objects.create(
        run=run,
        index=0,
        attempt=1,
        step_id="w",
        kind="tool",
        status="running",
        started_at=timezone.now(),
    )
    _dies(run)
    assert (run_workspace(run.pk) / "out.txt").read_text() == "hello"
    key = f"{run.pk}:w@1:0"
    invocation = ToolInvocation.objects.get(run=run)
    assert (invocation.key, invocation.status, invocation.arguments) == (key, "succeeded", args)
    assert invocation.result["size"] == 5
    audit = AuditEvent.objects.filter(stream=f"run:{run.pk}", type="tool.called")
    assert [row.data["key"] for row in audit] == [key]
    run.refresh_from_db()
    # the call's row follows the run's queued and started rows, and is the chain's head
    assert (run.audit_seq, run.audit_hash) == (3, audit.get().hash)
    # the next slice finds the call made (attempt 1 again: the row is open): it replays it
    # instead of writing again, and the run goes on
    assert run_advance(run_id=run.pk) == Advance.FINISHED
    run.refresh_from_db()
    assert (run.status, run.usage_tool_calls, run.slice_failures) == ("succeeded", 1, 0)
    assert ToolInvocation.objects.filter(run=run).count() == 1
    assert audit.count() == 1


def _worker_died_holding(run: Run) -> None:
    """What a worker killed mid-slice leaves: its lease, run out and never let go."""
    Run.objects.filter(pk=run.pk).update(
        lease_owner="host:4242:dead",
        lease_expires_at=timezone.now() - timedelta(seconds=1),
        doorbell_at=None,
    )


def test_the_beat_counts_workers_that_died_holding_the_run_and_fails_it_at_the_limit(
    running_run, settings
):
    settings.AGENTSTUDIO_RUN_SLICE_FAILURES_MAX = 3
    run = running_run(
        {
            "name": "Killed",
            "steps": [{"id": "big", "tool": "tools.test.count"}],
            "tools": ["tools.test.count"],
        }
    )
    for deaths in (1, 2):
        _worker_died_holding(run)
        assert runs_requeue_stalled() == 1
        run.refresh_from_db()
        assert (run.status, run.slice_failures, run.lease_owner) == ("running", deaths, "")
        assert runs_requeue_stalled() == 0  # counted once: the doorbell just rang
        Run.objects.filter(pk=run.pk).update(doorbell_at=None)
    _worker_died_holding(run)
    assert runs_requeue_stalled() == 0
    run.refresh_from_db()
    assert run.status == "failed"
    assert run.error == (
        "step big failed: the worker's slice died at it 3 times in a row: its worker stopped "
        "mid-slice (killed, or out of memory) and its lease ran out"
    )
    assert (run.lease_owner, run.lease_expires_at) == ("", None)
    assert run.events.order_by("seq").last().type == "run.failed"
    audit = AuditEvent.objects.get(stream=f"run:{run.pk}", type="run.failed")
    assert (audit.type, audit.data["error"]) == ("run.failed", run.error)
    # the run's chain: its creation (the fixture starts it by hand), then its failure, the head
    chain = AuditEvent.objects.filter(stream=f"run:{run.pk}").order_by("seq")
    assert list(chain.values_list("type", flat=True)) == ["run.queued", "run.failed"]
    assert (audit.seq, audit.hash) == (run.audit_seq, run.audit_hash)


def test_a_live_lease_and_a_let_go_lease_count_no_death(running_run, settings):
    run = running_run(
        {
            "name": "Fine",
            "steps": [{"id": "s", "tool": "tools.test.count"}],
            "tools": ["tools.test.count"],
        }
    )
    Run.objects.filter(pk=run.pk).update(
        lease_owner="host:1:alive",
        lease_expires_at=timezone.now() + timedelta(seconds=60),
        doorbell_at=None,
    )
    assert runs_requeue_stalled() == 0
    Run.objects.filter(pk=run.pk).update(lease_owner="", lease_expires_at=None, doorbell_at=None)
    assert runs_requeue_stalled() == 1
    run.refresh_from_db()
    assert run.slice_failures == 0
