"""Fixtures for engine tests: active playbooks built from specs, driven in-process.

These tests call `run_advance` directly (the worker's entry point) instead of waiting for a
broker: deterministic, and the same code a Celery worker runs. Real worker processes are
exercised by the end-to-end tests."""

import pytest

from playbooks.services import playbook_activate_as_system, playbook_create
from playbooks.specs import spec_check


@pytest.fixture
def active_playbook(org, author):
    def _make(spec: dict, **extra):
        checked = spec_check(spec=spec)
        assert checked.valid, [p.as_dict() for p in checked.report.errors]
        playbook = playbook_create(organization=org, actor=author, checked=checked, **extra)
        return playbook_activate_as_system(playbook=playbook)

    return _make
