"""Rate limits through real requests: AI services (a test-only view behind
AIServicesThrottle), run starts and tool calls, keyed by user (or run) and organization, on
the suite's Redis; 429 in the envelope with Retry-After and X-RateLimit-*."""

import time

import pytest
from django.test import override_settings
from rest_framework.test import APIClient

from agentstudio.accounts.models import Role
from agentstudio.ratelimits.limiter import limit_clear
from tests.runs.conftest import ECHO_SPEC
from tests.support.ratelimit_urls import AI_PATH
from tests.tools.conftest import spec_with
from tools.scope import scope_token_issue

ECHO = "tools.studio.util.echo"
LIMIT_HEADERS = ("X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset")


@pytest.fixture(autouse=True)
def _own_counters(settings):
    """The suite gives each test a prefix of its own (tests/conftest.py); flush only it."""
    yield
    limit_clear(prefix=settings.AGENTSTUDIO_RATE_LIMIT_PREFIX)


def _ai(client):
    return client.post(AI_PATH, {}, format="json")


def _limit_headers(response):
    return tuple(response.headers.get(name) for name in LIMIT_HEADERS)


def _assert_rate_limited(response, *, kind: str, max_wait: int):
    assert response.status_code == 429, response.content
    error = response.json()["error"]
    assert error["code"] == "rate_limited"
    assert error["details"] == []
    assert f"for this {kind}" in error["message"]
    retry_after = int(response.headers["Retry-After"])
    assert 1 <= retry_after <= max_wait
    assert response.headers["X-RateLimit-Remaining"] == "0"
    assert 1 <= int(response.headers["X-RateLimit-Reset"]) <= max_wait
    return retry_after


@override_settings(ROOT_URLCONF="tests.support.ratelimit_urls")
def test_the_eleventh_ai_call_within_the_burst_is_429(author, client_for):
    client = client_for(author)
    answers = [_ai(client) for _ in range(10)]
    assert [answer.status_code for answer in answers] == [200] * 10
    assert [_limit_headers(answer)[:2] for answer in answers] == [
        ("10", str(remaining)) for remaining in range(9, -1, -1)
    ]
    assert all(1 <= int(answer.headers["X-RateLimit-Reset"]) <= 10 for answer in answers)
    eleventh = _ai(client)
    _assert_rate_limited(eleventh, kind="user", max_wait=10)
    assert eleventh.headers["X-RateLimit-Limit"] == "10"
    assert "at most 10 per 10 seconds" in eleventh.json()["error"]["message"]


@override_settings(
    ROOT_URLCONF="tests.support.ratelimit_urls",
    AGENTSTUDIO_RATE_LIMIT_AI_SERVICES="40 per 10 seconds; 30 per minute",
    AGENTSTUDIO_RATE_LIMIT_AI_SERVICES_ORG="",
)
def test_thirty_ai_calls_a_minute_hold_beside_the_burst(author, client_for):
    """Every window must hold: with a burst window wider than the minute's, the minute's 30
    is what refuses (the default burst would refuse first, at 10)."""
    client = client_for(author)
    statuses = [_ai(client).status_code for _ in range(31)]
    assert statuses == [200] * 30 + [429]
    last = _ai(client)
    assert last.headers["X-RateLimit-Limit"] == "30"
    assert "at most 30 per minute" in last.json()["error"]["message"]


@override_settings(
    ROOT_URLCONF="tests.support.ratelimit_urls",
    AGENTSTUDIO_RATE_LIMIT_AI_SERVICES="3 per minute",
    AGENTSTUDIO_RATE_LIMIT_AI_SERVICES_ORG="5 per minute",
)
def test_users_of_one_org_share_its_limit_and_another_org_is_unaffected(
    make_user, other_org, client_for
):
    first, second = client_for(make_user(Role.AUTHOR)), client_for(make_user(Role.AUTHOR))
    stranger = client_for(make_user(Role.AUTHOR, organization=other_org))
    assert [_ai(first).status_code for _ in range(3)] == [200] * 3
    _assert_rate_limited(_ai(first), kind="user", max_wait=60)
    # the organization has 2 of its 5 left: the second user gets those, then the org says no
    assert [_ai(second).status_code for _ in range(2)] == [200] * 2
    refused = _ai(second)
    _assert_rate_limited(refused, kind="organization", max_wait=60)
    assert refused.headers["X-RateLimit-Limit"] == "5"
    assert [_ai(stranger).status_code for _ in range(3)] == [200] * 3
    _assert_rate_limited(_ai(stranger), kind="user", max_wait=60)


