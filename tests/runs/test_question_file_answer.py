"""A question that asks for a file (`{type: string, format: binary}`) takes it as the
multipart part `answer`: the file lands in the run's workspace as an artifact of the asking
step, the answer is its path, and the run goes on with it. Refusals leave no file behind."""

import hashlib

from django.core.files.uploadedfile import SimpleUploadedFile

from approvals.models import Approval
from playbooks.engine.runner import Advance, run_advance
from playbooks.engine.workspace import run_workspace
from playbooks.models import Artifact, Run
from playbooks.runs.starting import run_start

FILE_QUESTION_SPEC = {
    "name": "Ask for the ledger",
    "tools": ["tools.studio.files.read"],
    "steps": [
        {
            "id": "ledger",
            "ask": {
                "question": "Upload last quarter's ledger (CSV)",
                "schema": {"type": "string", "format": "binary"},
            },
        },
        {
            "id": "read",
            "tool": "tools.studio.files.read",
            "args": {"path": "{{ steps.ledger.output }}"},
        },
    ],
    "outputs": {"ledger": "{{ steps.ledger.output }}", "text": "{{ steps.read.output.content }}"},
}
CSV = b"account,amount\n4000,125.50\n"


def _asked(active_playbook, author):
    run = run_start(playbook=active_playbook(FILE_QUESTION_SPEC), actor=author, inputs={})
    assert run_advance(run_id=run.pk) == Advance.PAUSED
    return run, Approval.objects.get(run=run, kind="question")


def _upload(client, question, name="ledger.csv", content=CSV):
    return client.post(
        f"/api/v1/approvals/{question.pk}/answer/",
        {"answer": SimpleUploadedFile(name, content, content_type="text/csv")},
        format="multipart",
    )


def test_a_file_answer_lands_in_the_workspace_and_the_run_reads_it(
    active_playbook, author, client_for
):
    run, question = _asked(active_playbook, author)
    response = _upload(client_for(author), question, name="../../etc/ledger.csv")
    assert response.status_code == 200, response.json()
    assert (response.json()["status"], response.json()["response"]) == (
        "approved",
        "answers/ledger/ledger.csv",
    )
    artifact = Artifact.objects.get(run=run, path="answers/ledger/ledger.csv")
    assert (artifact.step_id, artifact.size) == ("ledger", len(CSV))
    assert artifact.sha256 == hashlib.sha256(CSV).hexdigest()
    assert (run_workspace(run.pk) / "answers/ledger/ledger.csv").read_bytes() == CSV

    assert run_advance(run_id=run.pk) == Advance.FINISHED
    run = Run.objects.get(pk=run.pk)
    assert run.status == "succeeded"
    assert run.outputs == {"ledger": "answers/ledger/ledger.csv", "text": CSV.decode()}


def test_a_file_for_a_text_question_is_refused_and_not_kept(active_playbook, author, client_for):
    spec = {
        "name": "Ask",
        "steps": [{"id": "tone", "ask": {"question": "Tone?", "schema": {"type": "string"}}}],
    }
    run = run_start(playbook=active_playbook(spec), actor=author, inputs={})
    run_advance(run_id=run.pk)
    question = Approval.objects.get(run=run, kind="question")
    response = _upload(client_for(author), question)
    assert response.status_code == 400
    assert response.json()["error"]["details"][0]["message"] == "not a file question"
    assert not (run_workspace(run.pk) / "answers").exists()
    assert Approval.objects.get(pk=question.pk).status == "pending"


def test_someone_who_may_not_answer_leaves_no_file(active_playbook, author, viewer, client_for):
    run, question = _asked(active_playbook, author)
    response = _upload(client_for(viewer), question)
    assert response.status_code in (403, 404)
    assert not (run_workspace(run.pk) / "answers/ledger/ledger.csv").exists()
    assert not Artifact.objects.filter(run=run, path__startswith="answers/").exists()
