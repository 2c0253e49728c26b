"""Create, read, edit, delete, import and export playbooks through the REST API."""

import yaml

from playbooks.models import Playbook
from tests.specs import READ_ONLY_SPEC, WRITE_SPEC, WRITE_SPEC_YAML, spec


def _create(client, body):
    return client.post("/api/v1/playbooks/", body, format="json")


def test_author_creates_a_draft_with_created_by(author, client_for):
    response = _create(client_for(author), {"spec": WRITE_SPEC})
    assert response.status_code == 201
    body = response.json()
    assert body["status"] == "draft"
    assert body["slug"] == "write-notes"
    assert body["created_by"] == "bob-author"
    assert body["version"] == 0
    assert body["pending_promotion"] is None
    assert body["spec"] == WRITE_SPEC


def test_name_in_body_overrides_spec_name(author, client_for):
    body = _create(client_for(author), {"spec": WRITE_SPEC, "name": "Renamed"}).json()
    assert body["name"] == "Renamed"
    assert body["spec"]["name"] == "Renamed"


def test_create_from_yaml_keeps_the_same_spec(author, client_for):
    body = _create(client_for(author), {"spec_yaml": WRITE_SPEC_YAML}).json()
    assert body["spec"] == WRITE_SPEC


def test_invalid_spec_is_400_with_every_error(author, client_for):
    bad = spec(
        WRITE_SPEC,
        tools=["tools.studio.files.write", "tools.nope.missing"],
        budget={"max_usd": 0},
    )
    bad["steps"] = bad["steps"] + [
        {
            "id": "write",
            "tool": "tools.studio.files.write",
            "args": {"path": "b", "content": "{{ steps.later.output }}"},
        }
    ]
    response = _create(client_for(author), {"spec": bad})
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "validation_error"
    paths = {detail["path"] for detail in error["details"]}
    assert "/tools/1" in paths
    assert "/budget/max_usd" in paths
    assert any(path.startswith("/steps/1") for path in paths)
    assert len(error["details"]) >= 3
    assert Playbook.objects.count() == 0


def test_invalid_yaml_errors_carry_line_and_column(author, client_for):
    text = WRITE_SPEC_YAML.replace(
        "tools.studio.files.write\n    args", "tools.nope.gone\n    args"
    )
    response = _create(client_for(author), {"spec_yaml": text})
    assert response.status_code == 400
    details = response.json()["error"]["details"]
    unknown = next(d for d in details if d["path"] == "/steps/0/tool")
    assert unknown["line"] == 6
    assert unknown["column"] == 11


def test_malformed_yaml_is_400_with_position(author, client_for):
    response = _create(client_for(author), {"spec_yaml": "name: [unclosed\nsteps: []\n"})
    assert response.status_code == 400
    detail = response.json()["error"]["details"][0]
    assert detail["line"] >= 1
    assert "column" in detail


def test_import_raw_yaml_and_export_round_trip(author, client_for):
    client = client_for(author)
    created = client.post(
        "/api/v1/playbooks/import/", data=WRITE_SPEC_YAML, content_type="application/yaml"
    )
    assert created.status_code == 201
    exported = client.get(f"/api/v1/playbooks/{created.json()['id']}/export/")
    assert exported.status_code == 200
    assert exported["Content-Type"] == "application/yaml"
    assert yaml.safe_load(exported.content) == WRITE_SPEC
    again = client.post(
        "/api/v1/playbooks/import/", {"spec_yaml": exported.content.decode()}, format="json"
    )
    assert again.status_code == 201
    assert again.json()["spec"] == created.json()["spec"]
    assert again.json()["slug"] == "write-notes-2"


def test_import_refuses_invalid_yaml_spec(author, client_for):
    response = client_for(author).post(
        "/api/v1/playbooks/import/", data="name: x\nsteps: []\n", content_type="application/yaml"
    )
    assert response.status_code == 400


def test_patch_spec_in_draft_and_409_when_active(author, client_for):
    client = client_for(author)
    playbook = _create(client, {"spec": READ_ONLY_SPEC}).json()
    edited = spec(READ_ONLY_SPEC, description="Edited")
    response = client.patch(f"/api/v1/playbooks/{playbook['id']}/", {"spec": edited}, format="json")
    assert response.status_code == 200
    assert response.json()["spec"]["description"] == "Edited"
    assert client.post(f"/api/v1/playbooks/{playbook['id']}/promote/").status_code == 200
    refused = client.patch(
        f"/api/v1/playbooks/{playbook['id']}/", {"spec": READ_ONLY_SPEC}, format="json"
    )
    assert refused.status_code == 409
    assert refused.json()["error"]["code"] == "invalid_state"


def test_patch_with_invalid_spec_is_400_and_keeps_the_old_spec(author, client_for):
    client = client_for(author)
    playbook = _create(client, {"spec": READ_ONLY_SPEC}).json()
    response = client.patch(
        f"/api/v1/playbooks/{playbook['id']}/", {"spec": {"name": "x"}}, format="json"
    )
    assert response.status_code == 400
    assert Playbook.objects.get(pk=playbook["id"]).spec == READ_ONLY_SPEC


def test_delete_only_draft_or_archived(admin_user, client_for):
    client = client_for(admin_user)
    playbook = _create(client, {"spec": READ_ONLY_SPEC}).json()
    url = f"/api/v1/playbooks/{playbook['id']}/"
    client.post(f"{url}promote/")
    assert client.delete(url).status_code == 409
    client.post(f"{url}archive/")
    assert client.delete(url).status_code == 204
    assert client.get(url).status_code == 404


def test_list_filters_searches_and_paginates(author, client_for):
    client = client_for(author)
    _create(client, {"spec": READ_ONLY_SPEC})
    second = _create(client, {"spec": WRITE_SPEC}).json()
    third = _create(client, {"spec": READ_ONLY_SPEC, "name": "Zed"}).json()
    client.post(f"/api/v1/playbooks/{third['id']}/promote/")
    listing = client.get("/api/v1/playbooks/").json()
    assert set(listing) == {"count", "next", "previous", "results"}
    assert listing["count"] == 3
    assert client.get("/api/v1/playbooks/?status=active").json()["count"] == 1
    assert [r["id"] for r in client.get("/api/v1/playbooks/?search=Write").json()["results"]] == [
        second["id"]
    ]
    names = [r["name"] for r in client.get("/api/v1/playbooks/?ordering=name").json()["results"]]
    assert names == sorted(names)


def test_unknown_fields_in_allowed_users_are_refused(author, client_for):
    response = _create(client_for(author), {"spec": WRITE_SPEC, "allowed_users": ["ghost"]})
    assert response.status_code == 400
    assert response.json()["error"]["details"][0]["path"] == "/allowed_users"
