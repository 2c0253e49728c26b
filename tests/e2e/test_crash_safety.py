"""S4 crash and restart, on real Celery workers: a SIGKILLed worker, a restarted Redis, a
non-idempotent call cut off mid-flight, and paused runs that hold no worker.

What a crash guarantees (DESIGN, "The run engine"): a step's row, its tool invocation, its
events and the cursor commit together, so a step that was executing when its worker died
left nothing behind and runs again from scratch (an idempotent tool may run twice, its step
is recorded once); a non-idempotent call that may have happened is never repeated silently.
"""

from __future__ import annotations

import re
from collections import Counter

import pytest

from approvals.models import Approval
from approvals.services import approval_approve
from playbooks.engine.workspace import run_workspace
from playbooks.runs.starting import run_start
from tests.support.processes import wait_for
from tests.support.runs import (
    assert_event_stream_intact,
    invocations,
    run_reload,
    run_wait_for_status,
    step_rows,
)
from tests.support.tool_definitions import SINK_POST, SLOW

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

STEP_EVENTS = ["step.started", "tool.called", "step.succeeded"]
# The worker's log line for a beat sweep that found exactly one stalled run.
REQUEUED_ONE = re.compile(r"Task runs\.requeue_stalled\[[^\]]+\] succeeded in [0-9.e-]+s: 1\b")


TRACE = "slow-calls.txt"  # tools.test.slow appends its call key here as it starts


def slow_spec(*, steps: int, seconds: float, name: str = "Slow steps") -> dict:
    return {
        "name": name,
        "tools": [SLOW],
        "steps": [
            {
                "id": f"s{index}",
                "tool": SLOW,
                "args": {"seconds": seconds, "value": index, "trace": TRACE},
            }
            for index in range(steps)
        ],
    }


def started_calls(run) -> list[str]:
    """Call keys of every execution of tools.test.slow that started, in order."""
    path = run_workspace(run.pk) / TRACE
    return path.read_text().splitlines() if path.exists() else []


def assert_each_step_once(run, steps: int) -> None:
    """Every step has exactly one row (attempt 1, succeeded), one succeeded invocation and
    one step.started / tool.called / step.succeeded triple, in order."""
    assert step_rows(run) == [(index, f"s{index}", 1, "succeeded") for index in range(steps)]
    assert invocations(run) == {f"{run.pk}:s{index}@1:0": "succeeded" for index in range(steps)}
    types = assert_event_stream_intact(run)
    assert types == ["run.queued", "run.started", *STEP_EVENTS * steps, "run.succeeded"]
    assert run_reload(run).usage_tool_calls == steps


def test_sigkill_worker_mid_step_the_run_completes_with_each_step_recorded_once(
    e2e_stack, active_playbook, author
):
    e2e_stack.start_beat()
    first = e2e_stack.start_worker()
    playbook = active_playbook(slow_spec(steps=6, seconds=1))

    run = run_start(playbook=playbook, actor=author, inputs={})
    s2 = f"{run.pk}:s2@1:0"
    wait_for(lambda: s2 in started_calls(run), 30, message="step s2 to start")
    first.kill()  # s2 sleeps one second: the worker dies in the middle of it

    killed = run_reload(run)
    assert (killed.status, killed.cursor) == ("running", 2)
    assert killed.lease_owner != ""  # the dead worker's lease: the run waits for it to expire

    e2e_stack.start_worker()
    done = run_wait_for_status(run, "succeeded", timeout=40)

    assert done.outputs == {f"s{index}": {"value": index} for index in range(6)}
    assert (done.lease_owner, done.lease_expires_at) == ("", None)
    assert_each_step_once(run, 6)
    # s2 ran twice (the dead worker's execution left nothing behind), every other step once.
    keys = [f"{run.pk}:s{index}@1:0" for index in range(6)]
    assert started_calls(run) == [*keys[:3], *keys[2:]]


def test_redis_restart_mid_run_the_beat_rings_the_lost_doorbell_and_the_run_finishes(
    e2e_stack, active_playbook, author
):
    e2e_stack.start_beat()
    # A time slice shorter than a step: after every step the worker rings the doorbell for
    # the next one, so the restart (no persistence) loses a doorbell or refuses to take it.
    worker = e2e_stack.start_worker(AGENTSTUDIO_RUN_SLICE_SECONDS="0.5")
    playbook = active_playbook(slow_spec(steps=6, seconds=1))

    run = run_start(playbook=playbook, actor=author, inputs={})
    wait_for(lambda: run_reload(run).cursor >= 2, 30, message="steps s0 and s1 to finish")
    e2e_stack.redis.restart(down_seconds=3)

    run_wait_for_status(run, "succeeded", timeout=45)
    assert_each_step_once(run, 6)
    assert started_calls(run) == [f"{run.pk}:s{index}@1:0" for index in range(6)]  # none twice
    # Only the beat task could ring again after the restart: it reports the run re-enqueued.
    assert REQUEUED_ONE.search(worker.log_text()), "the beat task never re-enqueued the run"


