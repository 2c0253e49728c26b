"""The undo window: an approved external send is made only after `undo_until` (5 s by
default); inside the window the approver may take it back (the call is never made and a
new pending approval for the same call opens); after it, undo is 409. Made exactly once
or not at all."""

import time
from datetime import timedelta

import pytest
from django.utils import timezone

from approvals.models import Approval, ApprovalDecision
from approvals.services import (
    approval_approve,
    approval_undo_window_closed,
    approvals_release_after_undo,
)
from playbooks.engine.runner import Advance, run_advance
from playbooks.models import Run
from playbooks.runs.tool_calls import tool_call_execute_approved
from tests.engine import tools_for_tests
from tests.support.approvals import NOTIFY, notify_spec, notify_waiting, undo_window_elapse
from tools.models import ToolInvocation
from tools.scope import scope_token_issue, scope_token_verify
from tools.services import tool_call_external


def _approved(active_playbook, author, approver, spec=None):
    run, approval = notify_waiting(active_playbook, author, spec)
    approval = approval_approve(approval=approval, actor=approver, body_hash=approval.body_hash)
    return run, approval


def test_an_approved_send_waits_out_its_window_before_it_is_made(active_playbook, author, approver):
    before = timezone.now()
    run, approval = _approved(active_playbook, author, approver)
    assert approval.status == "approved"
    assert (
        before + timedelta(seconds=4.5)
        < approval.undo_until
        <= timezone.now() + timedelta(seconds=5)
    )
    run.refresh_from_db()
    assert run.status == "waiting_for_approval"  # still: the window is open
    decided = run.events.get(type="approval.decided").data
    assert decided["undo_until"] == approval.undo_until.isoformat()
    approval_undo_window_closed(approval_id=approval.pk)  # early: nothing happens
    assert Run.objects.get(pk=run.pk).status == "waiting_for_approval"
    assert tools_for_tests.CALLS == {}

    undo_window_elapse(approval)
    assert Run.objects.get(pk=run.pk).status == "running"
    assert run_advance(run_id=run.pk) == Advance.FINISHED
    assert sum(tools_for_tests.CALLS.values()) == 1
    assert Approval.objects.get(pk=approval.pk).status == "executed"


def test_undo_inside_the_window_sends_nothing_and_reopens_the_call(
    active_playbook, author, approver, client_for
):
    run, approval = _approved(active_playbook, author, approver)
    response = client_for(approver).post(f"/api/v1/approvals/{approval.pk}/undo/")
    assert response.status_code == 200, response.json()
    reopened = Approval.objects.get(pk=response.json()["id"])
    assert (reopened.status, reopened.call_key, reopened.supersedes_id) == (
        "pending",
        approval.call_key,
        approval.pk,
    )
    assert (reopened.payload, reopened.body_hash) == (approval.payload, approval.body_hash)
    approval.refresh_from_db()
    assert approval.status == "undone"
    assert ApprovalDecision.objects.filter(approval=approval, action="undo").count() == 1
    types = list(run.events.order_by("seq").values_list("type", flat=True))
    assert types[-2:] == ["approval.undone", "approval.requested"]
    # the window's task and a stray wake-up both find nothing to do
    approval_undo_window_closed(approval_id=approval.pk)
    run_advance(run_id=run.pk)
    assert Run.objects.get(pk=run.pk).status == "waiting_for_approval"
    assert tools_for_tests.CALLS == {}
    assert not ToolInvocation.objects.filter(run=run).exists()

    # decided again: rejected, the call is never made
    client_for(approver).post(f"/api/v1/approvals/{reopened.pk}/reject/", {"reason": "not now"})
    assert Run.objects.get(pk=run.pk).status == "failed"
    assert tools_for_tests.CALLS == {}


def test_undo_after_the_window_is_409(active_playbook, author, approver, client_for):
    _run, approval = _approved(active_playbook, author, approver)
    Approval.objects.filter(pk=approval.pk).update(undo_until=timezone.now())
    response = client_for(approver).post(f"/api/v1/approvals/{approval.pk}/undo/")
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "invalid_state"
    assert Approval.objects.get(pk=approval.pk).status == "approved"


def test_only_deciders_undo(active_playbook, author, approver, client_for):
    _run, approval = _approved(active_playbook, author, approver)
    assert client_for(author).post(f"/api/v1/approvals/{approval.pk}/undo/").status_code == 403


@pytest.mark.django_db(transaction=True)
def test_the_window_closes_on_time_through_the_beat_sweep(active_playbook, author, approver):
    run, approval = _approved(active_playbook, author, approver, notify_spec(undo_seconds=1))
    assert approval.undo_until <= timezone.now() + timedelta(seconds=1)
    assert approvals_release_after_undo() == 0
    time.sleep(max(0.0, (approval.undo_until - timezone.now()).total_seconds()) + 0.05)
    assert approvals_release_after_undo() == 1
    assert Run.objects.get(pk=run.pk).status == "running"
    assert run_advance(run_id=run.pk) == Advance.FINISHED
    assert sum(tools_for_tests.CALLS.values()) == 1


def test_no_window_when_the_policy_sets_none(active_playbook, author, approver):
    run, approval = _approved(active_playbook, author, approver, notify_spec(undo_seconds=0))
    assert approval.undo_until is None
    assert Run.objects.get(pk=run.pk).status == "running"


def test_an_api_call_waits_out_its_window_and_the_sweep_releases_it(
    running_run, approver, django_capture_on_commit_callbacks
):
    tools_for_tests.CALLS.clear()
    run = running_run(notify_spec())
    scope, _run = scope_token_verify(scope_token_issue(run)[0])
    asked = tool_call_external(scope=scope, run=run, name=NOTIFY, arguments={"value": "x"})
    assert asked.structured["status"] == "pending"
    approval = Approval.objects.get(run=run)
    approval_approve(approval=approval, actor=approver, body_hash=approval.body_hash)
    tool_call_execute_approved(approval_id=approval.pk)  # inside the window: not made
    assert tools_for_tests.CALLS == {}

    Approval.objects.filter(pk=approval.pk).update(undo_until=timezone.now())
    with django_capture_on_commit_callbacks() as queued:
        assert approvals_release_after_undo() == 1  # as if the delayed task was lost
    assert len(queued) == 1  # the call's execution, queued after the release commits
    tool_call_execute_approved(approval_id=approval.pk)  # what that task runs
    assert sum(tools_for_tests.CALLS.values()) == 1
    assert Approval.objects.get(pk=approval.pk).status == "executed"
    assert approvals_release_after_undo() == 0
