"""A person's transition of a run (cancel, retry) is an audit row on the organization's
chain, beside the playbook transitions, and the chain still verifies. Every transition of a
run (queued, started, waiting for approval, blocked, reviewing, resumed, succeeded, failed,
cancelled, retried) is a row on the run's own chain, on every path that makes it."""

import pytest

from agentstudio.audit.chain import audit_verify, run_audit_stream
from agentstudio.audit.models import AuditEvent
from approvals.models import Approval
from approvals.services import approval_approve
from playbooks.engine.runner import Advance, run_advance
from playbooks.runs.services import run_cancel, run_retry
from playbooks.runs.starting import run_start
from tests.runs.conftest import ECHO_SPEC, GATE_SPEC, QUESTION_SPEC, READ_SPEC, WRITE_SPEC


def _rows(run):
    return list(
        AuditEvent.objects.filter(type__startswith="run.", data__run=str(run.pk)).order_by("seq")
    )


def test_a_cancel_is_audited_with_who_and_why(active_playbook, author):
    run = run_start(playbook=active_playbook(ECHO_SPEC), actor=author, inputs={"topic": "t"})
    run_cancel(run=run, actor=author, reason="not needed")
    (row,) = _rows(run)
    assert row.type == "run.cancelled"
    assert row.stream == f"org:{run.organization_id}"
    assert row.actor_label == author.get_username()
    assert row.data == {
        "run": str(run.pk),
        "playbook": str(run.playbook_id),
        "from": "queued",
        "to": "cancelled",
        "reason": "not needed",
    }
    assert list(audit_verify()) == []


def test_a_retry_is_audited(active_playbook, author):
    run = run_start(playbook=active_playbook(READ_SPEC), actor=author, inputs={})
    run_advance(run_id=run.pk)  # notes.txt is missing: the read step fails
    run.refresh_from_db()
    assert run.status == "failed"
    run_retry(run=run, actor=author)
    (row,) = _rows(run)
    assert (row.type, row.data["from"], row.data["to"]) == ("run.retried", "failed", "queued")
    assert list(audit_verify()) == []


# --- every transition on the run's own chain (`run:<id>`, head on the run row) ---


def _chain(run) -> list[tuple[str, str, dict]]:
    """The run's own stream: (type, actor, data) of each row, in order."""
    rows = AuditEvent.objects.filter(stream=run_audit_stream(run.pk)).order_by("seq")
    return [(row.type, row.actor_label, row.data) for row in rows]


def _transitions(run) -> list[tuple[str, str, dict]]:
    return [row for row in _chain(run) if row[0] != "tool.called"]


def _assert_chain_verifies(run) -> None:
    rows = list(AuditEvent.objects.filter(stream=run_audit_stream(run.pk)).order_by("seq"))
    assert [row.seq for row in rows] == list(range(1, len(rows) + 1))
    run.refresh_from_db()
    assert (run.audit_seq, run.audit_hash) == (rows[-1].seq, rows[-1].hash)
    assert list(audit_verify()) == []


def _succeeded_chain(run, author) -> None:
    """queued (by the person who started it), started, the calls, succeeded (the system)."""
    chain = _chain(run)
    calls = [row for row in chain if row[0] == "tool.called"]
    assert calls and [kind for kind, _, _ in chain] == (
        ["run.queued", "run.started"] + ["tool.called"] * len(calls) + ["run.succeeded"]
    )
    assert chain[0] == ("run.queued", author.get_username(), {"from": None, "to": "queued"})
    assert chain[1] == ("run.started", "system", {"from": "queued", "to": "running", "attempt": 1})
    assert chain[-1] == ("run.succeeded", "system", {"from": "running", "to": "succeeded"})
    _assert_chain_verifies(run)


def test_a_run_that_succeeds_through_the_guarded_orm_saves_audits_each_move(
    active_playbook, author
):
    # inside the test's transaction: no writer, so start and success are guarded ORM saves
    run = run_start(playbook=active_playbook(ECHO_SPEC), actor=author, inputs={"topic": "t"})
    assert run_advance(run_id=run.pk) == Advance.FINISHED
    _succeeded_chain(run, author)


@pytest.mark.django_db(transaction=True)
def test_a_run_that_ends_with_its_last_checkpoint_audits_its_success_in_that_statement(
    active_playbook, author
):
    run = run_start(playbook=active_playbook(ECHO_SPEC), actor=author, inputs={"topic": "t"})
    assert run_advance(run_id=run.pk) == Advance.FINISHED
    run.refresh_from_db()
    last = AuditEvent.objects.get(stream=run_audit_stream(run.pk), type="run.succeeded")
    assert last.created_at == run.finished_at  # written by the finishing statement
    _succeeded_chain(run, author)