def test_a_run_started_while_redis_is_down_runs_once_redis_is_back(
    e2e_stack, active_playbook, author
):
    e2e_stack.start_beat()
    e2e_stack.start_worker()
    playbook = active_playbook(slow_spec(steps=2, seconds=0))

    e2e_stack.redis.stop()
    try:
        # The row is committed; the doorbell cannot be rung. Starting the run still works.
        run = run_start(playbook=playbook, actor=author, inputs={})
        queued = run_reload(run)
        assert (queued.status, queued.cursor) == ("queued", 0)
        assert queued.doorbell_at is not None
    finally:
        e2e_stack.redis.start()

    run_wait_for_status(run, "succeeded", timeout=45)
    assert_each_step_once(run, 2)


def sink_spec(url: str) -> dict:
    return {
        "name": "Deliver to the sink",
        "max_risk": "write",
        "tools": [SINK_POST, SLOW],
        "steps": [
            {"id": "prepare", "tool": SLOW, "args": {"seconds": 0, "value": "ready"}},
            {
                "id": "post",
                "tool": SINK_POST,
                "args": {"url": f"{url}/deliveries", "json": {"run": "{{ run.id }}", "n": 1}},
            },
            {"id": "after", "tool": SLOW, "args": {"seconds": 0, "value": "done"}},
        ],
    }


def test_worker_killed_during_a_non_idempotent_call_blocks_the_run_until_a_person_decides(
    e2e_stack, http_sink, active_playbook, author, approver
):
    e2e_stack.start_beat()
    first = e2e_stack.start_worker()
    http_sink.delay_seconds = 5  # the first POST hangs: the worker dies with it in flight
    playbook = active_playbook(sink_spec(http_sink.url))

    run = run_start(playbook=playbook, actor=author, inputs={})
    first_key = f"{run.pk}:post@1:0"
    http_sink.wait_for_posts(1, timeout=30)
    first.kill()
    http_sink.delay_seconds = 0
    # Saved as started before the POST left: that row is what makes the outcome "unknown".
    assert invocations(run)[first_key] == "started"

    e2e_stack.start_worker()
    blocked = run_wait_for_status(run, "blocked", timeout=40)

    assert blocked.paused_reason == "outcome_unknown"
    pending = Approval.objects.get(run=run, status="pending")
    assert pending.kind == "outcome_unknown"
    assert pending.step == "post"
    assert pending.payload == {
        "tool": SINK_POST,
        "arguments": {"url": f"{http_sink.url}/deliveries", "json": {"run": str(run.pk), "n": 1}},
        "key": first_key,
    }
    assert http_sink.count_by_key() == Counter({first_key: 1})  # not re-sent by the new worker
    assert invocations(run)[first_key] == "unknown"
    assert step_rows(run) == [(0, "prepare", 1, "succeeded"), (1, "post", 1, "waiting")]

    approval_approve(approval=pending, actor=approver, body_hash=pending.body_hash)
    done = run_wait_for_status(run, "succeeded", timeout=30)

    second_key = f"{run.pk}:post@2:0"
    posts = http_sink.posts()
    assert [post.idempotency_key for post in posts] == [first_key, second_key]
    assert [post.path for post in posts] == ["/deliveries", "/deliveries"]
    assert posts[0].json() == posts[1].json() == {"run": str(run.pk), "n": 1}
    assert step_rows(run) == [
        (0, "prepare", 1, "succeeded"),
        (1, "post", 1, "failed"),
        (1, "post", 2, "succeeded"),
        (2, "after", 1, "succeeded"),
    ]
    assert invocations(run) == {
        f"{run.pk}:prepare@1:0": "succeeded",
        first_key: "unknown",
        second_key: "succeeded",
        f"{run.pk}:after@1:0": "succeeded",
    }
    assert done.outputs["post"] == {"status": 200}
    assert Approval.objects.get(pk=pending.pk).status == "approved"
    assert assert_event_stream_intact(run) == [
        "run.queued",
        "run.started",
        *STEP_EVENTS,  # prepare
        "step.started",  # post, attempt 1, by the second worker
        "tool.outcome_unknown",
        "approval.requested",
        "run.paused",
        "approval.decided",
        "step.failed",  # post, attempt 1: retired by the decision
        "run.resumed",
        *STEP_EVENTS,  # post, attempt 2
        *STEP_EVENTS,  # after
        "run.succeeded",
    ]


def gate_spec() -> dict:
    return {
        "name": "Wait at a gate",
        "steps": [{"id": "gate", "approval": {"title": "Go on?", "payload": {"go": True}}}],
    }


def test_runs_paused_at_gates_hold_no_worker(e2e_stack, active_playbook, author):
    e2e_stack.start_worker()  # one worker, one process: any run holding it would starve others
    gated = active_playbook(gate_spec())
    plain = active_playbook(slow_spec(steps=2, seconds=0.2, name="Plain"))

    paused = [run_start(playbook=gated, actor=author, inputs={}) for _ in range(3)]
    for run in paused:
        run_wait_for_status(run, "waiting_for_approval", timeout=30)

    other = run_start(playbook=plain, actor=author, inputs={})
    run_wait_for_status(other, "succeeded", timeout=20)

    for run in paused:
        current = run_reload(run)
        assert (current.status, current.paused_reason) == ("waiting_for_approval", "gate")
        assert (current.lease_owner, current.lease_expires_at) == ("", None)
        assert Approval.objects.filter(run=run, kind="gate", status="pending").count() == 1
