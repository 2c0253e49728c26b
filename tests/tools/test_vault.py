"""The vault: encrypted at rest, write-only through the API and the command, resolved only
inside the broker at call time, and never leaked into events, rows, responses or logs."""

import io
import json
import logging

import pytest
from cryptography.fernet import Fernet
from django.core.management import CommandError, call_command

from approvals.models import Approval
from approvals.services import approval_approve
from playbooks.engine.runner import run_advance
from playbooks.models import Run, RunEvent, RunStep
from playbooks.runs.starting import run_start
from tests.support.approvals import undo_window_elapse
from tests.support.sink import HttpSink
from tools.models import Secret, ToolInvocation
from tools.vault import secret_set, vault_decrypt

VALUE = "xoxb-TOP-SECRET-4242"


@pytest.fixture
def sink(settings):
    settings.AGENTSTUDIO_HTTP_ALLOW = ["127.0.0.1"]
    server = HttpSink.start()
    yield server
    server.stop()


def test_a_secret_is_stored_encrypted_and_decrypts(org, admin_user):
    secret = secret_set(organization=org, actor=admin_user, name="api.token", value=VALUE)
    stored = bytes(Secret.objects.get(pk=secret.pk).ciphertext)
    assert VALUE.encode() not in stored
    assert vault_decrypt(stored) == VALUE


def test_keys_rotate_old_secrets_still_decrypt(org, admin_user, settings):
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    settings.AGENTSTUDIO_VAULT_KEYS = [old]
    secret = secret_set(organization=org, actor=admin_user, name="a", value=VALUE)
    settings.AGENTSTUDIO_VAULT_KEYS = [new, old]
    assert vault_decrypt(Secret.objects.get(pk=secret.pk).ciphertext) == VALUE


def test_the_api_never_returns_a_value(
    org, admin_user, author, approver, runner, client_for, other_org, make_user
):
    admin = client_for(admin_user)
    created = admin.post("/api/v1/secrets/", {"name": "api.token", "value": VALUE}, format="json")
    assert created.status_code == 201
    assert VALUE not in created.content.decode()
    assert created.json()["name"] == "api.token"
    listed = client_for(author).get("/api/v1/secrets/")
    assert [row["name"] for row in listed.json()["results"]] == ["api.token"]
    assert VALUE not in listed.content.decode()
    assert client_for(runner).get("/api/v1/secrets/").status_code == 403
    denied = client_for(approver).post(
        "/api/v1/secrets/", {"name": "x", "value": "y"}, format="json"
    )
    assert (denied.status_code, denied.json()["error"]["code"]) == (403, "permission_denied")
    outsider = make_user("admin", organization=other_org)
    assert client_for(outsider).get("/api/v1/secrets/").json()["results"] == []
    bad = admin.post("/api/v1/secrets/", {"name": "no spaces", "value": "v"}, format="json")
    assert bad.status_code == 400
    assert admin.delete("/api/v1/secrets/api.token/").status_code == 204
    assert admin.delete("/api/v1/secrets/api.token/").status_code == 404


@pytest.mark.parametrize(
    "arguments",
    [["{org}", "slack.webhook"], ["slack.webhook", "--org", "{org}"]],
    ids=["ORG NAME", "NAME --org ORG"],
)
def test_set_secret_reads_the_value_from_stdin(org, monkeypatch, arguments):
    monkeypatch.setattr("sys.stdin", io.StringIO(VALUE + "\n"))
    out = io.StringIO()
    call_command("set_secret", *[a.format(org=org.name) for a in arguments], stdout=out)
    assert out.getvalue().strip().endswith(f"vault of {org.name}")
    secret = Secret.objects.get(organization=org)
    assert (secret.name, vault_decrypt(secret.ciphertext)) == ("slack.webhook", VALUE)


