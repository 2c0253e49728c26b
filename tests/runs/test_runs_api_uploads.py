"""File inputs: multipart uploads land in the workspace as inputs/<field>/<filename>."""

import hashlib

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from playbooks.engine.workspace import run_workspace
from playbooks.models import Artifact, Run
from playbooks.runs.files import input_file_name_safe
from tests.runs.conftest import TWO_FILES_SPEC, UPLOAD_SPEC, advance

CSV = b"name,city\nAda,London\n"


def _upload(client, playbook, *, name="people.csv", content=CSV, inputs='{"label": "x"}', **extra):
    body = {"inputs": inputs, "dataset": SimpleUploadedFile(name, content, "text/csv"), **extra}
    return client.post(f"/api/v1/playbooks/{playbook.pk}/runs/", body, format="multipart")


def test_upload_lands_in_the_workspace_and_becomes_the_input(active_playbook, author, client_for):
    playbook = active_playbook(UPLOAD_SPEC)
    response = _upload(client_for(author), playbook)
    assert response.status_code == 201, response.json()
    run = Run.objects.get(pk=response.json()["id"])
    assert run.inputs == {"label": "x", "dataset": "inputs/dataset/people.csv"}
    assert (run_workspace(run.pk) / "inputs/dataset/people.csv").read_bytes() == CSV
    artifact = Artifact.objects.get(run=run)
    assert (artifact.path, artifact.step_id, artifact.size) == (
        "inputs/dataset/people.csv",
        "inputs",
        len(CSV),
    )
    assert artifact.sha256 == hashlib.sha256(CSV).hexdigest()
    assert artifact.content_type == "text/csv"
    advance(run.pk)
    run.refresh_from_db()
    assert run.status == "succeeded"
    assert run.outputs["read"]["content"] == CSV.decode()


def test_uploaded_input_is_downloadable(active_playbook, author, client_for):
    client = client_for(author)
    run_id = _upload(client, active_playbook(UPLOAD_SPEC)).json()["id"]
    download = client.get(f"/api/v1/runs/{run_id}/artifacts/inputs/dataset/people.csv")
    assert download.status_code == 200
    assert b"".join(download.streaming_content) == CSV


@pytest.mark.parametrize(
    ("raw", "safe"),
    [
        ("../../etc/passwd", "passwd"),
        ("C:\\Users\\me\\data.csv", "data.csv"),
        ("..", "upload"),
        ("a\x00b\x1fc.csv", "abc.csv"),
        (".hidden", "hidden"),
        ("x" * 300 + ".csv", "x" * 196 + ".csv"),
    ],
)
def test_file_names_are_sanitized(raw, safe):
    assert input_file_name_safe(raw) == safe


def test_upload_name_with_folders_keeps_only_the_base_name(active_playbook, author, client_for):
    response = _upload(client_for(author), active_playbook(UPLOAD_SPEC), name="../../x/evil.csv")
    assert response.status_code == 201
    assert response.json()["inputs"]["dataset"] == "inputs/dataset/evil.csv"


def test_file_over_the_cap_is_413(active_playbook, author, client_for, settings):
    settings.AGENTSTUDIO_ARTIFACT_MAX_BYTES = 64
    response = _upload(client_for(author), active_playbook(UPLOAD_SPEC), content=b"x" * 500)
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "payload_too_large"
    assert not Run.objects.exists()


def test_file_over_the_cap_is_413_in_the_view_too(active_playbook, author, client_for, settings):
    """Only the file counts against the cap (a body without Content-Length reaches the view)."""
    from agentstudio.errors import AppError
    from playbooks.runs.files import input_file_from_upload

    settings.AGENTSTUDIO_ARTIFACT_MAX_BYTES = 10
    with pytest.raises(AppError) as caught:
        input_file_from_upload("dataset", SimpleUploadedFile("a.csv", b"x" * 11))
    assert caught.value.status == 413


def test_refused_run_leaves_no_files(active_playbook, author, client_for, settings, tmp_path):
    settings.AGENTSTUDIO_WORKSPACE_ROOT = tmp_path
    response = _upload(client_for(author), active_playbook(UPLOAD_SPEC), inputs="{}")
    assert response.status_code == 400
    assert response.json()["error"]["details"][0]["message"] == "'label' is a required property"
    assert list(tmp_path.iterdir()) == []


def test_inputs_part_must_be_json(active_playbook, author, client_for):
    response = _upload(client_for(author), active_playbook(UPLOAD_SPEC), inputs="{nope")
    assert response.status_code == 400
    assert response.json()["error"]["details"][0]["path"] == "/inputs"


