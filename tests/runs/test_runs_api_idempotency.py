"""Idempotency-Key on POST /playbooks/{id}/runs/: replay, conflict, failures not stored."""

import threading
import time

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection

from playbooks.models import IdempotencyRecord, Run
from tests.runs.conftest import ECHO_SPEC, UPLOAD_SPEC


def _post(client, playbook, body, key, fmt="json"):
    return client.post(
        f"/api/v1/playbooks/{playbook.pk}/runs/", body, format=fmt, HTTP_IDEMPOTENCY_KEY=key
    )


def test_same_key_and_body_replays_the_first_response(active_playbook, author, client_for):
    client, playbook = client_for(author), active_playbook(ECHO_SPEC)
    body = {"inputs": {"topic": "tea"}, "callback_url": "https://hooks.example.com/x"}
    first = _post(client, playbook, body, "key-1")
    again = _post(
        client,
        playbook,
        {"callback_url": body["callback_url"], "inputs": {"topic": "tea"}},
        "key-1",
    )
    assert (first.status_code, again.status_code) == (201, 201)
    assert again.json() == first.json()
    assert again["Idempotent-Replayed"] == "true"
    assert Run.objects.count() == 1
    stored = IdempotencyRecord.objects.get()
    assert "callback_secret" not in stored.response_body  # derived again, never stored


def test_same_key_with_another_body_is_409(active_playbook, author, client_for):
    client, playbook = client_for(author), active_playbook(ECHO_SPEC)
    assert _post(client, playbook, {"inputs": {"topic": "tea"}}, "key-2").status_code == 201
    response = _post(client, playbook, {"inputs": {"topic": "coffee"}}, "key-2")
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "invalid_state"
    assert Run.objects.count() == 1


def test_failed_requests_are_not_stored(active_playbook, author, client_for):
    client, playbook = client_for(author), active_playbook(ECHO_SPEC)
    assert _post(client, playbook, {"inputs": {}}, "key-3").status_code == 400
    assert not IdempotencyRecord.objects.exists()
    assert _post(client, playbook, {"inputs": {"topic": "tea"}}, "key-3").status_code == 201


def test_keys_are_per_user(active_playbook, author, admin_user, client_for):
    playbook = active_playbook(ECHO_SPEC)
    body = {"inputs": {"topic": "tea"}}
    first = _post(client_for(author), playbook, body, "shared")
    second = _post(client_for(admin_user), playbook, body, "shared")
    assert first.json()["id"] != second.json()["id"]


def test_keys_are_per_playbook(active_playbook, author, client_for):
    client = client_for(author)
    body = {"inputs": {"topic": "tea"}}
    one = _post(client, active_playbook(ECHO_SPEC), body, "k")
    two = _post(client, active_playbook(ECHO_SPEC), body, "k")
    assert one.json()["id"] != two.json()["id"]


def test_expired_keys_start_a_new_run(active_playbook, author, client_for):
    from datetime import timedelta

    from django.utils import timezone

    client, playbook = client_for(author), active_playbook(ECHO_SPEC)
    body = {"inputs": {"topic": "tea"}}
    first = _post(client, playbook, body, "old")
    IdempotencyRecord.objects.update(created_at=timezone.now() - timedelta(hours=25))
    second = _post(client, playbook, body, "old")
    assert second.status_code == 201
    assert second.json()["id"] != first.json()["id"]


def test_uploads_hash_their_contents(active_playbook, author, client_for):
    client, playbook = client_for(author), active_playbook(UPLOAD_SPEC)

    def body(content):
        return {"inputs": '{"label": "x"}', "dataset": SimpleUploadedFile("d.csv", content)}

    first = _post(client, playbook, body(b"a,b\n"), "upload", fmt="multipart")
    again = _post(client, playbook, body(b"a,b\n"), "upload", fmt="multipart")
    other = _post(client, playbook, body(b"c,d\n"), "upload", fmt="multipart")
    assert again.json()["id"] == first.json()["id"]
    assert other.status_code == 409
    assert Run.objects.count() == 1


def test_overlong_key_is_400(active_playbook, author, client_for):
    response = _post(
        client_for(author), active_playbook(ECHO_SPEC), {"inputs": {"topic": "t"}}, "k" * 201
    )
    assert response.status_code == 400


@pytest.mark.django_db(transaction=True)
def test_concurrent_retries_start_one_run(active_playbook, author, client_for, monkeypatch):
    """The second request waits on the key held by the first (slowed down here), then
    replays its response."""
    import playbooks.runs.starting as module

    original = module.run_row_create

    def slow_run_create(**kwargs):
        run = original(**kwargs)
        time.sleep(0.5)  # the first request holds the key, uncommitted, for a while
        return run

    monkeypatch.setattr(module, "run_row_create", slow_run_create)

    taken: list = []
    claim = module.idempotency_claim

    def recording_claim(**kwargs):
        try:
            return claim(**kwargs)
        except module.IdempotencyKeyTaken:
            taken.append(kwargs["claim"].key)
            raise

    monkeypatch.setattr(module, "idempotency_claim", recording_claim)
    playbook = active_playbook(ECHO_SPEC)
    clients = [client_for(author), client_for(author)]
    responses: list = [None, None]

    def post(index: int) -> None:
        try:
            responses[index] = _post(clients[index], playbook, {"inputs": {"topic": "t"}}, "race")
        finally:
            connection.close()

    threads = [threading.Thread(target=post, args=(i,)) for i in range(2)]
    threads[0].start()
    time.sleep(0.2)
    threads[1].start()
    for thread in threads:
        thread.join(30)
    assert [r.status_code for r in responses] == [201, 201]
    assert responses[0].json() == responses[1].json()
    assert responses[1]["Idempotent-Replayed"] == "true"
    assert Run.objects.count() == 1
    assert taken == ["race"]  # the second request found the key held
