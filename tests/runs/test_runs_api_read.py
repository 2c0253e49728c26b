"""GET /runs/, /runs/{id}/, events and artifacts: who sees what, filters, downloads."""

import hashlib

import pytest

from agentstudio.accounts.models import Role
from playbooks.engine.workspace import run_workspace
from playbooks.runs.starting import run_start
from tests.runs.conftest import ECHO_SPEC, GATE_SPEC, WRITE_SPEC, advance

REPORT = b"# Report\n"


@pytest.fixture
def runs(active_playbook, author, admin_user, make_user):
    """Runs of the author's playbook by the author and by a listed runner, and one of an
    admin's playbook by the admin."""
    runner = make_user(Role.RUNNER, username="listed-runner")
    authored = active_playbook(ECHO_SPEC, allowed=[runner])
    admins = active_playbook(ECHO_SPEC, owner=admin_user)
    by_author = run_start(playbook=authored, actor=author, inputs={"topic": "a"})
    by_runner = run_start(playbook=authored, actor=runner, inputs={"topic": "b"})
    by_admin = run_start(playbook=admins, actor=admin_user, inputs={"topic": "c"})
    return {"runner": runner, "author": by_author, "runner_run": by_runner, "admin": by_admin}


def _ids(client, query=""):
    response = client.get(f"/api/v1/runs/{query}")
    assert response.status_code == 200, response.json()
    return {row["id"] for row in response.json()["results"]}


def test_admins_and_approvers_see_every_run_of_the_org(runs, admin_user, approver, client_for):
    every = {str(runs[k].pk) for k in ("author", "runner_run", "admin")}
    assert _ids(client_for(admin_user)) == every
    assert _ids(client_for(approver)) == every


def test_authors_see_runs_of_their_playbooks_and_their_own(runs, author, client_for):
    assert _ids(client_for(author)) == {str(runs["author"].pk), str(runs["runner_run"].pk)}
    response = client_for(author).get(f"/api/v1/runs/{runs['admin'].pk}/")
    assert response.status_code == 404


def test_runners_see_their_own_runs(runs, client_for):
    client = client_for(runs["runner"])
    assert _ids(client) == {str(runs["runner_run"].pk)}
    assert client.get(f"/api/v1/runs/{runs['author'].pk}/").status_code == 404


def test_viewers_get_403_for_the_list_and_404_for_a_run(runs, viewer, client_for):
    client = client_for(viewer)
    response = client.get("/api/v1/runs/")
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "permission_denied"
    assert client.get(f"/api/v1/runs/{runs['author'].pk}/").status_code == 404


def test_other_organizations_see_nothing(runs, make_user, other_org, client_for):
    client = client_for(make_user(Role.ADMIN, organization=other_org))
    assert _ids(client) == set()
    assert client.get(f"/api/v1/runs/{runs['author'].pk}/").status_code == 404
    assert client.get(f"/api/v1/runs/{runs['author'].pk}/events/").status_code == 404
    assert client.get(f"/api/v1/runs/{runs['author'].pk}/artifacts/").status_code == 404


def test_filters_search_and_ordering(runs, admin_user, client_for):
    client = client_for(admin_user)
    advance(runs["admin"].pk)
    assert _ids(client, "?status=succeeded") == {str(runs["admin"].pk)}
    playbook = runs["author"].playbook_id
    assert _ids(client, f"?playbook={playbook}") == {
        str(runs["author"].pk),
        str(runs["runner_run"].pk),
    }
    runs["admin"].playbook.__class__.objects.filter(pk=runs["admin"].playbook_id).update(
        name="Quarterly close"
    )
    assert _ids(client, "?search=quarterly") == {str(runs["admin"].pk)}
    oldest_first = client.get("/api/v1/runs/?ordering=created_at").json()["results"]
    assert oldest_first[0]["id"] == str(runs["author"].pk)
    assert client.get("/api/v1/runs/?status=bogus").status_code == 400
    assert client.get("/api/v1/runs/?playbook=not-a-uuid").status_code == 400


