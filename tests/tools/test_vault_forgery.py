"""Vault handles cannot be forged: only a vault('name') the playbook's author wrote in the
spec resolves. A handle-shaped value arriving as data (a run input, a step's or a model's
output, an agent's or an API caller's tool-call arguments, a question's answer, an
approver's edit) never resolves: the call is refused with a clear error, or the edit is
refused, and the secret appears nowhere (DESIGN.md, Templates)."""

import json

import pytest

from approvals.models import Approval
from approvals.services import approval_answer, approval_approve
from playbooks.engine.runner import run_advance
from playbooks.engine.workspace import run_workspace
from playbooks.models import Run, RunEvent, RunStep
from playbooks.runs.starting import run_start
from playbooks.spec.templates import template_check
from tests.engine import tools_for_tests
from tests.support.approvals import NOTIFY, undo_window_elapse
from tests.tools.conftest import spec_with
from tools.models import ToolInvocation
from tools.scope import scope_token_issue
from tools.vault import secret_set

VALUE = "xoxb-FORGED-SECRET-7777"
HANDLE = {"$vault": "api.token"}
ECHO = "tools.studio.util.echo"
WRITE, READ = "tools.studio.files.write", "tools.studio.files.read"
COUNT = "tools.test.count"


def refusal(path: str) -> str:
    return (
        f"Arguments hold a vault handle at {path} that the playbook's author did not write: "
        "a secret resolves only from vault('name') in the spec."
    )


@pytest.fixture(autouse=True)
def secret(org, admin_user):
    secret_set(organization=org, actor=admin_user, name="api.token", value=VALUE)


def recorded(run: Run, *clients_and_urls) -> str:
    """Everything the system kept or shows of a run: rows, events, files, API answers."""
    texts = [
        json.dumps(list(RunEvent.objects.filter(run=run).values("type", "data")), default=str),
        json.dumps(
            list(RunStep.objects.filter(run=run).values("input", "output", "error", "state")),
            default=str,
        ),
        json.dumps(
            list(ToolInvocation.objects.filter(run=run).values("arguments", "result")),
            default=str,
        ),
        json.dumps(
            list(Approval.objects.filter(run=run).values("payload", "result", "response")),
            default=str,
        ),
        json.dumps(Run.objects.filter(pk=run.pk).values("outputs", "error").get(), default=str),
    ]
    workspace = run_workspace(run.pk)
    if workspace.exists():
        texts += [p.read_text(errors="replace") for p in workspace.rglob("*") if p.is_file()]
    for client, url in clients_and_urls:
        texts.append(client.get(url).content.decode())
    return "\n".join(texts)


def failed_step(run: Run, step_id: str) -> RunStep:
    return RunStep.objects.filter(run=run, step_id=step_id).order_by("-attempt").first()


def test_a_run_input_shaped_like_a_handle_is_refused_not_resolved(
    active_playbook, author, client_for
):
    """The file a runner's "handle" would have been written to, and read back from, is
    never written: the write is refused and the run fails with the reason."""
    spec = {
        "name": "Writes what it is given",
        "tools": [WRITE, READ],
        "inputs": {"type": "object", "properties": {"note": {}}},
        "steps": [
            {
                "id": "write",
                "tool": WRITE,
                "args": {"path": "n.txt", "content": "{{ inputs.note }}"},
            },
            {"id": "read", "tool": READ, "args": {"path": "n.txt"}},
        ],
        "outputs": {"note": "{{ steps.read.output }}"},
    }
    run = run_start(playbook=active_playbook(spec), actor=author, inputs={"note": HANDLE})
    run_advance(run_id=run.pk)
    run.refresh_from_db()
    assert run.status == "failed"
    assert failed_step(run, "write").error == refusal("/content")
    assert not RunStep.objects.filter(run=run, step_id="read").exists()
    assert not (run_workspace(run.pk) / "n.txt").exists()
    client = client_for(author)
    assert VALUE not in recorded(
        run, (client, f"/api/v1/runs/{run.pk}/"), (client, f"/api/v1/runs/{run.pk}/events/")
    )