@pytest.mark.django_db(transaction=True)
def test_a_run_that_succeeds_through_the_guarded_statement_audits_its_success(
    active_playbook, author
):
    # a last step that writes a file cannot carry the success: the run-row statement does
    run = run_start(playbook=active_playbook(WRITE_SPEC), actor=author, inputs={})
    assert run_advance(run_id=run.pk) == Advance.FINISHED
    _succeeded_chain(run, author)


def test_a_gate_audits_the_wait_and_the_decision_that_resumes_it(active_playbook, author, approver):
    run = run_start(playbook=active_playbook(GATE_SPEC), actor=author, inputs={})
    assert run_advance(run_id=run.pk) == Advance.PAUSED
    gate = Approval.objects.get(run=run, kind="gate")
    approval_approve(approval=gate, actor=approver, body_hash=gate.body_hash)
    assert run_advance(run_id=run.pk) == Advance.FINISHED
    assert _transitions(run) == [
        ("run.queued", author.get_username(), {"from": None, "to": "queued"}),
        ("run.started", "system", {"from": "queued", "to": "running", "attempt": 1}),
        (
            "run.waiting_for_approval",
            "system",
            {
                "from": "running",
                "to": "waiting_for_approval",
                "reason": "gate",
                "step": "check",
                "approval": str(gate.pk),
            },
        ),
        (
            "run.resumed",
            approver.get_username(),
            {"from": "waiting_for_approval", "to": "running", "approval": str(gate.pk)},
        ),
        ("run.succeeded", "system", {"from": "running", "to": "succeeded"}),
    ]
    _assert_chain_verifies(run)


def test_a_question_audits_the_block(active_playbook, author):
    run = run_start(playbook=active_playbook(QUESTION_SPEC), actor=author, inputs={})
    assert run_advance(run_id=run.pk) == Advance.PAUSED
    question = Approval.objects.get(run=run, kind="question")
    kind, actor, data = _chain(run)[-1]
    assert (kind, actor) == ("run.blocked", "system")
    assert data == {
        "from": "running",
        "to": "blocked",
        "reason": "question",
        "step": "tone",
        "approval": str(question.pk),
    }
    _assert_chain_verifies(run)


def test_a_failed_run_audits_its_failure_with_the_reason(active_playbook, author):
    run = run_start(playbook=active_playbook(READ_SPEC), actor=author, inputs={})
    run_advance(run_id=run.pk)  # notes.txt is missing: the read step fails
    run.refresh_from_db()
    assert run.status == "failed"
    kinds = [kind for kind, _, _ in _chain(run)]
    assert kinds[:2] == ["run.queued", "run.started"] and kinds[-1] == "run.failed"
    assert _chain(run)[-1] == (
        "run.failed",
        "system",
        {"from": "running", "to": "failed", "error": run.error},
    )
    assert run.error.startswith("step read failed")
    _assert_chain_verifies(run)


def test_a_review_audits_the_wait_and_the_person_who_accepted_it(active_playbook, author, approver):
    spec = {**ECHO_SPEC, "review": {"title": "Look at it"}}
    run = run_start(playbook=active_playbook(spec), actor=author, inputs={"topic": "t"})
    assert run_advance(run_id=run.pk) == Advance.FINISHED
    review = Approval.objects.get(run=run, kind="review")
    assert _chain(run)[-1] == (
        "run.reviewing",
        "system",
        {"from": "running", "to": "reviewing", "reason": "review", "approval": str(review.pk)},
    )
    approval_approve(approval=review, actor=approver, body_hash=review.body_hash)
    assert _chain(run)[-1] == (
        "run.succeeded",
        approver.get_username(),
        {"from": "reviewing", "to": "succeeded", "approval": str(review.pk)},
    )
    _assert_chain_verifies(run)


def test_a_cancel_and_a_retry_are_on_the_runs_chain_too(active_playbook, author):
    run = run_start(playbook=active_playbook(READ_SPEC), actor=author, inputs={})
    run_advance(run_id=run.pk)
    run.refresh_from_db()
    run_retry(run=run, actor=author)
    assert _chain(run)[-1] == (
        "run.retried",
        author.get_username(),
        {"from": "failed", "to": "queued", "attempt": 2},
    )
    run_cancel(run=run, actor=author, reason="not needed")
    assert _chain(run)[-1] == (
        "run.cancelled",
        author.get_username(),
        {"from": "queued", "to": "cancelled", "reason": "not needed"},
    )
    assert [row.type for row in _rows(run)] == ["run.retried", "run.cancelled"]  # and the org's
    _assert_chain_verifies(run)
