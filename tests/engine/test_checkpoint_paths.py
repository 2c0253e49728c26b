"""The step checkpoint's paths on PostgreSQL: the one-statement write on the engine's own
connection (inside a transaction, as in `db` tests), the overlapped write on the checkpoint
writer's connection (autocommit, as on a worker), and the fall-back to the row lock when the
guard finds the run changed. All must leave the same rows behind."""

import pytest

from playbooks.engine.lease import lease_renewal
from playbooks.engine.runner import Advance, run_advance
from playbooks.engine.view import step_is_pure
from playbooks.models import Run, RunStep
from playbooks.runs.starting import run_start
from tests.engine import tools_for_tests
from tools.models import ToolInvocation


@pytest.fixture(autouse=True)
def _reset_calls():
    tools_for_tests.CALLS.clear()


def _spec(tools: list[str]) -> dict:
    return {
        "name": "Checkpoint paths",
        "tools": sorted(set(tools)),
        "steps": [
            {"id": f"s{i}", "tool": tool, "args": {"value": i}} for i, tool in enumerate(tools)
        ],
    }


def _run(active_playbook, author, tools):
    run = run_start(playbook=active_playbook(_spec(tools)), actor=author, inputs={})
    return run, run_advance(run_id=run.pk)


def _assert_complete_record(run: Run, steps: int) -> None:
    run.refresh_from_db()
    assert run.status == "succeeded"
    assert (run.cursor, run.usage_tool_calls, run.lease_owner) == (steps, steps, "")
    rows = list(RunStep.objects.filter(run=run).order_by("index"))
    assert [(r.index, r.status, r.output["value"]) for r in rows] == [
        (i, "succeeded", i) for i in range(steps)
    ]
    assert all(r.input == {"value": r.index} and r.finished_at for r in rows)
    invocations = ToolInvocation.objects.filter(run=run)
    assert sorted(i.result["value"] for i in invocations) == list(range(steps))
    assert {i.status for i in invocations} == {"succeeded"}
    events = list(run.events.order_by("seq").values_list("seq", "type"))
    assert [seq for seq, _ in events] == list(range(1, len(events) + 1))
    assert run.event_seq == len(events)
    types = [kind for _, kind in events]
    assert types[:2] == ["run.queued", "run.started"] and types[-1] == "run.succeeded"
    assert types.count("step.started") == types.count("step.succeeded") == steps
    assert types.count("tool.called") == steps


def test_checkpoints_inside_a_transaction_use_the_engine_connection(active_playbook, author):
    run, result = _run(active_playbook, author, ["tools.test.count"] * 4)
    assert result == Advance.FINISHED
    _assert_complete_record(run, 4)


@pytest.mark.django_db(transaction=True)
def test_overlapped_checkpoints_leave_the_same_record(active_playbook, author):
    run, result = _run(active_playbook, author, ["tools.test.count"] * 6)
    assert result == Advance.FINISHED
    _assert_complete_record(run, 6)
    assert max(tools_for_tests.CALLS.values()) == 1  # no step ran twice


@pytest.mark.django_db(transaction=True)
def test_a_changed_run_row_sends_the_pending_checkpoint_through_the_row_lock(
    active_playbook, author
):
    # s1 appends an event from outside the engine while s0's checkpoint may be in flight:
    # the engine's guard misses, the lock path records the step, and the run goes on.
    run, result = _run(
        active_playbook, author, ["tools.test.count", "tools.test.poke", "tools.test.count"]
    )
    assert result == Advance.FINISHED
    run.refresh_from_db()
    assert run.status == "succeeded"
    assert list(RunStep.objects.filter(run=run).values_list("index", flat=True)) == [0, 1, 2]
    seqs = list(run.events.order_by("seq").values_list("seq", flat=True))
    assert seqs == list(range(1, len(seqs) + 1))
    assert run.events.filter(type="test.poked").count() == 1


