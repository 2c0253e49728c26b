"""Recovery in seconds, on real Celery workers: a SIGKILLed worker's run is taken over by
another worker within 30 s on the shipped timings (a short lease that a heartbeat renews
while a slice runs), and a step longer than the lease keeps its run all the same."""

from __future__ import annotations

import os

import pytest

from playbooks.runs.starting import run_start
from tests.e2e.test_crash_safety import assert_each_step_once, slow_spec, started_calls
from tests.support.processes import ChildProcess, wait_for
from tests.support.runs import run_reload, run_wait_for_status

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

RESUME_DEADLINE_SECONDS = 30  # issue 13, item 8: a lost worker's runs resume within 30 s


def lease_holder(run, workers: list[ChildProcess]) -> ChildProcess:
    """The worker whose pool child holds the run's lease (owner `host:pid:nonce`; a pool
    child is in its worker's process group)."""
    pid = int(run_reload(run).lease_owner.split(":")[1])
    return next(worker for worker in workers if os.getpgid(pid) == worker.pid)


@pytest.mark.e2e_seconds(150)
def test_a_sigkilled_workers_run_resumes_on_another_worker_within_30_s_on_shipped_timings(
    e2e_stack, active_playbook, author
):
    # The shipped lease, stall window, sweep interval and step timeout, not the stack's.
    e2e_stack.lease_seconds = e2e_stack.stalled_seconds = None
    e2e_stack.requeue_interval_seconds = None
    e2e_stack.start_beat(ready_timeout=60)
    workers = [e2e_stack.start_worker(), e2e_stack.start_worker()]
    playbook = active_playbook(slow_spec(steps=3, seconds=3))

    run = run_start(playbook=playbook, actor=author, inputs={})
    keys = [f"{run.pk}:s{index}@1:0" for index in range(3)]
    wait_for(lambda: keys[1] in started_calls(run), 30, message="step s1 to start")
    holder = lease_holder(run, workers)
    assert run_reload(run).cursor == 1  # s1 still runs
    holder.kill()  # the whole worker (main process and pool child), in the middle of s1

    wait_for(
        lambda: started_calls(run).count(keys[1]) == 2,
        RESUME_DEADLINE_SECONDS,
        message="another worker to run s1 again",
    )
    run_wait_for_status(run, "succeeded", timeout=30)
    assert_each_step_once(run, 3)
    assert started_calls(run) == [keys[0], keys[1], keys[1], keys[2]]


def test_a_step_longer_than_the_lease_keeps_its_run_while_its_worker_lives(
    e2e_stack, active_playbook, author
):
    # A 3 s lease, a sweep every second, and a second worker waiting: without a heartbeat
    # the lease would lapse mid-step and the other worker would run the step again.
    e2e_stack.lease_seconds = 3
    e2e_stack.start_beat()
    e2e_stack.start_worker()
    e2e_stack.start_worker()
    spec = slow_spec(steps=2, seconds=0.2)
    spec["steps"][0]["args"]["seconds"] = 8
    spec["steps"][0]["timeout_seconds"] = 20

    run = run_start(playbook=active_playbook(spec), actor=author, inputs={})
    run_wait_for_status(run, "succeeded", timeout=40)

    assert_each_step_once(run, 2)
    assert started_calls(run) == [f"{run.pk}:s0@1:0", f"{run.pk}:s1@1:0"]  # none twice
    lease = run_reload(run)
    assert (lease.lease_owner, lease.lease_expires_at) == ("", None)
