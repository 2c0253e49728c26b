"""When Redis is configured but does not answer: AI services fail closed (503, logged as an
error), run starts and tool calls fail open (logged as a warning). REDIS_URL points at a
loopback port nothing listens on."""

import pytest
from django.test import override_settings
from rest_framework.test import APIClient

from tests.runs.conftest import ECHO_SPEC
from tests.support.processes import free_port
from tests.support.ratelimit_urls import AI_PATH
from tests.tools.conftest import spec_with
from tools.scope import scope_token_issue


@pytest.fixture
def redis_away(settings):
    settings.REDIS_URL = f"redis://127.0.0.1:{free_port()}/5"


def _limiter_logs(caplog) -> list[tuple[str, dict]]:
    return [
        (record.levelname, record.msg)
        for record in caplog.records
        if record.name == "agentstudio.ratelimits" and isinstance(record.msg, dict)
    ]


@override_settings(ROOT_URLCONF="tests.support.ratelimit_urls")
def test_ai_services_fail_closed_and_say_so_in_the_log(redis_away, author, client_for, caplog):
    response = client_for(author).post(AI_PATH, {}, format="json")
    assert response.status_code == 503
    error = response.json()["error"]
    assert error["code"] == "feature_disabled"
    assert "rate limiter cannot reach its store" in error["message"]
    assert response.headers["Retry-After"] == "5"
    [(level, event)] = _limiter_logs(caplog)
    assert level == "ERROR"
    assert (event["event"], event["scope"], event["fail_open"]) == (
        "rate limiter unreachable: refusing",
        "ai_services",
        False,
    )
    assert "Connection" in event["error"] or "connect" in event["error"]


def test_run_starts_fail_open_and_log_a_warning(
    redis_away, active_playbook, author, client_for, caplog
):
    playbook = active_playbook(ECHO_SPEC)
    response = client_for(author).post(
        f"/api/v1/playbooks/{playbook.pk}/runs/", {"inputs": {"topic": "tea"}}, format="json"
    )
    assert response.status_code == 201, response.json()
    assert "X-RateLimit-Limit" not in response.headers  # nothing was counted
    [(level, event)] = _limiter_logs(caplog)
    assert (level, event["scope"], event["fail_open"]) == ("WARNING", "run_starts", True)


def test_tool_calls_fail_open_and_log_a_warning(redis_away, running_run, caplog):
    run = running_run(spec_with(["tools.studio.util.echo"]))
    token, _ = scope_token_issue(run)
    response = APIClient().post(
        "/api/v1/tools/call/",
        {"name": "tools.studio.util.echo", "arguments": {"value": 7}},
        format="json",
        HTTP_AUTHORIZATION=f"Bearer {token}",
    )
    assert response.status_code == 200
    assert response.json()["structuredContent"] == {"value": 7}
    [(level, event)] = _limiter_logs(caplog)
    assert (level, event["scope"], event["fail_open"]) == ("WARNING", "tool_calls", True)