def test_a_model_output_fed_to_a_later_step_does_not_resolve(active_playbook, author):
    spec = {
        "name": "Uses what the model said",
        "tools": [ECHO],
        "model": {
            "provider": "scripted",
            "name": "gpt-4o-mini",
            "responses": [{"step": "think", "content": json.dumps(HANDLE)}],
        },
        "steps": [
            {
                "id": "think",
                "llm": {"prompt": "Say something", "output_schema": {"type": "object"}},
            },
            {"id": "say", "tool": ECHO, "args": {"value": "{{ steps.think.output }}"}},
        ],
    }
    run = run_start(playbook=active_playbook(spec), actor=author, inputs={})
    run_advance(run_id=run.pk)
    run.refresh_from_db()
    assert RunStep.objects.get(run=run, step_id="think").output == HANDLE  # inert data
    assert (run.status, failed_step(run, "say").error) == ("failed", refusal("/value"))
    assert VALUE not in recorded(run)


def test_an_agents_tool_call_with_a_handle_is_refused(active_playbook, author):
    spec = {
        "name": "Agent forging a handle",
        "tools": [ECHO],
        "model": {
            "provider": "scripted",
            "name": "gpt-4o-mini",
            "responses": [
                {"step": "work", "tool_calls": [{"name": ECHO, "arguments": {"value": HANDLE}}]},
                {"step": "work", "content": "done"},
            ],
        },
        "steps": [{"id": "work", "agent": {"instruction": "Work", "allowed_tools": [ECHO]}}],
    }
    run = run_start(playbook=active_playbook(spec), actor=author, inputs={})
    run_advance(run_id=run.pk)
    run.refresh_from_db()
    assert run.status == "succeeded"
    messages = RunStep.objects.get(run=run, step_id="work").state["messages"]
    [tool_message] = [m for m in messages if m["role"] == "tool"]
    assert tool_message["content"] == "ERROR: " + refusal("/value")
    invocation = ToolInvocation.objects.get(run=run)
    assert (invocation.is_error, invocation.result) == (True, {"error": refusal("/value")})
    assert VALUE not in recorded(run)


def test_a_question_answer_shaped_like_a_handle_does_not_resolve(active_playbook, author):
    spec = {
        "name": "Uses the answer",
        "tools": [COUNT],
        "steps": [
            {"id": "ask", "ask": {"question": "What?", "schema": {"type": "object"}}},
            {"id": "use", "tool": COUNT, "args": {"value": "{{ steps.ask.output }}"}},
        ],
    }
    run = run_start(playbook=active_playbook(spec), actor=author, inputs={})
    run_advance(run_id=run.pk)
    question = Approval.objects.get(run=run)
    approval_answer(approval=question, actor=author, answer=HANDLE)
    run_advance(run_id=run.pk)
    run.refresh_from_db()
    assert (run.status, failed_step(run, "use").error) == ("failed", refusal("/value"))
    assert VALUE not in recorded(run)


def test_a_rest_tool_call_with_a_handle_is_refused(running_run):
    from rest_framework.test import APIClient

    run = running_run(spec_with([ECHO]))
    token, _ = scope_token_issue(run)
    response = APIClient().post(
        "/api/v1/tools/call/",
        {"name": ECHO, "arguments": {"value": {"nested": [HANDLE]}}},
        format="json",
        HTTP_AUTHORIZATION=f"Bearer {token}",
    )
    assert response.status_code == 200, response.json()
    body = response.json()
    assert (body["isError"], body["structuredContent"]) == (
        True,
        {"error": refusal("/value/nested/0")},
    )
    assert VALUE not in response.content.decode()
    assert VALUE not in recorded(run)


def test_an_authored_handle_still_resolves_next_to_a_forged_one_that_does_not(
    active_playbook, author
):
    """The author's reference resolves (the tool gets the secret, scrubbed on the way
    out); the same shape from a run input in the same call does not."""
    spec = {
        "name": "Both",
        "tools": [COUNT],
        "inputs": {"type": "object", "properties": {"other": {}}},
        "steps": [
            {"id": "good", "tool": COUNT, "args": {"value": "{{ vault('api.token') }}"}},
            {
                "id": "bad",
                "tool": COUNT,
                "args": {"value": ["{{ vault('api.token') }}", "{{ inputs.other }}"]},
            },
        ],
    }
    run = run_start(playbook=active_playbook(spec), actor=author, inputs={"other": HANDLE})
    run_advance(run_id=run.pk)
    run.refresh_from_db()
    assert RunStep.objects.get(run=run, step_id="good").output == {"value": "[secret]", "calls": 1}
    assert (run.status, failed_step(run, "bad").error) == ("failed", refusal("/value/1"))
    assert VALUE not in recorded(run)


