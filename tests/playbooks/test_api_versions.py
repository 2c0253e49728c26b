"""Immutable versions: list, diff two, restore one into the draft."""

import pytest

from agentstudio.errors import AppError
from playbooks.models import PlaybookVersion
from tests.specs import READ_ONLY_SPEC, spec


@pytest.fixture
def two_versions(admin_user, client_for):
    client = client_for(admin_user)
    playbook = client.post("/api/v1/playbooks/", {"spec": READ_ONLY_SPEC}, format="json").json()
    url = f"/api/v1/playbooks/{playbook['id']}/"
    client.post(f"{url}promote/")
    client.post(f"{url}demote/")
    client.patch(url, {"spec": spec(READ_ONLY_SPEC, description="Second edition")}, format="json")
    client.post(f"{url}promote/")
    return client, url


def test_versions_list_newest_first(two_versions):
    client, url = two_versions
    body = client.get(f"{url}versions/").json()
    assert body["count"] == 2
    assert [row["version"] for row in body["results"]] == [2, 1]
    assert body["results"][0]["spec"]["description"] == "Second edition"
    assert body["results"][0]["activated_by"] == "alice-admin"


def test_diff_is_a_unified_yaml_diff(two_versions):
    client, url = two_versions
    body = client.get(f"{url}versions/2/diff/?against=1").json()
    assert body["version"] == 2 and body["against"] == 1
    assert "-description: Reads one file." in body["diff"]
    assert "+description: Second edition" in body["diff"]
    assert body["diff"].startswith("--- v1\n+++ v2\n")
    assert client.get(f"{url}versions/9/diff/?against=1").status_code == 404


def test_restore_copies_an_old_spec_into_the_draft(two_versions):
    client, url = two_versions
    assert client.post(f"{url}versions/1/restore/").status_code == 409  # active: demote first
    client.post(f"{url}demote/")
    restored = client.post(f"{url}versions/1/restore/").json()
    assert restored["spec"]["description"] == "Reads one file."
    assert restored["status"] == "draft"


def test_versions_cannot_be_changed(two_versions):
    version = PlaybookVersion.objects.first()
    version.spec = {"name": "tampered"}
    with pytest.raises(AppError):
        version.save()
