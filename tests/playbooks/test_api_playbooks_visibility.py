"""Who sees and who may act on playbooks: the role table of API.md."""

import pytest

from tests.specs import READ_ONLY_SPEC


@pytest.fixture
def playbook_of(client_for):
    def _make(user, **extra):
        response = client_for(user).post(
            "/api/v1/playbooks/", {"spec": READ_ONLY_SPEC, **extra}, format="json"
        )
        assert response.status_code == 201, response.json()
        return response.json()

    return _make


def test_other_organization_gets_404(author, make_user, other_org, client_for, playbook_of):
    playbook = playbook_of(author)
    outsider = make_user("admin", organization=other_org, username="eve")
    response = client_for(outsider).get(f"/api/v1/playbooks/{playbook['id']}/")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"
    assert client_for(outsider).get("/api/v1/playbooks/").json()["count"] == 0


def test_runner_sees_only_listed_playbooks(author, runner, client_for, playbook_of):
    hidden = playbook_of(author)
    listed = playbook_of(author, name="Listed", allowed_users=[runner.username])
    client = client_for(runner)
    assert [r["id"] for r in client.get("/api/v1/playbooks/").json()["results"]] == [listed["id"]]
    assert client.get(f"/api/v1/playbooks/{hidden['id']}/").status_code == 404
    assert client.get(f"/api/v1/playbooks/{listed['id']}/").json()["allowed_users"] == [
        runner.username
    ]


def test_viewer_sees_listed_but_may_not_edit(author, viewer, client_for, playbook_of):
    listed = playbook_of(author, allowed_users=[viewer.username])
    client = client_for(viewer)
    assert client.get(f"/api/v1/playbooks/{listed['id']}/").status_code == 200
    response = client.patch(
        f"/api/v1/playbooks/{listed['id']}/", {"description": "x"}, format="json"
    )
    assert response.status_code == 403
    assert (
        client.post("/api/v1/playbooks/", {"spec": READ_ONLY_SPEC}, format="json").status_code
        == 403
    )


def test_approver_sees_all_but_cannot_author(author, approver, client_for, playbook_of):
    playbook = playbook_of(author)
    client = client_for(approver)
    assert client.get(f"/api/v1/playbooks/{playbook['id']}/").status_code == 200
    assert client.post(f"/api/v1/playbooks/{playbook['id']}/promote/").status_code == 403


def test_author_may_not_archive_someone_elses_playbook(author, make_user, client_for, playbook_of):
    other_author = make_user("author", username="carol")
    playbook = playbook_of(author, allowed_users=[other_author.username])
    client_for(author).post(f"/api/v1/playbooks/{playbook['id']}/promote/")
    response = client_for(other_author).post(f"/api/v1/playbooks/{playbook['id']}/archive/")
    assert response.status_code == 403
    assert (
        client_for(author).post(f"/api/v1/playbooks/{playbook['id']}/archive/").status_code == 200
    )
