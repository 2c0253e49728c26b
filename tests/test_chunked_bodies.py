"""Bodies without Content-Length (Transfer-Encoding: chunked) through a real uvicorn server:
read and capped like any other body, never taken for an empty one."""

import http.client
import json
import uuid

import pytest

from agentstudio.accounts.models import Role
from agentstudio.accounts.services import api_key_create
from playbooks.models import Artifact, Playbook, Run
from tests.runs.conftest import ECHO_SPEC, TWO_FILES_SPEC, UPLOAD_SPEC
from tests.support.live_server import studio_server

pytestmark = pytest.mark.django_db(transaction=True)

JSON_LIMIT = 16 * 1024
FILE_CAP = 4096
MAX_FILES = 3
ENVELOPE = MAX_FILES * FILE_CAP + JSON_LIMIT  # what a multipart body may reach at most


@pytest.fixture(scope="module")
def port(django_db_setup, django_db_blocker, tmp_path_factory):
    """A uvicorn server (the app `manage.py serve` runs) on the test database."""
    log = tmp_path_factory.mktemp("chunked") / "uvicorn.log"
    with (
        django_db_blocker.unblock(),
        studio_server(
            log,
            lifespan=False,
            AGENTSTUDIO_MAX_JSON_BODY_BYTES=str(JSON_LIMIT),
            AGENTSTUDIO_ARTIFACT_MAX_BYTES=str(FILE_CAP),
            AGENTSTUDIO_UPLOAD_MAX_FILES=str(MAX_FILES),
        ) as base,
    ):
        yield int(base.rsplit(":", 1)[1])


def _send(port: int, path: str, body: bytes, *, key: str, content_type: str, chunked: bool):
    """POSTs `body` in 1000-byte chunks (no Content-Length) or in one piece (with it)."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    headers = {"Authorization": f"Bearer {key}", "Content-Type": content_type}
    try:
        if chunked:
            pieces = (body[start : start + 1000] for start in range(0, len(body), 1000))
            connection.request("POST", path, body=pieces, headers=headers, encode_chunked=True)
        else:
            connection.request("POST", path, body=body, headers=headers)
        response = connection.getresponse()
        return response.status, json.loads(response.read() or b"null")
    finally:
        connection.close()


def _multipart(parts: dict[str, tuple[str | None, bytes]]) -> tuple[bytes, str]:
    boundary = uuid.uuid4().hex
    lines = []
    for name, (filename, content) in parts.items():
        disposition = f'form-data; name="{name}"'
        if filename is not None:
            disposition += f'; filename="{filename}"'
        lines.append(f"--{boundary}\r\nContent-Disposition: {disposition}\r\n".encode())
        if filename is not None:
            lines.append(b"Content-Type: text/plain\r\n")
        lines.append(b"\r\n" + content + b"\r\n")
    lines.append(f"--{boundary}--\r\n".encode())
    return b"".join(lines), f"multipart/form-data; boundary={boundary}"


@pytest.fixture
def owner(make_user):
    return make_user(Role.ADMIN, username="chunky")


@pytest.fixture
def key(owner):
    _key, raw = api_key_create(user=owner, name="chunked")
    return raw


def test_a_chunked_json_body_is_read(port, key):
    body = json.dumps({"spec": {**ECHO_SPEC, "name": "Chunked echo"}}).encode()
    status, answer = _send(
        port, "/api/v1/playbooks/", body, key=key, content_type="application/json", chunked=True
    )
    assert status == 201, answer
    assert Playbook.objects.get(pk=answer["id"]).name == "Chunked echo"


@pytest.mark.parametrize("chunked", [True, False])
def test_a_json_body_over_the_limit_is_413_chunked_or_not(port, key, chunked):
    body = json.dumps({"spec": {**ECHO_SPEC, "description": "x" * JSON_LIMIT}}).encode()
    status, answer = _send(
        port, "/api/v1/playbooks/", body, key=key, content_type="application/json", chunked=chunked
    )
    assert status == 413, answer
    assert answer["error"]["code"] == "payload_too_large"
    assert not Playbook.objects.exists()


def test_a_chunked_upload_lands_in_the_workspace(port, key, owner, active_playbook):
    playbook = active_playbook(UPLOAD_SPEC, owner=owner)
    body, content_type = _multipart(
        {"inputs": (None, b'{"label": "x"}'), "dataset": ("d.csv", b"a,b\n" * 500)}
    )
    status, answer = _send(
        port, f"/api/v1/playbooks/{playbook.pk}/runs/", body, key=key,
        content_type=content_type, chunked=True,
    )  # fmt: skip
    assert status == 201, answer
    artifact = Artifact.objects.get(run_id=answer["id"])
    assert (artifact.path, artifact.size) == ("inputs/dataset/d.csv", 2000)


def test_chunked_files_are_capped_each_not_together(port, key, owner, active_playbook):
    playbook = active_playbook(TWO_FILES_SPEC, owner=owner)
    url = f"/api/v1/playbooks/{playbook.pk}/runs/"
    under, content_type = _multipart(
        {"left": ("l.txt", b"l" * (FILE_CAP - 1)), "right": ("r.txt", b"r" * (FILE_CAP - 1))}
    )
    status, answer = _send(port, url, under, key=key, content_type=content_type, chunked=True)
    assert status == 201, answer
    over, content_type = _multipart(
        {"left": ("l.txt", b"l" * 10), "right": ("r.txt", b"r" * (FILE_CAP + 1))}
    )
    status, answer = _send(port, url, over, key=key, content_type=content_type, chunked=True)
    assert status == 413, answer
    assert (answer["error"]["code"], answer["error"]["details"][0]["path"]) == (
        "payload_too_large",
        "/right",
    )
    assert Run.objects.count() == 1


def test_a_chunked_multipart_body_over_the_envelope_is_413(port, key, owner, active_playbook):
    playbook = active_playbook(UPLOAD_SPEC, owner=owner)
    body, content_type = _multipart({"dataset": ("d.csv", b"x" * (ENVELOPE + 1))})
    status, answer = _send(
        port, f"/api/v1/playbooks/{playbook.pk}/runs/", body, key=key,
        content_type=content_type, chunked=True,
    )  # fmt: skip
    assert status == 413, answer
    assert answer["error"]["code"] == "payload_too_large"
    assert not Run.objects.exists()
