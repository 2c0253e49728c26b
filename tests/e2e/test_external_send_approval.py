"""S2 step 4 on a real worker and beat, through the REST API: a run prepares a delivery to
a webhook (`tools.studio.http.post`, external_send). The approval shows the exact body, its
hash and the dry run. Another approver edits it (PATCH), so the first approver's hash is
stale (409) and nothing is sent. Approved with the current hash, it waits out the 5-second
undo window; an undo inside the window sends nothing and reopens the call; approved again,
it is sent exactly once, after its window, with the call's Idempotency-Key."""

from __future__ import annotations

import time

import pytest
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from agentstudio.accounts.models import Role
from playbooks.models import Run
from playbooks.runs.starting import run_start
from tests.support.runs import run_wait_for_status
from tools.models import ToolInvocation

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

POST = "tools.studio.http.post"


def _spec(url: str) -> dict:
    return {
        "name": "Deliver the pack",
        "tools": [POST],
        "max_risk": "external_send",
        "steps": [
            {
                "id": "deliver",
                "tool": POST,
                "args": {"url": url, "json": {"pack": "q3.xlsx", "to": "finance"}},
            }
        ],
        "outputs": {"status": "{{ steps.deliver.output.status }}"},
    }


def _ok(response, status: int = 200) -> dict:
    assert response.status_code == status, (response.status_code, response.content[:2000])
    return response.json()


def _pending(client, run) -> dict:
    [approval] = _ok(client.get(f"/api/v1/approvals/?run={run.pk}&status=pending"))["results"]
    return approval


def test_a_delivery_is_sent_once_after_edit_stale_hash_and_undo(
    e2e_stack, http_sink, active_playbook, author, approver, make_user, client_for
):
    e2e_stack.start_beat()
    e2e_stack.start_worker()
    url = f"{http_sink.url}/deliveries"
    run = run_start(playbook=active_playbook(_spec(url)), actor=author, inputs={})
    run_wait_for_status(run, "waiting_for_approval", timeout=30)

    first, second = client_for(approver), client_for(make_user(Role.APPROVER))
    shown = _pending(first, run)
    assert (shown["kind"], shown["tool"], shown["risk"]) == ("tool_call", POST, "external_send")
    assert shown["payload"] == {
        "tool": POST,
        "arguments": {"url": url, "json": {"pack": "q3.xlsx", "to": "finance"}},
    }
    dry = shown["dry_run"]["request"]
    assert (dry["method"], dry["url"], dry["json"]) == (
        "POST",
        url,
        {"pack": "q3.xlsx", "to": "finance"},
    )

    # another approver edits the body under the first one's eyes
    edited = {"tool": POST, "arguments": {"url": url, "json": {"pack": "q3.xlsx", "to": "cfo"}}}
    changed = _ok(
        second.patch(f"/api/v1/approvals/{shown['id']}/", {"payload": edited}, format="json")
    )
    stale = first.post(
        f"/api/v1/approvals/{shown['id']}/approve/", {"body_hash": shown["body_hash"]}
    )
    assert stale.status_code == 409 and stale.json()["error"]["code"] == "hash_mismatch"

    # approved with the hash now shown, then taken back inside the undo window
    approved = _ok(
        first.post(f"/api/v1/approvals/{shown['id']}/approve/", {"body_hash": changed["body_hash"]})
    )
    undo_until = parse_datetime(approved["undo_until"])
    assert 4.0 < (undo_until - timezone.now()).total_seconds() <= 5.0
    reopened = _ok(first.post(f"/api/v1/approvals/{shown['id']}/undo/"))
    assert (reopened["status"], reopened["payload"]) == ("pending", edited)
    time.sleep(max(0.0, (undo_until - timezone.now()).total_seconds()) + 2.0)
    assert http_sink.posts() == []  # the undone approval's window passed: nothing was sent
    assert Run.objects.get(pk=run.pk).status == "waiting_for_approval"

    # approved again: sent once, only after its own window
    again = _ok(
        second.post(
            f"/api/v1/approvals/{reopened['id']}/approve/", {"body_hash": reopened["body_hash"]}
        )
    )
    window_end = parse_datetime(again["undo_until"])
    done = run_wait_for_status(run, "succeeded", timeout=40)
    [post] = http_sink.wait_for_posts(1, timeout=5)
    assert post.json() == {"pack": "q3.xlsx", "to": "cfo"}
    invocation = ToolInvocation.objects.get(run=run)
    assert post.idempotency_key == invocation.key
    assert invocation.started_at >= window_end
    assert done.outputs == {"status": 200}
    statuses = {
        a["id"]: a["status"] for a in _ok(first.get(f"/api/v1/approvals/?run={run.pk}"))["results"]
    }
    assert statuses == {shown["id"]: "undone", reopened["id"]: "executed"}
    time.sleep(1.0)  # a late duplicate would have arrived by now
    assert len(http_sink.posts()) == 1
