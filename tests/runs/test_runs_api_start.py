"""POST /playbooks/{id}/runs/: the run detail, who may start runs, and refusals."""

import pytest

from agentstudio.accounts.models import Role
from agentstudio.webhooks import hmac_sha256
from playbooks.callbacks import run_callback_secret, run_send_callback
from playbooks.engine.runner import run_advance
from playbooks.models import Run
from playbooks.services import playbook_demote
from tests.runs.conftest import ECHO_SPEC
from tests.support.sink import HttpSink

RUN_FIELDS = {
    "id",
    "playbook",
    "version",
    "status",
    "inputs",
    "outputs",
    "current_step",
    "usage",
    "budget",
    "error",
    "paused_reason",
    "pending_approvals",
    "created_by",
    "created_at",
    "started_at",
    "finished_at",
}


def _start(client, playbook, body=None, **headers):
    return client.post(
        f"/api/v1/playbooks/{playbook.pk}/runs/",
        body if body is not None else {"inputs": {"topic": "tea"}},
        format="json",
        **headers,
    )


def test_start_returns_201_and_the_run_detail(active_playbook, author, client_for):
    playbook = active_playbook(ECHO_SPEC)
    response = _start(client_for(author), playbook)
    assert response.status_code == 201, response.json()
    body = response.json()
    assert set(body) == RUN_FIELDS
    assert body["playbook"] == str(playbook.pk)
    assert (body["version"], body["status"], body["created_by"]) == (1, "queued", author.username)
    assert body["inputs"] == {"topic": "tea"}
    assert body["usage"] == {
        "usd": "0.000000",
        "input_tokens": 0,
        "output_tokens": 0,
        "tool_calls": 0,
        "wall_seconds": 0.0,
    }
    assert body["budget"]["max_usd"] == 5.0
    assert body["pending_approvals"] == []
    run = Run.objects.get(pk=body["id"])
    assert list(run.events.values_list("type", flat=True)) == ["run.queued"]


@pytest.mark.parametrize(
    ("role", "listed", "expected"),
    [
        (Role.ADMIN, False, 201),
        (Role.APPROVER, False, 201),
        (Role.AUTHOR, True, 403),  # sees a listed playbook, but starts only its own
        (Role.RUNNER, True, 201),
        (Role.RUNNER, False, 404),  # does not see it at all
        (Role.VIEWER, True, 403),
    ],
)
def test_who_may_start_runs(active_playbook, make_user, client_for, role, listed, expected):
    user = make_user(role)
    playbook = active_playbook(ECHO_SPEC, allowed=[user] if listed else [])
    response = _start(client_for(user), playbook)
    assert response.status_code == expected, response.json()
    if expected != 201:
        code = {403: "permission_denied", 404: "not_found"}[expected]
        assert response.json()["error"]["code"] == code
        assert not Run.objects.exists()


def test_other_organization_gets_404(active_playbook, make_user, other_org, client_for):
    playbook = active_playbook(ECHO_SPEC)
    outsider = make_user(Role.ADMIN, organization=other_org)
    assert _start(client_for(outsider), playbook).status_code == 404


def test_not_active_is_409(active_playbook, author, admin_user, client_for):
    playbook = playbook_demote(playbook=active_playbook(ECHO_SPEC), actor=admin_user)
    response = _start(client_for(author), playbook)
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "invalid_state"


@pytest.mark.parametrize(
    ("inputs", "path"),
    [
        ({}, "/inputs"),
        ({"topic": 3}, "/inputs/topic"),
        ({"topic": "x", "count": "2"}, "/inputs/count"),
    ],
)
def test_bad_inputs_are_400_with_paths(active_playbook, author, client_for, inputs, path):
    response = _start(client_for(author), active_playbook(ECHO_SPEC), {"inputs": inputs})
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "validation_error"
    assert [d["path"] for d in error["details"]] == [path]
    assert not Run.objects.exists()


def test_inputs_must_be_an_object(active_playbook, author, client_for):
    response = _start(client_for(author), active_playbook(ECHO_SPEC), {"inputs": [1]})
    assert response.status_code == 400
    assert response.json()["error"]["details"][0]["path"] == "/inputs"


def test_budget_may_tighten(active_playbook, author, client_for):
    body = {"inputs": {"topic": "t"}, "budget": {"max_usd": 0.25, "on_breach": "fail"}}
    response = _start(client_for(author), active_playbook(ECHO_SPEC), body)
    assert response.status_code == 201
    assert response.json()["budget"]["max_usd"] == 0.25
    assert response.json()["budget"]["on_breach"] == "fail"


@pytest.mark.parametrize(
    ("budget", "path"),
    [
        ({"max_usd": 50}, "/budget/max_usd"),
        ({"max_tokens": 0}, "/budget/max_tokens"),
        ({"nonsense": 1}, "/budget/nonsense"),
    ],
)
def test_budget_may_not_loosen(active_playbook, author, client_for, budget, path):
    body = {"inputs": {"topic": "t"}, "budget": budget}
    response = _start(client_for(author), active_playbook(ECHO_SPEC), body)
    assert response.status_code == 400
    assert response.json()["error"]["details"][0]["path"] == path


def test_callback_url_returns_the_signing_secret(active_playbook, author, client_for):
    body = {"inputs": {"topic": "t"}, "callback_url": "https://hooks.example.com/done"}
    response = _start(client_for(author), active_playbook(ECHO_SPEC), body)
    assert response.status_code == 201
    run_id = response.json()["id"]
    assert response.json()["callback_secret"] == run_callback_secret(run_id)
    assert Run.objects.get(pk=run_id).callback_url == "https://hooks.example.com/done"


def test_no_callback_no_secret(active_playbook, author, client_for):
    response = _start(client_for(author), active_playbook(ECHO_SPEC))
    assert "callback_secret" not in response.json()


def test_callback_url_must_be_http(active_playbook, author, client_for):
    body = {"inputs": {"topic": "t"}, "callback_url": "ftp://example.com/x"}
    response = _start(client_for(author), active_playbook(ECHO_SPEC), body)
    assert response.status_code == 400
    assert response.json()["error"]["details"][0]["path"] == "/callback_url"


def test_without_credentials_is_401(active_playbook):
    from rest_framework.test import APIClient

    response = _start(APIClient(), active_playbook(ECHO_SPEC))
    assert response.status_code == 401


def test_a_finished_run_posts_its_signed_callback(active_playbook, author, client_for, settings):
    """The receiver checks the body's HMAC-SHA256 with the secret it got at the start."""
    settings.AGENTSTUDIO_HTTP_ALLOW = ["127.0.0.1"]
    sink = HttpSink.start()
    try:
        body = {"inputs": {"topic": "t"}, "callback_url": f"{sink.url}/done"}
        started = _start(client_for(author), active_playbook(ECHO_SPEC), body).json()
        run_advance(run_id=started["id"])
        assert run_send_callback(run_id=started["id"]) == 200
        [post] = sink.wait_for_posts(1, timeout=5)
    finally:
        sink.stop()
    secret = started["callback_secret"]
    assert post.headers["x-signature"] == f"sha256={hmac_sha256(secret, post.body)}"
    assert post.headers["x-run-id"] == started["id"]
    assert (post.json()["run"], post.json()["status"]) == (started["id"], "succeeded")