def test_detail_lists_pending_approvals_and_usage(active_playbook, author, client_for):
    run = run_start(playbook=active_playbook(GATE_SPEC), actor=author, inputs={})
    advance(run.pk)
    body = client_for(author).get(f"/api/v1/runs/{run.pk}/").json()
    assert (body["status"], body["paused_reason"], body["current_step"]) == (
        "waiting_for_approval",
        "gate",
        "check",
    )
    assert [(a["kind"], a["title"]) for a in body["pending_approvals"]] == [("gate", "Check it")]
    assert body["usage"]["tool_calls"] == 1
    assert body["usage"]["wall_seconds"] > 0
    assert body["started_at"] is not None


def test_events_after_n_have_no_gaps(active_playbook, author, client_for):
    run = run_start(playbook=active_playbook(ECHO_SPEC), actor=author, inputs={"topic": "x"})
    advance(run.pk)
    client = client_for(author)
    every = client.get(f"/api/v1/runs/{run.pk}/events/").json()
    seqs = [row["seq"] for row in every["results"]]
    assert seqs == list(range(1, every["count"] + 1))
    assert [r["type"] for r in every["results"]][:2] == ["run.queued", "run.started"]
    assert every["results"][-1]["type"] == "run.succeeded"
    assert set(every["results"][0]) == {"seq", "type", "data", "created_at"}
    later = client.get(f"/api/v1/runs/{run.pk}/events/?after=3").json()
    assert [row["seq"] for row in later["results"]] == seqs[3:]
    assert client.get(f"/api/v1/runs/{run.pk}/events/?after=x").status_code == 400
    paged = client.get(f"/api/v1/runs/{run.pk}/events/?page_size=2").json()
    assert [row["seq"] for row in paged["results"]] == [1, 2]
    assert paged["next"] is not None


@pytest.fixture
def written(active_playbook, author):
    run = run_start(playbook=active_playbook(WRITE_SPEC), actor=author, inputs={})
    advance(run.pk)
    return run


def test_artifacts_list(written, author, client_for):
    body = client_for(author).get(f"/api/v1/runs/{written.pk}/artifacts/").json()
    assert body["count"] == 1
    row = body["results"][0]
    assert set(row) == {"path", "content_type", "size", "sha256", "url", "step", "created_at"}
    assert (row["path"], row["step"], row["size"]) == ("out/report.md", "write", 9)
    assert row["sha256"] == hashlib.sha256(b"# Report\n").hexdigest()
    assert row["url"] == f"http://testserver/api/v1/runs/{written.pk}/artifacts/out/report.md"


def test_artifact_download_etag_and_304(written, author, client_for):
    client = client_for(author)
    url = f"/api/v1/runs/{written.pk}/artifacts/out/report.md"
    response = client.get(url, HTTP_ACCEPT="text/markdown")
    assert response.status_code == 200
    assert b"".join(response.streaming_content) == REPORT
    etag = response["ETag"]
    assert etag == '"' + hashlib.sha256(REPORT).hexdigest() + '"'
    assert response["Content-Disposition"].startswith("attachment")
    assert 'filename="report.md"' in response["Content-Disposition"]
    again = client.get(url, HTTP_IF_NONE_MATCH=etag)
    assert again.status_code == 304
    assert again["ETag"] == etag
    assert client.get(url, HTTP_IF_NONE_MATCH='"other"').status_code == 200


def test_artifact_404s(written, author, make_user, other_org, client_for):
    client = client_for(author)
    assert client.get(f"/api/v1/runs/{written.pk}/artifacts/out/missing.md").status_code == 404
    outsider = client_for(make_user(Role.ADMIN, organization=other_org))
    url = f"/api/v1/runs/{written.pk}/artifacts/out/report.md"
    response = outsider.get(url)
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


@pytest.mark.parametrize(
    "path", ["../secret.txt", "out/../../x", "out/%2e%2e/x", "./out/report.md"]
)
def test_artifact_path_traversal_is_refused(written, author, client_for, path):
    (run_workspace(written.pk).parent / "secret.txt").write_text("no")
    response = client_for(author).get(f"/api/v1/runs/{written.pk}/artifacts/{path}")
    assert response.status_code == 400
    assert response.json()["error"]["details"][0]["path"] == "/path"


def test_artifact_row_pointing_outside_the_workspace_is_404(written, author, client_for):
    from playbooks.models import Artifact

    Artifact.objects.filter(run=written).update(path="out/link.md")
    (run_workspace(written.pk) / "out" / "link.md").symlink_to("/etc/hostname")
    response = client_for(author).get(f"/api/v1/runs/{written.pk}/artifacts/out/link.md")
    assert response.status_code == 404