# --- approver edits -------------------------------------------------------------------


def _authored_notify_waiting(active_playbook, author, value):
    tools_for_tests.CALLS.clear()
    spec = {
        "name": "Notify with a secret",
        "tools": [NOTIFY],
        "max_risk": "external_send",
        "steps": [{"id": "tell", "tool": NOTIFY, "args": {"value": value}}],
    }
    run = run_start(playbook=active_playbook(spec), actor=author, inputs={})
    run_advance(run_id=run.pk)
    return run, Approval.objects.get(run=run)


EDITS = {
    "adds one": (
        "ship it",
        {"value": {"$vault": "api.token"}},
        [{"path": "/payload/arguments/value", "message": "adds a vault reference"}],
    ),
    "removes one": (
        "{{ vault('api.token') }}",
        {"value": "plain"},
        [{"path": "/payload/arguments/value", "message": "removes a vault reference"}],
    ),
    "changes one": (
        "{{ vault('api.token') }}",
        {"value": {"$vault": "other.token"}},
        [{"path": "/payload/arguments/value", "message": "changes a vault reference"}],
    ),
    "moves one": (
        ["{{ vault('api.token') }}", "x"],
        {"value": ["x", {"$vault": "api.token"}]},
        [
            {"path": "/payload/arguments/value/0", "message": "removes a vault reference"},
            {"path": "/payload/arguments/value/1", "message": "adds a vault reference"},
        ],
    ),
}


@pytest.mark.parametrize("how", ["patch", "approve"])
@pytest.mark.parametrize("case", sorted(EDITS))
def test_an_edit_may_not_add_remove_or_change_a_secret_reference(
    active_playbook, author, approver, client_for, how, case
):
    value, arguments, details = EDITS[case]
    _run, approval = _authored_notify_waiting(active_playbook, author, value)
    before = approval.payload
    client = client_for(approver)
    payload = {"tool": NOTIFY, "arguments": arguments}
    if how == "patch":
        response = client.patch(
            f"/api/v1/approvals/{approval.pk}/", {"payload": payload}, format="json"
        )
    else:
        response = client.post(
            f"/api/v1/approvals/{approval.pk}/approve/",
            {"body_hash": approval.body_hash, "payload": payload},
            format="json",
        )
    assert response.status_code == 400, response.json()
    error = response.json()["error"]
    assert (error["code"], error["message"], error["details"]) == (
        "validation_error",
        "An edit may not add, remove or change a secret reference.",
        details,
    )
    approval.refresh_from_db()
    assert (approval.status, approval.payload) == ("pending", before)
    assert sum(tools_for_tests.CALLS.values()) == 0


def test_an_edit_that_keeps_the_reference_is_taken_and_the_secret_reaches_the_tool(
    active_playbook, author, approver, client_for
):
    run, approval = _authored_notify_waiting(
        active_playbook, author, {"token": "{{ vault('api.token') }}", "text": "hi"}
    )
    assert approval.payload["arguments"] == {"value": {"token": HANDLE, "text": "hi"}}
    edited = {"tool": NOTIFY, "arguments": {"value": {"token": HANDLE, "text": "hello"}}}
    response = client_for(approver).post(
        f"/api/v1/approvals/{approval.pk}/approve/",
        {"body_hash": approval.body_hash, "payload": edited},
        format="json",
    )
    assert response.status_code == 200, response.json()
    undo_window_elapse(approval)
    run_advance(run_id=run.pk)
    run.refresh_from_db()
    assert run.status == "succeeded"
    assert RunStep.objects.get(run=run, step_id="tell").output == {
        "value": {"token": "[secret]", "text": "hello"},
        "calls": 1,
    }
    assert VALUE not in recorded(run)


def test_a_gate_payload_edit_may_not_add_a_secret_reference(active_playbook, author, approver):
    from agentstudio.errors import AppError

    spec = {
        "name": "Gate",
        "steps": [{"id": "check", "approval": {"title": "Check", "payload": {"ok": True}}}],
    }
    run = run_start(playbook=active_playbook(spec), actor=author, inputs={})
    run_advance(run_id=run.pk)
    gate = Approval.objects.get(run=run)
    with pytest.raises(AppError) as refused:
        approval_approve(
            approval=gate, actor=approver, body_hash=gate.body_hash, payload={"ok": HANDLE}
        )
    assert refused.value.details == [{"path": "/payload/ok", "message": "adds a vault reference"}]


