"""No secret in any error: whatever leaves the broker (a result, a schema error, a tool's
exception message, the step's and run's errors, their events, the API's answers, log
lines) is scrubbed of the secrets the call used, by the one function vault_scrub."""

import json
import logging
import socket

import pytest

from approvals.models import Approval
from approvals.services import approval_approve
from playbooks.engine.runner import run_advance
from playbooks.models import Run, RunEvent, RunStep
from playbooks.runs.starting import run_start
from tests.support.approvals import undo_window_elapse
from tests.support.sink import HttpSink
from tests.tools.test_vault_forgery import recorded
from tools.models import ToolInvocation
from tools.vault import secret_set

VALUE = "xoxb-SCRUBBED-SECRET-5151"
COUNT = "tools.test.count"
SCHEMA_ERROR = (
    "Arguments do not match the tool's inputSchema: /fail_times: '[secret]' is not of type "
    "'integer'"
)


@pytest.fixture
def sink(settings):
    settings.AGENTSTUDIO_HTTP_ALLOW = ["127.0.0.1"]
    server = HttpSink.start()
    yield server
    server.stop()


def schema_error_spec() -> dict:
    """A step whose argument, built from a secret, fails the tool's inputSchema: the
    validator's message quotes the value."""
    return {
        "name": "Secret in the wrong place",
        "tools": [COUNT],
        "steps": [
            {"id": "count", "tool": COUNT, "args": {"fail_times": "{{ vault('api.token') }}"}}
        ],
    }


def failed_with_a_secret_in_its_arguments(org, admin_user, active_playbook, author) -> Run:
    secret_set(organization=org, actor=admin_user, name="api.token", value=VALUE)
    run = run_start(playbook=active_playbook(schema_error_spec()), actor=author, inputs={})
    run_advance(run_id=run.pk)
    run.refresh_from_db()
    return run


def test_a_schema_error_on_a_secret_argument_shows_no_secret(
    org, admin_user, active_playbook, author, client_for, caplog
):
    caplog.set_level(logging.DEBUG)
    run = failed_with_a_secret_in_its_arguments(org, admin_user, active_playbook, author)
    assert (run.status, run.error) == ("failed", f"step count failed: {SCHEMA_ERROR}")
    assert RunStep.objects.get(run=run, step_id="count").error == SCHEMA_ERROR
    step_failed = RunEvent.objects.get(run=run, type="step.failed").data
    run_failed = RunEvent.objects.get(run=run, type="run.failed").data
    assert step_failed["error"] == SCHEMA_ERROR
    assert run_failed["error"] == f"step count failed: {SCHEMA_ERROR}"
    invocation = ToolInvocation.objects.get(run=run)
    assert (invocation.is_error, invocation.result) == (True, {"error": SCHEMA_ERROR})
    client = client_for(author)
    everything = recorded(
        run, (client, f"/api/v1/runs/{run.pk}/"), (client, f"/api/v1/runs/{run.pk}/events/")
    )
    assert VALUE not in everything + caplog.text


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_a_tools_exception_message_with_the_secret_is_scrubbed(
    org, admin_user, active_playbook, author, settings, caplog
):
    caplog.set_level(logging.DEBUG)
    settings.AGENTSTUDIO_HTTP_ALLOW = ["127.0.0.1"]
    url = f"http://127.0.0.1:{_closed_port()}/feed-{VALUE}"
    secret_set(organization=org, actor=admin_user, name="feed.url", value=url)
    spec = {
        "name": "Fetch a secret URL",
        "tools": ["tools.studio.http.fetch"],
        "steps": [
            {
                "id": "get",
                "tool": "tools.studio.http.fetch",
                "args": {"url": "{{ vault('feed.url') }}"},
            }
        ],
    }
    run = run_start(playbook=active_playbook(spec), actor=author, inputs={})
    run_advance(run_id=run.pk)
    run.refresh_from_db()
    error = RunStep.objects.get(run=run, step_id="get").error
    assert run.status == "failed"
    assert error.startswith("GET [secret] failed: ConnectError"), error
    assert VALUE not in recorded(run) + caplog.text


def test_a_log_line_of_the_tools_http_client_shows_no_secret_url(
    org, admin_user, active_playbook, author, approver, sink, caplog
):
    """httpx logs every request's URL at INFO; a webhook's URL is its secret."""
    caplog.set_level(logging.INFO)
    hook = f"{sink.url}/hook-{VALUE}"
    secret_set(organization=org, actor=admin_user, name="hook.url", value=hook)
    spec = {
        "name": "Post to a secret URL",
        "tools": ["tools.studio.http.post"],
        "max_risk": "external_send",
        "steps": [
            {
                "id": "send",
                "tool": "tools.studio.http.post",
                "args": {"url": "{{ vault('hook.url') }}", "json": {"hello": "world"}},
            }
        ],
    }
    run = run_start(playbook=active_playbook(spec), actor=author, inputs={})
    run_advance(run_id=run.pk)
    approval = Approval.objects.get(run=run)
    approval_approve(approval=approval, actor=approver, body_hash=approval.body_hash)
    undo_window_elapse(approval)
    run_advance(run_id=run.pk)
    run.refresh_from_db()
    assert run.status == "succeeded"
    assert [request.path for request in sink.requests] == [f"/hook-{VALUE}"]
    assert "HTTP Request: POST [secret]" in caplog.text  # the line is there, scrubbed
    assert VALUE not in caplog.text
    assert VALUE not in recorded(run)


def test_the_log_scrubber_also_cleans_a_traceback_and_a_structlog_event(org, admin_user, caplog):
    import structlog

    from tools.vault import vault_resolve

    caplog.set_level(logging.DEBUG)
    secret_set(organization=org, actor=admin_user, name="api.token", value=VALUE)
    assert vault_resolve(organization_id=org.pk, name="api.token") == VALUE
    try:
        raise RuntimeError(f"refused {VALUE}")
    except RuntimeError:
        logging.getLogger("tests.vault").exception("failed with %s", VALUE)
        structlog.get_logger("tests.vault").exception("event", token=VALUE)
    assert "failed with [secret]" in caplog.text
    assert "RuntimeError: refused [secret]" in caplog.text
    assert VALUE not in caplog.text
    assert VALUE not in json.dumps([str(record.msg) for record in caplog.records])
