"""Fixtures for the broker's gates: active playbooks and runs that are running."""

import pytest

from playbooks.models import Run
from playbooks.run_services import run_create
from playbooks.services import playbook_activate_as_system, playbook_create
from playbooks.specs import spec_check
from tests.engine import tools_for_tests  # noqa: F401  (registers tools.test.*)


@pytest.fixture
def active_playbook(org, author):
    def _make(spec: dict):
        checked = spec_check(spec=spec)
        assert checked.valid, [p.as_dict() for p in checked.report.errors]
        playbook = playbook_create(organization=org, actor=author, checked=checked)
        return playbook_activate_as_system(playbook=playbook)

    return _make


@pytest.fixture
def running_run(active_playbook, author):
    """A run of `spec` that a worker has started (the `start` transition, as it does)."""

    def _make(spec: dict) -> Run:
        run = run_create(playbook=active_playbook(spec), actor=author, inputs={})
        run.start()
        run.save()
        return run

    return _make


def spec_with(tools: list[str], **extra) -> dict:
    return {
        "name": "Broker gates",
        "tools": tools,
        "steps": [{"id": "first", "tool": tools[0], "args": {}}],
        **extra,
    }