# --- the author's reference must be a literal name ------------------------------------


@pytest.mark.parametrize(
    "source",
    [
        "{{ vault(inputs.name) }}",
        "{{ vault('a' ~ inputs.name) }}",
        "{% set v = vault %}{{ v('api.token') }}",
        "{{ [vault][0]('api.token') }}",
        "{{ vault('a', 'b') }}",
    ],
)
def test_vault_takes_only_a_name_the_author_wrote(source):
    problems = {(p.kind, p.message) for p in template_check(source)}
    assert (
        "vault",
        "vault() takes one secret name written in the spec, e.g. vault('slack.token')",
    ) in problems


def test_a_literal_vault_name_passes_the_check():
    assert template_check("{{ vault('slack.token') }}") == []
    assert template_check("{{ {'token': vault(\"a.b\")} }}") == []


def test_an_edit_of_a_call_with_a_secret_header_passes_the_schema_check(
    active_playbook, author, approver, client_for, settings
):
    """The handle stands where a string header will be: the edit's schema check leaves
    that place to the broker, which validates the resolved arguments."""
    from tests.support.sink import HttpSink

    settings.AGENTSTUDIO_HTTP_ALLOW = ["127.0.0.1"]
    sink = HttpSink.start()
    try:
        spec = {
            "name": "Post with a secret header",
            "tools": ["tools.studio.http.post"],
            "max_risk": "external_send",
            "steps": [
                {
                    "id": "send",
                    "tool": "tools.studio.http.post",
                    "args": {
                        "url": f"{sink.url}/in",
                        "json": {"n": 1},
                        "headers": {"Authorization": "{{ vault('api.token') }}"},
                    },
                }
            ],
        }
        run = run_start(playbook=active_playbook(spec), actor=author, inputs={})
        run_advance(run_id=run.pk)
        approval = Approval.objects.get(run=run)
        edited = {**approval.payload["arguments"], "json": {"n": 2}}
        bad = {**edited, "headers": {"Authorization": HANDLE, "X-Count": 3}}
        client = client_for(approver)
        refused = client.patch(
            f"/api/v1/approvals/{approval.pk}/",
            {"payload": {"tool": approval.tool, "arguments": bad}},
            format="json",
        )
        assert refused.status_code == 400
        assert [d["path"] for d in refused.json()["error"]["details"]] == ["/payload/arguments"]
        assert "/headers/X-Count" in refused.json()["error"]["details"][0]["message"]
        response = client.post(
            f"/api/v1/approvals/{approval.pk}/approve/",
            {
                "body_hash": approval.body_hash,
                "payload": {"tool": approval.tool, "arguments": edited},
            },
            format="json",
        )
        assert response.status_code == 200, response.json()
        undo_window_elapse(approval)
        run_advance(run_id=run.pk)
        run.refresh_from_db()
        assert run.status == "succeeded"
        [request] = sink.requests
        assert (request.headers["authorization"], request.json()) == (VALUE, {"n": 2})
        assert VALUE not in recorded(run)
    finally:
        sink.stop()


def test_a_caller_cannot_name_the_secret_slack_posts_through(running_run):
    """The Slack tool's webhook is the vault's `slack.webhook`, chosen by nobody at call
    time: an argument naming another secret is refused before anything resolves."""
    from rest_framework.test import APIClient

    slack = "tools.studio.notify.slack"
    run = running_run(spec_with([slack], max_risk="external_send"))
    token, _ = scope_token_issue(run)
    response = APIClient().post(
        "/api/v1/tools/call/",
        {"name": slack, "arguments": {"text": "hi", "webhook_secret": "api.token"}},
        format="json",
        HTTP_AUTHORIZATION=f"Bearer {token}",
    )
    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["isError"] is True
    assert body["structuredContent"]["error"] == (
        "Arguments do not match the tool's inputSchema: /: Additional properties are not "
        "allowed ('webhook_secret' was unexpected)"
    )
    assert not Approval.objects.filter(run=run).exists()
