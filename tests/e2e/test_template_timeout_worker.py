"""A template that would render for hours stops at its step's timeout on a real Celery
worker (a pool process, where the broker's SIGALRM timer is also in use): the step fails
with a clear error and the worker goes on to the next run."""

from __future__ import annotations

import pytest

from playbooks.models import RunStep
from playbooks.runs.starting import run_start
from tests.support.runs import run_wait_for_status
from tests.support.tool_definitions import SLOW

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

# 10**9 empty iterations: no output, no call, no attribute access inside the loops.
NESTED_LOOPS = (
    "{% set xs = inputs.rows %}{% for a in xs %}{% for b in xs %}{% for c in xs %}"
    "{% endfor %}{% endfor %}{% endfor %}done"
)


def _spec(value: str) -> dict:
    return {
        "name": "Slow template",
        "inputs": {"type": "object", "properties": {"rows": {"type": "array"}}},
        "tools": [SLOW],
        "steps": [
            {
                "id": "render",
                "tool": SLOW,
                "timeout_seconds": 2,
                "args": {"seconds": 0, "value": value},
            }
        ],
    }


def test_a_worker_stops_a_template_at_the_steps_timeout(e2e_stack, active_playbook, author):
    e2e_stack.start_worker()
    rows = {"rows": list(range(1000))}
    slow = run_start(playbook=active_playbook(_spec(NESTED_LOOPS)), actor=author, inputs=rows)
    failed = run_wait_for_status(slow, "failed", timeout=60)
    step = RunStep.objects.get(run=slow, step_id="render")
    assert step.error == "template error: rendering ran past the step's 2 s timeout"
    assert failed.error == f"step render failed: {step.error}"

    counting = active_playbook(_spec("{{ inputs.rows | length }}"))
    quick = run_start(playbook=counting, actor=author, inputs=rows)
    done = run_wait_for_status(quick, "succeeded", timeout=60)
    assert done.outputs == {"render": {"value": 1000}}
