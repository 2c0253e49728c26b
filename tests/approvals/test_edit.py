"""PATCH /approvals/{id}/: an approver edits a pending payload without deciding. The new
hash is recorded, an approve bound to the old hash is 409, the edit is audited, and a tool
call's edit keeps its tool and passes the tool's inputSchema again."""

from agentstudio.audit.models import AuditEvent
from approvals.hashing import tool_call_body_hash
from approvals.models import ApprovalDecision
from playbooks.engine.runner import Advance, run_advance
from playbooks.models import Run
from tests.engine import tools_for_tests
from tests.support.approvals import NOTIFY, notify_waiting, undo_window_elapse
from tools.models import ToolInvocation


def _waiting(active_playbook, author):
    return notify_waiting(active_playbook, author)


def _patch(client, approval, payload):
    return client.patch(f"/api/v1/approvals/{approval.pk}/", {"payload": payload}, format="json")


def test_an_edit_records_a_new_hash_and_the_old_one_is_stale(
    active_playbook, author, approver, client_for
):
    run, approval = _waiting(active_playbook, author)
    client = client_for(approver)
    edited = {"tool": NOTIFY, "arguments": {"value": "ship it on Monday"}}
    response = _patch(client, approval, edited)
    assert response.status_code == 200, response.json()
    body = response.json()
    new_hash = tool_call_body_hash(tool=NOTIFY, arguments={"value": "ship it on Monday"})
    assert (body["status"], body["payload"], body["body_hash"]) == ("pending", edited, new_hash)
    decision = ApprovalDecision.objects.get(approval=approval, action="edit")
    assert decision.previous_payload == {"tool": NOTIFY, "arguments": {"value": "ship it"}}
    assert AuditEvent.objects.filter(type="approval.edited", actor=approver).exists()

    stale = client.post(
        f"/api/v1/approvals/{approval.pk}/approve/", {"body_hash": approval.body_hash}
    )
    assert stale.status_code == 409
    assert stale.json()["error"]["code"] == "hash_mismatch"
    fresh = client.post(f"/api/v1/approvals/{approval.pk}/approve/", {"body_hash": new_hash})
    assert fresh.status_code == 200
    undo_window_elapse(approval)

    assert run_advance(run_id=run.pk) == Advance.FINISHED
    assert Run.objects.get(pk=run.pk).outputs == {"told": "ship it on Monday"}
    assert ToolInvocation.objects.get(run=run).arguments == {"value": "ship it on Monday"}
    assert sum(tools_for_tests.CALLS.values()) == 1


def test_an_edit_may_not_change_the_tool_nor_break_its_schema(
    active_playbook, author, approver, client_for
):
    _run, approval = _waiting(active_playbook, author)
    client = client_for(approver)
    other_tool = _patch(client, approval, {"tool": "tools.test.count", "arguments": {}})
    assert other_tool.status_code == 400
    assert other_tool.json()["error"]["details"][0]["path"] == "/payload/tool"
    bad_arguments = _patch(client, approval, {"tool": NOTIFY, "arguments": {"to": "all"}})
    assert bad_arguments.status_code == 400
    assert bad_arguments.json()["error"]["details"][0]["path"] == "/payload/arguments"
    approval.refresh_from_db()
    assert approval.payload == {"tool": NOTIFY, "arguments": {"value": "ship it"}}
    assert not ApprovalDecision.objects.filter(approval=approval, action="edit").exists()


def test_only_deciders_edit_and_only_pending_approvals(
    active_playbook, author, approver, client_for
):
    _run, approval = _waiting(active_playbook, author)
    edited = {"tool": NOTIFY, "arguments": {"value": "x"}}
    assert _patch(client_for(author), approval, edited).status_code == 403
    client = client_for(approver)
    client.post(f"/api/v1/approvals/{approval.pk}/reject/", {"reason": "no"})
    decided = _patch(client, approval, edited)
    assert decided.status_code == 409
    assert decided.json()["error"]["code"] == "invalid_state"


def test_a_dry_run_that_says_the_call_cannot_succeed_blocks_approving_it_as_it_stands(
    active_playbook, author, approver, client_for
):
    # the rule is the service's, so the REST API keeps it as the admin does
    _run, approval = _waiting(active_playbook, author)
    approval.dry_run = {"dry_run": True, "refused": "nowhere.invalid does not resolve"}
    approval.save(update_fields=["dry_run"])
    client = client_for(approver)
    url = f"/api/v1/approvals/{approval.pk}/approve/"
    refused = client.post(url, {"body_hash": approval.body_hash}, format="json")
    assert refused.status_code == 400
    error = refused.json()["error"]
    assert (error["code"], error["details"][0]["path"]) == ("validation_error", "/dry_run")
    approval.refresh_from_db()
    assert approval.status == "pending"
    # an edit may mend what the dry run found: approving an edited payload goes through
    edited = {"tool": NOTIFY, "arguments": {"value": "ship it, fixed"}}
    mended = client.post(url, {"body_hash": approval.body_hash, "payload": edited}, format="json")
    assert mended.status_code == 200, mended.json()
    assert mended.json()["status"] == "approved"


def test_a_dry_run_that_failed_itself_does_not_block_the_approval(
    active_playbook, author, approver, client_for
):
    _run, approval = _waiting(active_playbook, author)
    approval.dry_run = {"dry_run": True, "error": "TypeError: the dry run broke"}
    approval.save(update_fields=["dry_run"])
    response = client_for(approver).post(
        f"/api/v1/approvals/{approval.pk}/approve/", {"body_hash": approval.body_hash}
    )
    assert response.status_code == 200, response.json()
    assert response.json()["status"] == "approved"