@override_settings(
    ROOT_URLCONF="tests.support.ratelimit_urls",
    AGENTSTUDIO_RATE_LIMIT_AI_SERVICES="2 per 2 seconds",
    AGENTSTUDIO_RATE_LIMIT_AI_SERVICES_ORG="",
)
def test_the_window_refills_after_time_passes(author, client_for):
    client = client_for(author)
    assert [_ai(client).status_code for _ in range(2)] == [200, 200]
    retry_after = _assert_rate_limited(_ai(client), kind="user", max_wait=2)
    time.sleep(retry_after + 0.2)
    assert _ai(client).status_code == 200


@override_settings(
    AGENTSTUDIO_RATE_LIMIT_RUN_STARTS="2 per minute",
    AGENTSTUDIO_RATE_LIMIT_RUN_STARTS_ORG="3 per minute",
)
def test_run_starts_are_limited_per_user_and_organization(
    active_playbook, author, make_user, other_org, client_for
):
    playbook = active_playbook(ECHO_SPEC)
    client = client_for(author)
    url = f"/api/v1/playbooks/{playbook.pk}/runs/"
    body = {"inputs": {"topic": "tea"}}
    started = [client.post(url, body, format="json") for _ in range(2)]
    assert [answer.status_code for answer in started] == [201, 201]
    assert [_limit_headers(answer)[:2] for answer in started] == [("2", "1"), ("2", "0")]
    refused = client.post(url, body, format="json")
    _assert_rate_limited(refused, kind="user", max_wait=60)
    assert playbook.runs.count() == 2

    admin = client_for(make_user(Role.ADMIN))
    assert admin.post(url, body, format="json").status_code == 201
    _assert_rate_limited(admin.post(url, body, format="json"), kind="organization", max_wait=60)
    assert playbook.runs.count() == 3

    elsewhere = client_for(make_user(Role.AUTHOR, organization=other_org))
    answer = elsewhere.post(f"/api/v1/playbooks/{playbook.pk}/runs/", body, format="json")
    assert answer.status_code == 404  # not its playbook, but not throttled either


@override_settings(
    AGENTSTUDIO_RATE_LIMIT_TOOL_CALLS="2 per minute",
    AGENTSTUDIO_RATE_LIMIT_TOOL_CALLS_ORG="3 per minute",
)
def test_tool_calls_are_limited_per_run_and_organization(running_run):
    client = APIClient()
    first_run, second_run = running_run(spec_with([ECHO])), running_run(spec_with([ECHO]))
    first, _ = scope_token_issue(first_run)
    second, _ = scope_token_issue(second_run)

    def call(token, name=ECHO):
        return client.post(
            "/api/v1/tools/call/",
            {"name": name, "arguments": {"value": 1}},
            format="json",
            HTTP_AUTHORIZATION=f"Bearer {token}",
        )

    # refused anyway, so not counted: an unknown tool (404) and a bad token (401)
    assert call(first, name="tools.nobody.here").status_code == 404
    assert call("not-a-token").status_code == 401
    answers = [call(first) for _ in range(2)]
    assert [answer.status_code for answer in answers] == [200, 200]
    assert [answer.json()["isError"] for answer in answers] == [False, False]
    assert [_limit_headers(answer)[:2] for answer in answers] == [("2", "1"), ("2", "0")]
    _assert_rate_limited(call(first), kind="run", max_wait=60)
    assert call(second).status_code == 200  # its own run has room; the org's third call
    _assert_rate_limited(call(second), kind="organization", max_wait=60)
