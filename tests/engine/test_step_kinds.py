"""Step kinds, `when`, retries and templates, driven in-process through run_advance."""

import pytest

from playbooks.engine.runner import Advance, run_advance
from playbooks.models import Run, RunStep
from playbooks.runs.starting import run_start
from tests.engine import tools_for_tests
from tools.models import ToolInvocation


@pytest.fixture(autouse=True)
def _reset_calls():
    tools_for_tests.CALLS.clear()


def _spec(steps, **extra):
    return {
        "name": "T",
        "tools": sorted({s["tool"] for s in steps if "tool" in s}),
        "steps": steps,
        **extra,
    }


def _run(active_playbook, author, spec, inputs=None):
    run = run_start(playbook=active_playbook(spec), actor=author, inputs=inputs or {})
    return run, run_advance(run_id=run.pk)


def test_tool_steps_pass_native_values_between_steps(active_playbook, author):
    spec = _spec(
        [
            {"id": "a", "tool": "tools.test.count", "args": {"value": {"n": 1, "list": [1, 2]}}},
            {
                "id": "b",
                "tool": "tools.test.count",
                "args": {"value": "{{ steps.a.output.value }}"},
            },
            {
                "id": "c",
                "tool": "tools.test.count",
                "args": {"value": "n={{ steps.a.output.value.n }}"},
            },
        ]
    )
    run, result = _run(active_playbook, author, spec)
    assert result == Advance.FINISHED
    run = Run.objects.get(pk=run.pk)
    assert run.status == "succeeded"
    assert run.outputs["b"]["value"] == {"n": 1, "list": [1, 2]}
    assert run.outputs["c"]["value"] == "n=1"
    assert run.usage_tool_calls == 3
    assert ToolInvocation.objects.filter(run=run, status="succeeded").count() == 3


def test_when_false_skips_the_step(active_playbook, author):
    spec = _spec(
        [
            {"id": "a", "tool": "tools.test.count", "args": {"value": 1}},
            {
                "id": "b",
                "tool": "tools.test.count",
                "args": {},
                "when": "{{ steps.a.output.value > 5 }}",
            },
        ]
    )
    run, _ = _run(active_playbook, author, spec)
    assert RunStep.objects.get(run=run, step_id="b").status == "skipped"
    assert "step.skipped" in set(run.events.values_list("type", flat=True))
    assert Run.objects.get(pk=run.pk).status == "succeeded"


def test_retry_with_backoff_then_success(active_playbook, author):
    spec = _spec(
        [
            {
                "id": "f",
                "tool": "tools.test.flaky",
                "args": {"fail_times": 2, "value": 7},
                "retry": {"attempts": 3, "backoff_seconds": 0},
            }
        ]
    )
    run, result = _run(active_playbook, author, spec)
    while result == Advance.REQUEUED:
        result = run_advance(run_id=run.pk)
    run = Run.objects.get(pk=run.pk)
    assert run.status == "succeeded"
    attempts = list(RunStep.objects.filter(run=run).values_list("attempt", "status"))
    assert attempts == [(1, "failed"), (2, "failed"), (3, "succeeded")]


def test_backoff_is_exponential_and_holds_no_worker(active_playbook, author):
    spec = _spec(
        [
            {
                "id": "f",
                "tool": "tools.test.flaky",
                "args": {"fail_times": 5},
                "retry": {"attempts": 3, "backoff_seconds": 30, "backoff_multiplier": 2},
            }
        ]
    )
    run, result = _run(active_playbook, author, spec)
    assert result == Advance.REQUEUED
    run = Run.objects.get(pk=run.pk)
    delay = (run.not_before - RunStep.objects.get(run=run).finished_at).total_seconds()
    assert 29 <= delay <= 31
    assert run.lease_owner == ""  # released: the backoff holds no worker
    assert run_advance(run_id=run.pk) == Advance.REQUEUED  # too early: nothing executed
    assert RunStep.objects.filter(run=run).count() == 1


def test_exhausted_retries_fail_the_run_with_the_step_error(active_playbook, author):
    spec = _spec(
        [
            {
                "id": "f",
                "tool": "tools.test.flaky",
                "args": {"fail_times": 9},
                "retry": {"attempts": 2, "backoff_seconds": 0},
            }
        ]
    )
    run, result = _run(active_playbook, author, spec)
    while result == Advance.REQUEUED:
        result = run_advance(run_id=run.pk)
    run = Run.objects.get(pk=run.pk)
    assert run.status == "failed"
    assert run.error == "step f failed: flaky failure 2"
    assert list(run.events.values_list("type", flat=True))[-1] == "run.failed"


