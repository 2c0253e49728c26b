"""POST /runs/{id}/cancel/, /runs/{id}/retry/ and /approvals/{id}/answer/."""

import pytest

from agentstudio.accounts.models import Role
from approvals.models import Approval
from playbooks.engine.workspace import run_workspace
from playbooks.models import Run, RunStep
from playbooks.runs.starting import run_start
from tests.runs.conftest import ECHO_SPEC, GATE_SPEC, QUESTION_SPEC, READ_SPEC, advance


def _paused_at_gate(active_playbook, actor, **extra):
    run = run_start(playbook=active_playbook(GATE_SPEC, **extra), actor=actor, inputs={})
    advance(run.pk)
    return run


def test_cancel_cancels_the_run_and_its_pending_approvals(active_playbook, author, client_for):
    run = _paused_at_gate(active_playbook, author)
    response = client_for(author).post(f"/api/v1/runs/{run.pk}/cancel/")
    assert response.status_code == 200
    body = response.json()
    assert (body["status"], body["pending_approvals"]) == ("cancelled", [])
    assert body["finished_at"] is not None
    assert body["usage"]["wall_seconds"] > 0  # from its start to the cancel
    assert Approval.objects.get(run=run).status == "cancelled"
    assert run.events.order_by("-seq").first().type == "run.cancelled"


def test_cancel_a_queued_run(active_playbook, author, client_for):
    run = run_start(playbook=active_playbook(ECHO_SPEC), actor=author, inputs={"topic": "t"})
    response = client_for(author).post(f"/api/v1/runs/{run.pk}/cancel/")
    assert response.json()["status"] == "cancelled"


def test_cancel_when_finished_is_409(active_playbook, author, client_for):
    run = run_start(playbook=active_playbook(ECHO_SPEC), actor=author, inputs={"topic": "t"})
    advance(run.pk)
    response = client_for(author).post(f"/api/v1/runs/{run.pk}/cancel/")
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "invalid_state"


@pytest.mark.parametrize(
    ("role", "listed", "expected"),
    [(Role.APPROVER, False, 200), (Role.RUNNER, True, 200), (Role.AUTHOR, True, 404)],
)
def test_who_may_cancel(active_playbook, admin_user, make_user, client_for, role, listed, expected):
    """The admin's playbook: approvers may cancel; a listed runner may cancel the runs it
    sees (its own); another author does not even see the run."""
    user = make_user(role)
    playbook = active_playbook(GATE_SPEC, owner=admin_user, allowed=[user] if listed else [])
    run = run_start(playbook=playbook, actor=user if role == Role.RUNNER else admin_user, inputs={})
    response = client_for(user).post(f"/api/v1/runs/{run.pk}/cancel/")
    assert response.status_code == expected


def test_a_delisted_runner_sees_its_run_but_may_not_cancel_it(
    active_playbook, admin_user, runner, client_for
):
    playbook = active_playbook(GATE_SPEC, owner=admin_user, allowed=[runner])
    run = run_start(playbook=playbook, actor=runner, inputs={})
    playbook.allowed_users.remove(runner)
    client = client_for(runner)
    assert client.get(f"/api/v1/runs/{run.pk}/").status_code == 200
    response = client.post(f"/api/v1/runs/{run.pk}/cancel/")
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "permission_denied"


def test_retry_is_409_unless_failed(active_playbook, author, client_for):
    run = _paused_at_gate(active_playbook, author)
    response = client_for(author).post(f"/api/v1/runs/{run.pk}/retry/")
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "invalid_state"


def test_retry_resumes_from_the_failed_step(active_playbook, author, client_for):
    run = run_start(playbook=active_playbook(READ_SPEC), actor=author, inputs={})
    advance(run.pk)
    run.refresh_from_db()
    assert (run.status, run.current_step) == ("failed", "read")
    (run_workspace(run.pk) / "notes.txt").write_text("found")
    response = client_for(author).post(f"/api/v1/runs/{run.pk}/retry/")
    assert response.status_code == 200
    assert (response.json()["status"], response.json()["error"]) == ("queued", "")
    advance(run.pk)
    run = Run.objects.get(pk=run.pk)
    assert run.status == "succeeded"
    assert run.outputs["read"]["content"] == "found"
    steps = list(RunStep.objects.filter(run=run).values_list("step_id", "attempt", "status"))
    assert steps == [("hello", 1, "succeeded"), ("read", 1, "failed"), ("read", 2, "succeeded")]
    seqs = list(run.events.values_list("seq", flat=True))
    assert seqs == list(range(1, len(seqs) + 1))


@pytest.fixture
def question(active_playbook, author):
    run = run_start(playbook=active_playbook(QUESTION_SPEC), actor=author, inputs={})
    advance(run.pk)
    return Approval.objects.get(run=run, kind="question")


def test_answer_outside_the_schema_is_400(question, author, client_for):
    response = client_for(author).post(
        f"/api/v1/approvals/{question.pk}/answer/", {"answer": "loud"}, format="json"
    )
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "validation_error"
    assert error["details"][0]["path"] == "/answer"
    question.refresh_from_db()
    assert question.status == "pending"


def test_answer_is_required(question, author, client_for):
    response = client_for(author).post(
        f"/api/v1/approvals/{question.pk}/answer/", {}, format="json"
    )
    assert response.status_code == 400
    assert response.json()["error"]["details"][0]["path"] == "/answer"


def test_answer_resumes_the_run(question, author, client_for):
    response = client_for(author).post(
        f"/api/v1/approvals/{question.pk}/answer/", {"answer": "warm"}, format="json"
    )
    assert response.status_code == 200
    body = response.json()
    assert (body["status"], body["response"], body["decided_by"]) == (
        "approved",
        "warm",
        author.username,
    )
    advance(question.run_id)
    run = Run.objects.get(pk=question.run_id)
    assert (run.status, run.outputs) == ("succeeded", {"tone": "warm"})


def test_answering_a_gate_is_409(active_playbook, author, approver, client_for):
    gate = Approval.objects.get(run=_paused_at_gate(active_playbook, author))
    response = client_for(approver).post(
        f"/api/v1/approvals/{gate.pk}/answer/", {"answer": "yes"}, format="json"
    )
    assert response.status_code == 409


def test_answer_by_an_outsider_is_404(question, make_user, other_org, client_for):
    outsider = client_for(make_user(Role.ADMIN, organization=other_org))
    response = outsider.post(
        f"/api/v1/approvals/{question.pk}/answer/", {"answer": "dry"}, format="json"
    )
    assert response.status_code == 404


def test_the_approval_queue_filters_by_run(active_playbook, author, approver, client_for):
    first = _paused_at_gate(active_playbook, author)
    second = _paused_at_gate(active_playbook, author)
    client = client_for(approver)
    listed = client.get(f"/api/v1/approvals/?run={first.pk}").json()["results"]
    assert [item["run"] for item in listed] == [str(first.pk)]
    assert len(client.get("/api/v1/approvals/?status=pending").json()["results"]) == 2
    unknown = client.get("/api/v1/approvals/?run=00000000-0000-0000-0000-000000000000")
    assert (unknown.status_code, unknown.json()["results"]) == (200, [])
    malformed = client.get("/api/v1/approvals/?run=nope")
    assert malformed.status_code == 400
    assert malformed.json()["error"]["code"] == "validation_error"
    assert second.pk != first.pk
