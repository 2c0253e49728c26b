"""A question is answered, never approved: approving one (REST, service, admin bulk action)
is a 400 pointing to POST /api/v1/approvals/{id}/answer/, and the question stays pending."""

import pytest

from agentstudio.errors import AppError, ErrorCode
from approvals.models import Approval, ApprovalDecision
from approvals.services import approval_approve
from playbooks.engine.runner import Advance, run_advance
from playbooks.models import Run
from playbooks.runs.starting import run_start

QUESTION_SPEC = {
    "name": "Ask for a number",
    "steps": [
        {"id": "count", "ask": {"question": "How many?", "schema": {"type": "integer"}}},
    ],
    "outputs": {"count": "{{ steps.count.output }}"},
}


def _asked(active_playbook, author) -> tuple[Run, Approval]:
    run = run_start(playbook=active_playbook(QUESTION_SPEC), actor=author, inputs={})
    assert run_advance(run_id=run.pk) == Advance.PAUSED
    return run, Approval.objects.get(run=run, kind="question")


def _still_pending(run: Run, question: Approval) -> None:
    question.refresh_from_db()
    run.refresh_from_db()
    assert (question.status, question.response) == ("pending", None)
    assert run.status == "blocked"  # still waiting for its answer
    assert not ApprovalDecision.objects.filter(approval=question).exists()


def test_approving_a_question_over_rest_is_400_pointing_to_answer(
    active_playbook, author, approver, client_for
):
    run, question = _asked(active_playbook, author)
    response = client_for(approver).post(
        f"/api/v1/approvals/{question.pk}/approve/",
        {"body_hash": question.body_hash},
        format="json",
    )
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "validation_error"
    assert error["message"] == (
        "A question is answered, not approved: "
        f"POST /api/v1/approvals/{question.pk}/answer/ with {{answer}}."
    )
    _still_pending(run, question)


def test_the_service_refuses_to_approve_a_question(active_playbook, author, approver):
    run, question = _asked(active_playbook, author)
    with pytest.raises(AppError) as refused:
        approval_approve(approval=question, actor=approver, body_hash=question.body_hash)
    assert refused.value.code == ErrorCode.VALIDATION_ERROR
    assert f"/api/v1/approvals/{question.pk}/answer/" in refused.value.message
    _still_pending(run, question)


def test_the_answer_still_completes_the_step(active_playbook, author, approver, client_for):
    run, question = _asked(active_playbook, author)
    response = client_for(approver).post(
        f"/api/v1/approvals/{question.pk}/answer/", {"answer": 3}, format="json"
    )
    assert response.status_code == 200, response.json()
    assert (response.json()["status"], response.json()["response"]) == ("approved", 3)
    assert run_advance(run_id=run.pk) == Advance.FINISHED
    assert Run.objects.get(pk=run.pk).outputs == {"count": 3}
