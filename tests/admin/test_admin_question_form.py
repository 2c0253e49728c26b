"""Questions in the admin: an `ask` step's answer schema is rendered as a form (text, a
choice, a number, a file uploaded into the run's workspace), the answer goes through the
service (validated against the schema), and the run continues with it."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from approvals.models import Approval
from playbooks.engine.runner import Advance, run_advance
from playbooks.engine.workspace import run_workspace
from playbooks.models import Run
from playbooks.runs.starting import run_start
from tests.admin.helpers import page_messages


def _asked(active_playbook, author, schema):
    spec = {
        "name": "Ask",
        "steps": [{"id": "q", "ask": {"question": "Your answer?", "schema": schema}}],
        "outputs": {"answer": "{{ steps.q.output }}"},
    }
    run = run_start(playbook=active_playbook(spec), actor=author, inputs={})
    assert run_advance(run_id=run.pk) == Advance.PAUSED
    return run, Approval.objects.get(run=run, kind="question")


def _answer(client, question, data, **extra):
    return client.post(
        reverse("admin:approvals_approval_answer", args=[question.pk]), data, follow=True, **extra
    )


def _finished_with(run):
    assert run_advance(run_id=run.pk) == Advance.FINISHED
    return Run.objects.get(pk=run.pk).outputs["answer"]


@pytest.mark.parametrize(
    ("schema", "widget_html", "posted", "expected"),
    [
        (
            {"type": "string", "maxLength": 50},
            '<textarea name="answer"',
            "warm and short",
            "warm and short",
        ),
        ({"enum": ["dry", 3, True]}, '<select name="answer"', "1", 3),
        ({"type": "integer", "minimum": 1}, '<input type="number"', "42", 42),
        ({"type": "number"}, '<input type="number"', "2.5", 2.5),
    ],
)
def test_the_form_matches_the_schema_and_the_answer_keeps_its_type(
    active_playbook, author, approver, login, schema, widget_html, posted, expected
):
    run, question = _asked(active_playbook, author, schema)
    client = login(approver)
    page = client.get(reverse("admin:approvals_approval_change", args=[question.pk]))
    html = page.content.decode()
    assert widget_html in html and 'id="answer-button"' in html
    assert 'id="approve-button"' not in html  # a question is answered, not approved
    response = _answer(client, question, {"answer": posted})
    assert "Answered" in " ".join(page_messages(response))
    assert Approval.objects.get(pk=question.pk).response == expected
    output = _finished_with(run)
    assert (
        output == (str(expected) if not isinstance(expected, str) else expected)
        or output == expected
    )


def test_an_answer_outside_the_schema_is_an_error_and_changes_nothing(
    active_playbook, author, approver, login
):
    _run, question = _asked(active_playbook, author, {"type": "number"})
    client = login(approver)
    for posted in ("many", "nan", "inf"):
        response = _answer(client, question, {"answer": posted})
        assert page_messages(response), "the refusal is shown"
        assert Approval.objects.get(pk=question.pk).status == "pending"
    _run, question = _asked(active_playbook, author, {"enum": ["dry", "warm"]})
    for posted in ("-1", "2", "x"):  # a position outside the choices is not the last one
        response = _answer(client, question, {"answer": posted})
        assert page_messages(response), "the refusal is shown"
        assert Approval.objects.get(pk=question.pk).status == "pending"
    _run, question = _asked(active_playbook, author, {"type": "integer", "minimum": 1})
    for posted in ("0", "many"):
        response = _answer(client, question, {"answer": posted})
        assert page_messages(response), "the refusal is shown"
        assert Approval.objects.get(pk=question.pk).status == "pending"


def test_a_file_question_takes_an_upload_into_the_workspace(
    active_playbook, author, approver, login
):
    run, question = _asked(active_playbook, author, {"type": "string", "format": "binary"})
    client = login(approver)
    page = client.get(reverse("admin:approvals_approval_change", args=[question.pk]))
    assert 'enctype="multipart/form-data"' in page.content.decode()
    missing = _answer(client, question, {})
    assert "Choose a file" in " ".join(page_messages(missing))
    upload = SimpleUploadedFile("notes.txt", b"quarter closed", content_type="text/plain")
    _answer(client, question, {"answer": upload})
    assert Approval.objects.get(pk=question.pk).response == "answers/q/notes.txt"
    assert (run_workspace(run.pk) / "answers/q/notes.txt").read_bytes() == b"quarter closed"
    assert _finished_with(run) == "answers/q/notes.txt"


def test_the_admin_does_not_approve_a_question_without_its_answer(
    active_playbook, author, approver, login
):
    _run, question = _asked(active_playbook, author, {"type": "integer"})
    client = login(approver)
    page = client.get(reverse("admin:approvals_approval_change", args=[question.pk]))
    assert reverse("admin:approvals_approval_approve", args=[question.pk]) not in (
        page.content.decode()
    )
    posted = client.post(
        reverse("admin:approvals_approval_approve", args=[question.pk]),
        {"body_hash": question.body_hash},
        follow=True,
    )
    bulk = client.post(  # through the bulk review page, confirmed at the hash it shows
        reverse("admin:approvals_approval_changelist"),
        {
            "action": "approve_selected",
            "confirm": "yes",
            "_selected_action": [question.pk],
            f"body_hash_{question.pk}": question.body_hash,
        },
        follow=True,
    )
    answer_path = f"/api/v1/approvals/{question.pk}/answer/"
    assert any(answer_path in message for message in page_messages(posted))
    assert any(answer_path in message for message in page_messages(bulk))
    question.refresh_from_db()
    assert (question.status, question.response) == ("pending", None)
