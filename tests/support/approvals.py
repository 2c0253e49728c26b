"""Approvals in tests: a run waiting on an external send's approval, and letting an approved
call's undo window pass without waiting it out."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.utils import timezone

from approvals.models import Approval
from approvals.services import approval_undo_window_closed
from playbooks.engine.runner import Advance, run_advance
from playbooks.runs.starting import run_start
from tests.engine import tools_for_tests

NOTIFY = "tools.test.notify"  # external_send: approve by default, 5 s undo window


def notify_spec(*, name: str = "Notify", **policy: Any) -> dict[str, Any]:
    """One step that calls NOTIFY; `policy` overrides the external_send approval rule."""
    spec: dict[str, Any] = {
        "name": name,
        "tools": [NOTIFY],
        "max_risk": "external_send",
        "steps": [{"id": "tell", "tool": NOTIFY, "args": {"value": "ship it"}}],
        "outputs": {"told": "{{ steps.tell.output.value }}"},
    }
    if policy:
        spec["approval_policy"] = {"external_send": {"mode": "approve", **policy}}
    return spec


def notify_waiting(active_playbook: Any, author: Any, spec: dict | None = None) -> tuple:
    """A run of `spec` advanced in-process until it waits for NOTIFY's approval."""
    tools_for_tests.CALLS.clear()
    run = run_start(playbook=active_playbook(spec or notify_spec()), actor=author, inputs={})
    assert run_advance(run_id=run.pk) == Advance.PAUSED
    run.refresh_from_db()
    return run, Approval.objects.get(run=run)


def undo_window_elapse(approval: Any) -> None:
    """Moves the window's end into the past and runs what its delayed task runs."""
    Approval.objects.filter(pk=approval.pk, undo_until__isnull=False).update(
        undo_until=timezone.now() - timedelta(milliseconds=1)
    )
    approval_undo_window_closed(approval_id=approval.pk)
