"""The run services themselves enforce who may start, cancel and retry (not only the API)."""

import pytest

from agentstudio.errors import AppError
from playbooks.runs.services import run_cancel
from playbooks.runs.starting import run_start


def test_unlisted_runner_cannot_start_or_cancel_through_the_service(
    active_playbook, author, runner
):
    playbook = active_playbook(
        {
            "name": "T",
            "steps": [{"id": "a", "tool": "tools.studio.util.echo", "args": {}}],
            "tools": ["tools.studio.util.echo"],
        }
    )
    with pytest.raises(AppError) as refused:
        run_start(playbook=playbook, actor=runner, inputs={})
    assert refused.value.code == "permission_denied"
    run = run_start(playbook=playbook, actor=author, inputs={})
    with pytest.raises(AppError) as refused_cancel:
        run_cancel(run=run, actor=runner)
    assert refused_cancel.value.code == "permission_denied"
    playbook.allowed_users.add(runner)
    assert run_start(playbook=playbook, actor=runner, inputs={}).status == "queued"