def test_template_error_fails_the_step_clearly(active_playbook, author):
    spec = _spec(
        [{"id": "a", "tool": "tools.test.count", "args": {"value": "{{ inputs.missing }}"}}]
    )
    run, _ = _run(active_playbook, author, spec)
    run = Run.objects.get(pk=run.pk)
    assert run.status == "failed"
    assert "template error" in run.error and "missing" in run.error


def test_invalid_tool_arguments_fail_with_the_schema_reason(active_playbook, author):
    spec = _spec([{"id": "a", "tool": "tools.test.count", "args": {"value": 1, "fail_times": "x"}}])
    run, _ = _run(active_playbook, author, spec)
    run = Run.objects.get(pk=run.pk)
    assert run.status == "failed"
    assert "inputSchema" in run.error and "fail_times" in run.error


def test_a_second_worker_cannot_claim_a_leased_run(active_playbook, author):
    from playbooks.engine.lease import run_claim_lease

    spec = _spec([{"id": "a", "tool": "tools.test.count", "args": {}}])
    run = run_start(playbook=active_playbook(spec), actor=author, inputs={})
    assert run_claim_lease(run_id=run.pk, owner="worker-a") is not None
    assert run_advance(run_id=run.pk, owner="worker-b") == Advance.BUSY
    assert RunStep.objects.filter(run=run).count() == 0


def test_time_slice_requeues_and_continues(active_playbook, author, settings):
    settings.AGENTSTUDIO_RUN_SLICE_SECONDS = 0
    spec = _spec(
        [{"id": f"s{i}", "tool": "tools.test.count", "args": {"value": i}} for i in range(3)]
    )
    run, result = _run(active_playbook, author, spec)
    results = [result]
    while result == Advance.REQUEUED:
        result = run_advance(run_id=run.pk)
        results.append(result)
    assert results == [Advance.REQUEUED, Advance.REQUEUED, Advance.FINISHED]  # one step each
    assert Run.objects.get(pk=run.pk).status == "succeeded"


def test_succeeded_invocation_is_never_executed_again(active_playbook, author):
    """A crash after the call but before the checkpoint leaves no invocation (it is saved in
    the checkpoint), so re-execution of idempotent tools is the designed behaviour; a
    checkpointed succeeded invocation is replayed from the database instead."""
    from playbooks.engine.steps import step_execute
    from playbooks.engine.view import RunView

    spec = _spec([{"id": "a", "tool": "tools.test.count", "args": {"value": 1}}])
    run, _ = _run(active_playbook, author, spec)
    run = Run.objects.get(pk=run.pk)
    view = RunView.load(run)
    view.step_attempts = {}  # pretend the step never finished
    outcome = step_execute(view, 0)
    assert outcome.output["calls"] == 1  # replayed result, not a second call
    assert outcome.events[0][1]["replayed"] is True
    assert sum(tools_for_tests.CALLS.values()) == 1


def test_step_rows_record_when_execution_began(active_playbook, author):
    spec = _spec([{"id": "a", "tool": "tools.studio.util.echo", "args": {"sleep_ms": 30}}])
    run, _ = _run(active_playbook, author, spec)
    row = RunStep.objects.get(run=run)
    assert (row.finished_at - row.started_at).total_seconds() >= 0.03


@pytest.mark.django_db(transaction=True)  # the tool runs on the broker's thread: committed rows
def test_a_cancel_during_a_step_wins_over_its_checkpoint(active_playbook, author):
    spec = _spec(
        [
            {"id": "a", "tool": "tools.test.count", "args": {}},
            {"id": "b", "tool": "tools.test.cancel_self", "args": {}},
            {"id": "c", "tool": "tools.test.count", "args": {}},
        ]
    )
    run, result = _run(active_playbook, author, spec)
    run = Run.objects.get(pk=run.pk)
    assert (run.status, run.error) == ("cancelled", "")
    assert result == Advance.IDLE
    assert list(RunStep.objects.filter(run=run).values_list("step_id", flat=True)) == ["a"]
    types = list(run.events.values_list("type", flat=True))
    assert types[-1] == "run.cancelled"
    assert list(run.events.values_list("seq", flat=True)) == list(range(1, len(types) + 1))