def test_only_idempotent_local_tools_may_overlap_a_commit():
    assert step_is_pure({"id": "a", "tool": "tools.test.count"})
    assert not step_is_pure({"id": "a", "tool": "tools.test.send"})  # not idempotent
    assert not step_is_pure({"id": "a", "approval": {"title": "t", "payload": {}}})
    assert not step_is_pure({"id": "a", "tool": "tools.nobody.knows"})


def test_the_lease_is_renewed_only_when_half_of_it_is_gone(settings):
    from datetime import timedelta

    from django.utils import timezone

    settings.AGENTSTUDIO_RUN_LEASE_SECONDS = 300
    now = timezone.now()
    assert lease_renewal(now + timedelta(seconds=200)) is None
    renewed = lease_renewal(now + timedelta(seconds=100))
    assert renewed is not None and renewed > now + timedelta(seconds=290)
    assert lease_renewal(None) is not None


def _timed(tool: str) -> dict:
    return {
        "name": "Timeouts",
        "tools": [tool],
        "steps": [{"id": "slow", "tool": tool, "args": {"value": 5}, "timeout_seconds": 0.2}],
    }


def test_a_tool_past_its_timeout_fails_its_step(active_playbook, author):
    import time

    run = run_start(playbook=active_playbook(_timed("tools.test.slow")), actor=author, inputs={})
    started = time.monotonic()
    assert run_advance(run_id=run.pk) == Advance.FINISHED
    assert time.monotonic() - started < 3  # interrupted, not waited out
    run.refresh_from_db()
    assert run.status == "failed"
    assert "timed out after 0.2 s" in run.error
    assert tools_for_tests.CALLS == {}  # the tool never got past its sleep


def test_a_non_idempotent_tool_past_its_timeout_blocks_for_a_person(active_playbook, author):
    from approvals.models import Approval

    spec = _timed("tools.test.slow_send")
    run = run_start(playbook=active_playbook(spec), actor=author, inputs={})
    assert run_advance(run_id=run.pk) == Advance.PAUSED
    run.refresh_from_db()
    assert (run.status, run.paused_reason) == ("blocked", "outcome_unknown")
    assert Approval.objects.get(run=run).kind == "outcome_unknown"
    assert ToolInvocation.objects.get(run=run).status == "unknown"


def test_a_step_starts_only_with_a_lease_that_outlasts_its_timeout(
    active_playbook, author, settings
):
    settings.AGENTSTUDIO_RUN_LEASE_SECONDS = 100
    spec = {
        "name": "Long step",
        "tools": ["tools.test.lease_left"],
        "steps": [
            {"id": "short", "tool": "tools.test.lease_left", "args": {}, "timeout_seconds": 1},
            {"id": "long", "tool": "tools.test.lease_left", "args": {}, "timeout_seconds": 600},
        ],
    }
    run = run_start(playbook=active_playbook(spec), actor=author, inputs={})
    assert run_advance(run_id=run.pk) == Advance.FINISHED
    run.refresh_from_db()
    assert run.outputs["short"]["value"] <= 100  # the claimed lease was enough
    assert run.outputs["long"]["value"] >= 600  # extended before the step began


@pytest.mark.django_db(transaction=True)
def test_the_writer_reconnects_after_its_connection_dies(active_playbook, author):
    from django.db import connection

    from playbooks.engine.store.writer import checkpoint_writer

    _first, result = _run(active_playbook, author, ["tools.test.count"] * 3)
    assert result == Advance.FINISHED
    backend = checkpoint_writer._database.info.backend_pid
    with connection.cursor() as cursor:  # the server drops the writer's session
        cursor.execute("SELECT pg_terminate_backend(%s)", [backend])
    second, result = _run(active_playbook, author, ["tools.test.count"] * 3)
    assert result == Advance.FINISHED
    _assert_complete_record(second, 3)
    assert checkpoint_writer._database.info.backend_pid != backend
