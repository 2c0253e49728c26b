"""The same gates on the engine's path: a tool step whose risk class needs approval waits
for a person and is made as approved; rejected or tampered, it is not made."""

from approvals.hashing import tool_call_body_hash
from approvals.models import Approval
from approvals.services import approval_approve, approval_reject
from playbooks.engine.runner import Advance, run_advance
from playbooks.models import Run
from playbooks.runs.starting import run_start
from tests.engine import tools_for_tests
from tests.support.approvals import NOTIFY, notify_waiting, undo_window_elapse
from tools.models import ToolInvocation


def _waiting(active_playbook, author):
    return notify_waiting(active_playbook, author)


def test_an_external_send_waits_for_approval_and_is_not_made_meanwhile(active_playbook, author):
    run, approval = _waiting(active_playbook, author)
    assert (run.status, run.paused_reason) == ("waiting_for_approval", "tool_call")
    assert (approval.kind, approval.status, approval.step, approval.risk) == (
        "tool_call",
        "pending",
        "tell",
        "external_send",
    )
    assert approval.payload == {"tool": NOTIFY, "arguments": {"value": "ship it"}}
    assert not ToolInvocation.objects.filter(run=run).exists()
    assert tools_for_tests.CALLS == {}
    types = list(run.events.values_list("type", flat=True))
    assert types[-3:] == ["tool.approval_required", "approval.requested", "run.paused"]


def test_the_call_is_made_once_with_the_arguments_the_approver_approved(
    active_playbook, author, approver
):
    run, approval = _waiting(active_playbook, author)
    edited = {"tool": NOTIFY, "arguments": {"value": "ship it on Monday"}}
    approval_approve(
        approval=approval, actor=approver, body_hash=approval.body_hash, payload=edited
    )
    undo_window_elapse(approval)
    assert run_advance(run_id=run.pk) == Advance.FINISHED
    run = Run.objects.get(pk=run.pk)
    assert (run.status, run.outputs) == ("succeeded", {"told": "ship it on Monday"})
    invocation = ToolInvocation.objects.get(run=run)
    assert invocation.arguments == {"value": "ship it on Monday"}
    assert sum(tools_for_tests.CALLS.values()) == 1
    approval.refresh_from_db()
    assert approval.status == "executed"
    assert approval.result["structuredContent"]["value"] == "ship it on Monday"


def test_a_rejected_call_is_not_made_and_the_run_fails_with_the_reason(
    active_playbook, author, approver
):
    run, approval = _waiting(active_playbook, author)
    approval_reject(approval=approval, actor=approver, reason="not before the release")
    run.refresh_from_db()
    assert run.status == "failed"
    assert "not before the release" in run.error
    assert tools_for_tests.CALLS == {}


def test_an_approved_payload_changed_behind_its_hash_blocks_the_run_unsent(
    active_playbook, author, approver
):
    run, approval = _waiting(active_playbook, author)
    approval_approve(approval=approval, actor=approver, body_hash=approval.body_hash)
    undo_window_elapse(approval)
    # Someone rewrites the approved payload without a decision (approve X, send Y):
    changed_payload = {"tool": NOTIFY, "arguments": {"value": "something else"}}
    Approval.objects.filter(pk=approval.pk).update(payload=changed_payload)
    assert run_advance(run_id=run.pk) == Advance.PAUSED
    run.refresh_from_db()
    assert (run.status, run.paused_reason) == ("blocked", "approval_mismatch")
    assert tools_for_tests.CALLS == {}
    assert not ToolInvocation.objects.filter(run=run).exists()
    changed = run.events.get(type="tool.approval_mismatch").data
    assert (changed["approval"], changed["approved_hash"]) == (str(approval.pk), approval.body_hash)
    assert changed["actual_hash"] == tool_call_body_hash(
        tool=NOTIFY, arguments={"value": "something else"}
    )
    assert "not made" in changed["message"]

    # a person reviews the payload as it now stands; approved, it is sent once
    review = Approval.objects.get(run=run, status="pending")
    assert (review.call_key, review.payload) == (approval.call_key, changed_payload)
    assert review.body_hash == changed["actual_hash"]
    approval_approve(approval=review, actor=approver, body_hash=review.body_hash)
    undo_window_elapse(review)
    assert run_advance(run_id=run.pk) == Advance.FINISHED
    assert Run.objects.get(pk=run.pk).outputs == {"told": "something else"}
    assert sum(tools_for_tests.CALLS.values()) == 1


def test_a_denied_risk_class_fails_the_step_without_calling(active_playbook, author):
    spec = {
        "name": "Peek",
        "tools": ["tools.test.peek_secret"],
        "max_risk": "secret",
        "steps": [{"id": "peek", "tool": "tools.test.peek_secret", "args": {}}],
    }
    tools_for_tests.CALLS.clear()
    run = run_start(playbook=active_playbook(spec), actor=author, inputs={})
    run_advance(run_id=run.pk)
    run.refresh_from_db()
    assert run.status == "failed"
    assert "denied by the approval policy" in run.error
    assert tools_for_tests.CALLS == {}


def test_an_http_post_waits_with_its_dry_run_and_is_sent_once_when_approved(
    active_playbook, author, approver, settings
):
    from tests.support.sink import HttpSink

    settings.AGENTSTUDIO_HTTP_ALLOW = ["127.0.0.1"]
    sink = HttpSink.start()
    try:
        spec = {
            "name": "Post",
            "tools": ["tools.studio.http.post"],
            "max_risk": "external_send",
            "steps": [
                {
                    "id": "send",
                    "tool": "tools.studio.http.post",
                    "args": {"url": f"{sink.url}/orders", "json": {"order": 7}},
                }
            ],
        }
        run = run_start(playbook=active_playbook(spec), actor=author, inputs={})
        assert run_advance(run_id=run.pk) == Advance.PAUSED
        approval = Approval.objects.get(run=run)
        assert approval.dry_run["dry_run"] is True
        assert approval.dry_run["request"]["url"] == f"{sink.url}/orders"
        assert approval.dry_run["request"]["json"] == {"order": 7}
        assert sink.requests == []  # nothing sent before the decision
        approval_approve(approval=approval, actor=approver, body_hash=approval.body_hash)
        undo_window_elapse(approval)
        assert run_advance(run_id=run.pk) == Advance.FINISHED
        [request] = sink.requests
        assert request.json() == {"order": 7}
        assert request.idempotency_key == approval.dry_run["idempotency_key"]
        assert Run.objects.get(pk=run.pk).status == "succeeded"
    finally:
        sink.stop()