@pytest.mark.parametrize(
    "arguments", [["slack.webhook"], ["a", "b", "c"], ["a", "b", "--org", "c"]]
)
def test_set_secret_refuses_arguments_that_do_not_name_org_and_secret(org, monkeypatch, arguments):
    monkeypatch.setattr("sys.stdin", io.StringIO(VALUE + "\n"))
    with pytest.raises(CommandError, match="set_secret ORG NAME"):
        call_command("set_secret", *arguments)
    assert not Secret.objects.exists()


def test_a_secret_reaches_the_tool_and_nothing_else(
    active_playbook, author, approver, admin_user, org, sink, client_for, caplog
):
    caplog.set_level(logging.DEBUG)
    secret_set(organization=org, actor=admin_user, name="api.token", value=VALUE)
    spec = {
        "name": "Uses a secret",
        "tools": ["tools.studio.http.post", "tools.studio.util.echo"],
        "max_risk": "external_send",
        "steps": [
            {
                "id": "leak",
                "tool": "tools.studio.util.echo",
                "args": {"value": "{{ vault('api.token') }}"},
            },
            {
                "id": "send",
                "tool": "tools.studio.http.post",
                "args": {
                    "url": f"{sink.url}/in",
                    "json": {"hello": "world"},
                    "headers": {"Authorization": "{{ vault('api.token') }}"},
                },
            },
        ],
    }
    run = run_start(playbook=active_playbook(spec), actor=author, inputs={})
    run_advance(run_id=run.pk)  # echo runs; the post waits for approval
    approval = Approval.objects.get(run=run)
    assert approval.payload["arguments"]["headers"] == {"Authorization": {"$vault": "api.token"}}
    approval_approve(approval=approval, actor=approver, body_hash=approval.body_hash)
    undo_window_elapse(approval)
    run_advance(run_id=run.pk)
    run.refresh_from_db()
    assert run.status == "succeeded"
    [request] = sink.requests
    assert request.headers["authorization"] == VALUE  # the receiver got the real secret

    recorded = [
        json.dumps(list(RunEvent.objects.filter(run=run).values("type", "data")), default=str),
        json.dumps(list(RunStep.objects.filter(run=run).values("input", "output")), default=str),
        json.dumps(
            list(ToolInvocation.objects.filter(run=run).values("arguments", "result")),
            default=str,
        ),
        json.dumps(
            list(Approval.objects.filter(run=run).values("payload", "dry_run", "result")),
            default=str,
        ),
        json.dumps(Run.objects.filter(pk=run.pk).values("outputs", "error").get(), default=str),
        client_for(author).get(f"/api/v1/runs/{run.pk}/").content.decode(),
        client_for(author).get(f"/api/v1/runs/{run.pk}/events/").content.decode(),
        client_for(approver).get(f"/api/v1/approvals/{approval.pk}/").content.decode(),
        caplog.text,
    ]
    for text in recorded:
        assert VALUE not in text
    assert RunStep.objects.get(run=run, step_id="leak").output == {"value": "[secret]"}


def test_slack_posts_through_the_webhook_in_the_vault(
    active_playbook, author, approver, admin_user, org, sink
):
    secret_set(organization=org, actor=admin_user, name="slack.webhook", value=f"{sink.url}/hook")
    spec = {
        "name": "Tell Slack",
        "tools": ["tools.studio.notify.slack"],
        "max_risk": "external_send",
        "steps": [{"id": "tell", "tool": "tools.studio.notify.slack", "args": {"text": "done"}}],
    }
    run = run_start(playbook=active_playbook(spec), actor=author, inputs={})
    run_advance(run_id=run.pk)
    approval = Approval.objects.get(run=run)
    assert approval.dry_run["request"]["url"] == "vault:slack.webhook"
    approval_approve(approval=approval, actor=approver, body_hash=approval.body_hash)
    undo_window_elapse(approval)
    run_advance(run_id=run.pk)
    [request] = sink.requests
    assert (request.path, request.json()) == ("/hook", {"text": "done"})
    assert Run.objects.get(pk=run.pk).status == "succeeded"