def test_a_file_input_sent_as_json_is_refused(active_playbook, author, client_for):
    playbook = active_playbook(UPLOAD_SPEC)
    response = client_for(author).post(
        f"/api/v1/playbooks/{playbook.pk}/runs/",
        {"inputs": {"label": "x", "dataset": "../../etc/passwd"}},
        format="json",
    )
    assert response.status_code == 400
    assert response.json()["error"]["details"][0]["path"] == "/inputs/dataset"


def test_a_file_part_for_another_field_is_refused(active_playbook, author, client_for):
    extra = {"label": SimpleUploadedFile("l.txt", b"x")}
    response = _upload(client_for(author), active_playbook(UPLOAD_SPEC), **extra)
    assert response.status_code == 400
    assert response.json()["error"]["details"][0]["path"] == "/label"


def test_missing_file_is_a_missing_input(active_playbook, author, client_for):
    playbook = active_playbook(UPLOAD_SPEC)
    response = client_for(author).post(
        f"/api/v1/playbooks/{playbook.pk}/runs/", {"inputs": '{"label": "x"}'}, format="multipart"
    )
    assert response.status_code == 400
    assert "'dataset' is a required property" in response.json()["error"]["message"]


def test_the_inputs_part_may_come_as_a_json_file(active_playbook, author, client_for):
    playbook = active_playbook(UPLOAD_SPEC)
    body = {
        "inputs": SimpleUploadedFile("inputs.json", b'{"label": "y"}', "application/json"),
        "dataset": SimpleUploadedFile("d.csv", CSV, "text/csv"),
    }
    response = client_for(author).post(
        f"/api/v1/playbooks/{playbook.pk}/runs/", body, format="multipart"
    )
    assert response.status_code == 201, response.json()
    assert response.json()["inputs"] == {"label": "y", "dataset": "inputs/dataset/d.csv"}


def test_the_cap_is_per_file_not_per_request(active_playbook, author, client_for, settings):
    """Two files each under the cap pass together though their sum is over it."""
    settings.AGENTSTUDIO_ARTIFACT_MAX_BYTES = 64
    playbook = active_playbook(TWO_FILES_SPEC)
    body = {
        "inputs": "{}",
        "left": SimpleUploadedFile("l.txt", b"l" * 60, "text/plain"),
        "right": SimpleUploadedFile("r.txt", b"r" * 60, "text/plain"),
    }
    response = client_for(author).post(
        f"/api/v1/playbooks/{playbook.pk}/runs/", body, format="multipart"
    )
    assert response.status_code == 201, response.json()
    sizes = dict(Artifact.objects.filter(run_id=response.json()["id"]).values_list("path", "size"))
    assert sizes == {"inputs/left/l.txt": 60, "inputs/right/r.txt": 60}


def test_one_file_over_the_cap_beside_one_under_is_413(
    active_playbook, author, client_for, settings
):
    settings.AGENTSTUDIO_ARTIFACT_MAX_BYTES = 64
    playbook = active_playbook(TWO_FILES_SPEC)
    body = {
        "left": SimpleUploadedFile("l.txt", b"l" * 10, "text/plain"),
        "right": SimpleUploadedFile("r.txt", b"r" * 65, "text/plain"),
    }
    response = client_for(author).post(
        f"/api/v1/playbooks/{playbook.pk}/runs/", body, format="multipart"
    )
    assert response.status_code == 413
    error = response.json()["error"]
    assert (error["code"], error["details"][0]["path"]) == ("payload_too_large", "/right")
    assert not Run.objects.exists()


def test_a_multipart_envelope_over_every_files_cap_is_413(author, client_for, settings):
    """The envelope is bounded too: the file-count limit times the cap, plus the JSON limit."""
    settings.AGENTSTUDIO_ARTIFACT_MAX_BYTES = 64
    settings.AGENTSTUDIO_UPLOAD_MAX_FILES = 2
    settings.AGENTSTUDIO_MAX_JSON_BODY_BYTES = 100
    body = {"inputs": "x" * 400}
    response = client_for(author).post("/api/v1/playbooks/", body, format="multipart")
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "payload_too_large"


def test_more_file_parts_than_allowed_is_400_in_the_envelope(
    active_playbook, author, client_for, settings
):
    settings.DATA_UPLOAD_MAX_NUMBER_FILES = 2
    playbook = active_playbook(TWO_FILES_SPEC)
    body = {name: SimpleUploadedFile(f"{name}.txt", b"x") for name in ("left", "right", "extra")}
    response = client_for(author).post(
        f"/api/v1/playbooks/{playbook.pk}/runs/", body, format="multipart"
    )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "validation_error"
    assert not Run.objects.exists()
