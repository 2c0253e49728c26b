"""A run ends with its last step's checkpoint when it can (no review, outputs that render,
the writer free): one statement records the step and the run's success, and what follows
an end (a parent's wake-up) still happens after that commit. Otherwise the run completes on
its own afterwards, as before."""

from __future__ import annotations

import pytest

from playbooks.engine.runner import Advance, run_advance
from playbooks.models import Run, RunStep
from playbooks.runs.starting import run_start

pytestmark = pytest.mark.django_db(transaction=True)  # the writer works outside transactions

ECHO = "tools.studio.util.echo"


def _spec(outputs: dict | None = None, **extra) -> dict:
    spec = {
        "name": "Two echoes",
        "tools": [ECHO],
        "steps": [
            {"id": "first", "tool": ECHO, "args": {"value": "a"}},
            {"id": "last", "tool": ECHO, "args": {"value": "{{ steps.first.output.value }}b"}},
        ],
        **extra,
    }
    if outputs is not None:
        spec["outputs"] = outputs
    return spec


def _events(run: Run) -> list[tuple[str, object]]:
    return list(run.events.order_by("seq").values_list("type", "created_at"))


def test_the_last_checkpoint_carries_the_success(active_playbook, author):
    run = run_start(
        playbook=active_playbook(_spec({"joined": "{{ steps.last.output.value }}"})),
        actor=author,
        inputs={},
    )
    assert run_advance(run_id=run.pk) == Advance.FINISHED
    run.refresh_from_db()
    last = RunStep.objects.get(run=run, step_id="last")
    assert (run.status, run.outputs, run.cursor) == ("succeeded", {"joined": "ab"}, 2)
    assert (run.lease_owner, run.lease_expires_at, run.paused_reason) == ("", None, "")
    assert run.finished_at == last.finished_at  # written by the same statement
    # the run's active time (its steps'), never more than start to end
    assert 0 < run.usage_wall_seconds <= (run.finished_at - run.started_at).total_seconds()
    events = _events(run)
    assert [kind for kind, _ in events[-3:]] == ["tool.called", "step.succeeded", "run.succeeded"]
    assert events[-1][1] == events[-2][1]
    assert run.events.get(type="run.succeeded").data == {"outputs": {"joined": "ab"}}
    assert run.event_seq == len(events)


def test_outputs_that_do_not_render_fail_the_run_after_the_step(active_playbook, author):
    run = run_start(
        playbook=active_playbook(_spec({"bad": "{{ steps.last.output.missing.deeper }}"})),
        actor=author,
        inputs={},
    )
    run_advance(run_id=run.pk)
    run.refresh_from_db()
    assert run.status == "failed"
    assert run.error.startswith("outputs could not be rendered")
    assert RunStep.objects.get(run=run, step_id="last").status == "succeeded"
    assert [kind for kind, _ in _events(run)][-2:] == ["step.succeeded", "run.failed"]


def test_a_review_still_waits_for_a_person(active_playbook, author):
    run = run_start(
        playbook=active_playbook(_spec(review={"title": "Look"})), actor=author, inputs={}
    )
    run_advance(run_id=run.pk)
    run.refresh_from_db()
    assert run.status == "reviewing"
    assert run.finished_at is None


def test_a_child_that_ends_with_its_checkpoint_wakes_its_parent(
    active_playbook, author, thread_worker
):
    child = active_playbook(_spec({"joined": "{{ steps.last.output.value }}"}))
    parent_spec = {
        "name": "Parent",
        "steps": [{"id": "sub", "playbook": {"slug": child.slug, "inputs": {}}}],
        "outputs": {"from_child": "{{ steps.sub.output.joined }}"},
    }
    parent = run_start(playbook=active_playbook(parent_spec), actor=author, inputs={})
    run_advance(run_id=parent.pk)  # the child is created; its doorbell starts a thread
    for _ in range(50):
        for thread in list(thread_worker):
            thread.join(timeout=10)
        parent.refresh_from_db()
        if parent.is_final:
            break
    assert parent.status == "succeeded", (parent.status, parent.error)
    assert parent.outputs == {"from_child": "ab"}
    assert parent.events.filter(type="run.child_finished").count() == 1
