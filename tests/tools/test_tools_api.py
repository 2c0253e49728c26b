"""The broker's REST surface: GET /tools/, POST /tools/call/ with a run scope token, and
POST /runs/{id}/scope-token/, gate by gate (API.md, Tools)."""

import time

import jwt
import pytest
from django.conf import settings

from approvals.hashing import tool_call_body_hash
from approvals.models import Approval
from approvals.services import approval_approve
from playbooks.runs.tool_calls import tool_call_execute_approved
from tests.support.approvals import undo_window_elapse
from tests.tools.conftest import spec_with
from tools.models import ToolInvocation
from tools.scope import scope_token_issue

ECHO = "tools.studio.util.echo"


@pytest.fixture
def client():
    """An API client without credentials: each call brings its own scope token."""
    from rest_framework.test import APIClient

    return APIClient()


def _call(client, token, name, arguments=None, **headers):
    if token is not None:
        headers["HTTP_AUTHORIZATION"] = f"Bearer {token}"
    return client.post(
        "/api/v1/tools/call/",
        {"name": name, "arguments": arguments or {}},
        format="json",
        **headers,
    )


def _error(response):
    return response.status_code, response.json()["error"]["code"]


def test_tools_lists_every_tool_with_its_risk_and_annotations(client_for, viewer):
    tools = {t["name"]: t for t in client_for(viewer).get("/api/v1/tools/").json()["tools"]}
    assert tools["tools.studio.files.read"]["risk"] == "read"
    assert tools["tools.studio.files.read"]["annotations"]["readOnlyHint"] is True
    assert tools["tools.studio.files.write"]["annotations"]["readOnlyHint"] is False
    assert set(tools[ECHO]) >= {"title", "description", "inputSchema", "annotations"}


@pytest.mark.parametrize("token", [None, "not-a-jwt", "eyJhbGciOiJIUzI1NiJ9.e30.x"])
def test_the_tool_list_needs_a_key_a_session_or_a_scope_token(client, token):
    headers = {"HTTP_AUTHORIZATION": f"Bearer {token}"} if token else {}
    response = client.get("/api/v1/tools/", **headers)
    assert _error(response) == (401, "not_authenticated")


def test_a_finished_runs_token_lists_nothing(running_run, client):
    from playbooks.runs.services import run_cancel

    run = running_run(spec_with([ECHO]))
    token, _ = scope_token_issue(run)
    listed = client.get("/api/v1/tools/", HTTP_AUTHORIZATION=f"Bearer {token}")
    assert [tool["name"] for tool in listed.json()["tools"]] == [ECHO]
    run_cancel(run=run, actor=None)
    response = client.get("/api/v1/tools/", HTTP_AUTHORIZATION=f"Bearer {token}")
    assert _error(response) == (401, "not_authenticated")


def test_a_call_with_the_scope_token_runs_and_is_recorded(running_run, client):
    run = running_run(spec_with([ECHO]))
    token, _ = scope_token_issue(run)
    response = _call(client, token, ECHO, {"value": {"a": 1}})
    assert response.status_code == 200, response.json()
    body = response.json()
    assert (body["isError"], body["structuredContent"]) == (False, {"value": {"a": 1}})
    assert body["content"][0]["type"] == "text" and body["_meta"]["trace_id"]
    invocation = ToolInvocation.objects.get(run=run)
    assert (invocation.step_id, invocation.status, invocation.tool) == ("api", "succeeded", ECHO)
    run.refresh_from_db()
    assert run.usage_tool_calls == 1
    assert run.events.order_by("-seq").first().type == "tool.called"


def test_an_unknown_tool_is_404_before_the_token_is_looked_at(client):
    assert _error(_call(client, None, "tools.nobody.here")) == (404, "not_found")


@pytest.mark.parametrize("token", [None, "not-a-jwt", "eyJhbGciOiJIUzI1NiJ9.e30.x"])
def test_a_missing_or_malformed_token_is_401(client, token):
    assert _error(_call(client, token, ECHO)) == (401, "not_authenticated")


def test_a_tampered_or_expired_token_is_401(running_run, client):
    run = running_run(spec_with([ECHO]))
    token, _ = scope_token_issue(run)
    claims = jwt.decode(token, options={"verify_signature": False})
    forged = jwt.encode(
        {**claims, "allowed_risk_max": "secret"},
        "a-key-that-is-not-the-signing-key-at-all",
        algorithm="HS256",
    )
    assert _error(_call(client, forged, ECHO)) == (401, "not_authenticated")
    expired = jwt.encode(
        {**claims, "exp": int(time.time()) - 5}, settings.SECRET_KEY, algorithm="HS256"
    )
    response = _call(client, expired, ECHO)
    assert _error(response) == (401, "not_authenticated")
    assert "expired" in response.json()["error"]["message"]


def test_a_token_dies_with_its_run(running_run, client):
    from playbooks.runs.services import run_cancel

    run = running_run(spec_with([ECHO]))
    token, _ = scope_token_issue(run)
    run_cancel(run=run, actor=None)
    response = _call(client, token, ECHO)
    assert _error(response) == (401, "not_authenticated")
    assert "cancelled" in response.json()["error"]["message"]


