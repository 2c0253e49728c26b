"""Approval scopes: `single` (this call), `batch` (every pending call of this tool in the
same step), `session` (later calls of this tool in this run; never for destructive, admin
or secret tools). Each use of a scope is recorded against the approval that granted it."""

import pytest

from agentstudio.errors import AppError
from approvals.models import Approval, ApprovalDecision
from approvals.services import approval_approve
from playbooks.engine.runner import Advance, run_advance
from playbooks.models import Run
from playbooks.runs.starting import run_start
from tests.engine import tools_for_tests

NOTIFY = "tools.test.notify"  # external_send


def _agent_spec(turns: list[list[str]]) -> dict:
    """An agent that calls NOTIFY with the given values, one list of calls per turn."""
    responses = [
        {"step": "tell", "tool_calls": [{"name": NOTIFY, "arguments": {"value": v}} for v in t]}
        for t in turns
    ]
    return {
        "name": "Scoped",
        "tools": [NOTIFY],
        "max_risk": "external_send",
        "approval_policy": {"external_send": {"mode": "approve", "undo_seconds": 0}},
        "model": {
            "provider": "scripted",
            "name": "gpt-4o-mini",
            "responses": [*responses, {"step": "tell", "content": "done"}],
        },
        "steps": [
            {
                "id": "tell",
                "agent": {"instruction": "Tell", "allowed_tools": [NOTIFY], "max_turns": 5},
            }
        ],
    }


def _start(active_playbook, author, turns):
    tools_for_tests.CALLS.clear()
    run = run_start(playbook=active_playbook(_agent_spec(turns)), actor=author, inputs={})
    assert run_advance(run_id=run.pk) == Advance.PAUSED
    return run


def _sent() -> list:
    return sorted(tools_for_tests.CALLS)


def test_batch_approves_every_pending_call_of_the_tool_in_the_step(
    active_playbook, author, approver
):
    run = _start(active_playbook, author, [["a", "b", "c"]])
    first, *others = Approval.objects.filter(run=run).order_by("call_key")
    approval_approve(approval=first, actor=approver, body_hash=first.body_hash, scope="batch")
    statuses = {
        a.payload["arguments"]["value"]: (a.status, a.scope)
        for a in Approval.objects.filter(run=run)
    }
    assert statuses == {v: ("approved", "batch") for v in "abc"}
    for other in others:
        decision = ApprovalDecision.objects.get(approval=other, action="approve")
        assert (decision.actor, decision.scope) == (approver, "batch")
        assert decision.reason == f"Approved with batch {first.pk}."
        assert decision.body_hash == other.body_hash
    assert Run.objects.get(pk=run.pk).status == "running"
    assert run_advance(run_id=run.pk) == Advance.FINISHED
    assert len(_sent()) == 3


def test_single_leaves_the_other_calls_waiting(active_playbook, author, approver):
    run = _start(active_playbook, author, [["a", "b"]])
    first, second = Approval.objects.filter(run=run).order_by("call_key")
    approval_approve(approval=first, actor=approver, body_hash=first.body_hash)
    second.refresh_from_db()
    assert second.status == "pending"
    assert Run.objects.get(pk=run.pk).status == "waiting_for_approval"


def test_session_covers_later_calls_of_the_tool_in_this_run_only(active_playbook, author, approver):
    run = _start(active_playbook, author, [["a"], ["b"], ["c"]])
    grant = Approval.objects.get(run=run)
    approval_approve(approval=grant, actor=approver, body_hash=grant.body_hash, scope="session")
    assert run_advance(run_id=run.pk) == Advance.FINISHED  # no more pauses
    assert len(_sent()) == 3
    covered = Approval.objects.filter(run=run, supersedes=grant).order_by("created_at")
    assert [(a.payload["arguments"]["value"], a.status, a.scope) for a in covered] == [
        ("b", "executed", "session"),
        ("c", "executed", "session"),
    ]
    assert all(a.decided_by == approver for a in covered)
    assert all(a.reason == f"Covered by the session approval {grant.pk}." for a in covered)

    # another run of the same playbook is not covered
    other = run_start(playbook=run.playbook, actor=author, inputs={})
    assert run_advance(run_id=other.pk) == Advance.PAUSED
    assert Approval.objects.get(run=other).status == "pending"


def test_session_is_refused_for_destructive_tools(active_playbook, author, approver):
    run = _start(active_playbook, author, [["a"]])
    approval = Approval.objects.get(run=run)
    Approval.objects.filter(pk=approval.pk).update(risk="destructive")
    approval.refresh_from_db()
    with pytest.raises(AppError, match="session scope is never granted for destructive"):
        approval_approve(
            approval=approval, actor=approver, body_hash=approval.body_hash, scope="session"
        )
    assert Approval.objects.get(pk=approval.pk).status == "pending"
