"""API keys: shown once, stored hashed, bound to user and organization, revocable."""

import hashlib

from rest_framework.test import APIClient

from agentstudio.accounts.models import ApiKey


def test_create_returns_the_secret_once_and_stores_only_its_hash(author, client_for):
    client = client_for(author)
    response = client.post("/api/v1/keys/", {"name": "laptop"}, format="json")
    assert response.status_code == 201
    raw = response.json()["key"]
    key = ApiKey.objects.get(pk=response.json()["id"])
    assert key.key_hash == hashlib.sha256(raw.encode()).hexdigest()
    assert raw not in str(ApiKey.objects.filter(pk=key.pk).values().get())
    listed = client.get("/api/v1/keys/").json()
    assert listed["count"] == 2
    assert all("key" not in row for row in listed["results"])


def test_new_key_authenticates_and_records_last_use(author):
    client = APIClient()
    client.force_authenticate(author)
    raw = client.post("/api/v1/keys/", {}, format="json").json()["key"]
    bearer = APIClient()
    bearer.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    assert bearer.get("/api/v1/me/").json()["username"] == author.username
    assert ApiKey.objects.get(user=author).last_used_at is not None


def test_revoked_key_is_refused_with_401(author, client_for):
    client = APIClient()
    client.force_authenticate(author)
    created = client.post("/api/v1/keys/", {}, format="json").json()
    assert client.delete(f"/api/v1/keys/{created['id']}/").status_code == 204
    bearer = APIClient()
    bearer.credentials(HTTP_AUTHORIZATION=f"Bearer {created['key']}")
    response = bearer.get("/api/v1/me/")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "not_authenticated"


def test_wrong_key_and_missing_credentials_answer_401_in_the_envelope(db):
    client = APIClient()
    missing = client.get("/api/v1/playbooks/")
    assert missing.status_code == 401
    assert missing.json()["error"]["code"] == "not_authenticated"
    client.credentials(HTTP_AUTHORIZATION="Bearer as_abcdef123456_not-the-secret")
    assert client.get("/api/v1/playbooks/").status_code == 401


def test_another_users_key_cannot_be_revoked(author, runner, client_for):
    client = APIClient()
    client.force_authenticate(runner)
    key_id = client.post("/api/v1/keys/", {}, format="json").json()["id"]
    response = client_for(author).delete(f"/api/v1/keys/{key_id}/")
    assert response.status_code == 404
    assert ApiKey.objects.get(pk=key_id).revoked_at is None