def test_a_token_of_an_earlier_attempt_is_401(running_run, client):
    run = running_run(spec_with([ECHO]))
    token, _ = scope_token_issue(run)
    run.attempt += 1  # a retry makes a new attempt (its own transition sets this)
    run.save(update_fields=["attempt"])
    assert _error(_call(client, token, ECHO)) == (401, "not_authenticated")


def test_a_tool_outside_the_scope_is_403(running_run, client):
    run = running_run(spec_with([ECHO]))
    token, _ = scope_token_issue(run)
    response = _call(client, token, "tools.studio.files.read", {"path": "x"})
    assert _error(response) == (403, "permission_denied")


def test_a_token_narrowed_below_a_tools_risk_is_403(running_run, client):
    run = running_run(spec_with([ECHO]))
    token, _ = scope_token_issue(run)
    claims = jwt.decode(token, options={"verify_signature": False})
    narrowed = jwt.encode({**claims, "allowed_risk_max": "read"}, settings.SECRET_KEY, "HS256")
    response = _call(client, narrowed, ECHO, {"value": 1})
    assert _error(response) == (403, "permission_denied")
    assert "above this run's limit read" in response.json()["error"]["message"]


def test_arguments_outside_the_input_schema_are_200_is_error(running_run, client):
    run = running_run(spec_with([ECHO]))
    token, _ = scope_token_issue(run)
    response = _call(client, token, ECHO, {"sleep_ms": "soon"})
    assert response.status_code == 200
    body = response.json()
    assert body["isError"] is True
    assert "/sleep_ms" in body["content"][0]["text"]


def test_a_failure_inside_the_tool_is_200_is_error(running_run, client):
    run = running_run(spec_with(["tools.test.flaky"]))
    token, _ = scope_token_issue(run)
    response = _call(client, token, "tools.test.flaky", {"fail_times": 1, "value": "v"})
    assert response.status_code == 200
    body = response.json()
    assert body["isError"] is True
    assert "flaky failure 1" in body["content"][0]["text"]
    invocation = ToolInvocation.objects.get(run=run)
    assert (invocation.tool, invocation.status) == ("tools.test.flaky", "failed")


def test_a_denied_risk_class_is_403(running_run, client):
    run = running_run(spec_with(["tools.test.peek_secret"], max_risk="secret"))
    token, _ = scope_token_issue(run)
    response = _call(client, token, "tools.test.peek_secret")
    assert _error(response) == (403, "permission_denied")
    assert "denied by the approval policy" in response.json()["error"]["message"]


def test_a_call_that_needs_approval_waits_then_is_made_as_approved(running_run, client, approver):
    run = running_run(spec_with(["tools.test.notify"], max_risk="external_send"))
    token, _ = scope_token_issue(run)
    response = _call(client, token, "tools.test.notify", {"value": "hello"})
    assert response.status_code == 200
    body = response.json()
    assert body["isError"] is True
    assert body["structuredContent"]["status"] == "pending"
    approval = Approval.objects.get(pk=body["structuredContent"]["approval_id"])
    assert (approval.kind, approval.tool, approval.risk, approval.step) == (
        "tool_call",
        "tools.test.notify",
        "external_send",
        "api",
    )
    assert approval.payload == {"tool": "tools.test.notify", "arguments": {"value": "hello"}}
    assert approval.body_hash == tool_call_body_hash(
        tool="tools.test.notify", arguments={"value": "hello"}
    )
    assert not ToolInvocation.objects.filter(run=run).exists()  # not made

    edited = {"tool": "tools.test.notify", "arguments": {"value": "hello, edited"}}
    approval_approve(
        approval=approval, actor=approver, body_hash=approval.body_hash, payload=edited
    )
    undo_window_elapse(approval)
    tool_call_execute_approved(approval_id=approval.pk)  # what the on-commit task runs
    approval.refresh_from_db()
    assert approval.status == "executed"
    assert approval.result["structuredContent"]["value"] == "hello, edited"
    invocation = ToolInvocation.objects.get(run=run)
    assert (invocation.arguments, invocation.status) == ({"value": "hello, edited"}, "succeeded")


def test_scope_tokens_are_issued_for_running_runs_to_who_may_run_them(
    running_run, active_playbook, author, viewer, client_for
):
    from playbooks.runs.starting import run_start

    run = running_run(spec_with([ECHO]))
    response = client_for(author).post(f"/api/v1/runs/{run.pk}/scope-token/")
    assert response.status_code == 201
    claims = jwt.decode(response.json()["token"], options={"verify_signature": False})
    assert (claims["run_id"], claims["allowed_tools"], claims["allowed_risk_max"]) == (
        str(run.pk),
        [ECHO],
        "write",
    )
    assert claims["jti"] and claims["exp"] > time.time()
    queued = run_start(playbook=active_playbook(spec_with([ECHO])), actor=author, inputs={})
    assert _error(client_for(author).post(f"/api/v1/runs/{queued.pk}/scope-token/")) == (
        409,
        "invalid_state",
    )
    assert client_for(viewer).post(f"/api/v1/runs/{run.pk}/scope-token/").status_code == 404
