"""The blueprint catalogue: every shipped file is valid, seeding is idempotent, forks work."""

from io import StringIO
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import call_command

from playbooks.blueprint_loader import (
    CARD_FIELDS,
    blueprint_file_load,
    blueprint_files,
    blueprints_seed,
)
from playbooks.models import Blueprint
from playbooks.spec.validator import spec_validate

REQUIRED = {
    "data-cleanup",
    "product-cost-allocation",
    "blog-post-writer",
    "hr-assistant",
    "assistant-builder",
}
SHIPPED = blueprint_files(Path(settings.AGENTSTUDIO_BLUEPRINT_DIR))


def test_the_required_blueprints_ship():
    assert {path.stem for path in SHIPPED} >= REQUIRED


@pytest.mark.parametrize("path", SHIPPED, ids=lambda path: path.stem)
def test_every_shipped_blueprint_is_valid_with_a_full_card(path):
    item = blueprint_file_load(path)
    report = spec_validate(item.spec)
    assert report.errors == []
    assert all(item.card[key] for key in CARD_FIELDS)


def test_seed_is_idempotent(db):
    first = blueprints_seed()
    assert sorted(first.created) == sorted(path.stem for path in SHIPPED)
    second = blueprints_seed()
    assert second.created == [] and second.updated == []
    assert sorted(second.unchanged) == sorted(first.created)
    assert Blueprint.objects.count() == len(SHIPPED)


def test_seed_command_prints_a_summary(db):
    out = StringIO()
    call_command("seed_blueprints", stdout=out)
    call_command("seed_blueprints", stdout=out)
    assert out.getvalue().strip().splitlines()[-1] == (
        f"{len(SHIPPED)} blueprints: 0 created, 0 updated, {len(SHIPPED)} unchanged"
    )


def test_seed_updates_a_changed_file(db, tmp_path):
    source = SHIPPED[0]
    copy = tmp_path / source.name
    copy.write_text(source.read_text())
    blueprints_seed(tmp_path)
    copy.write_text(source.read_text().replace("problem:", "problem: Changed.", 1))
    assert blueprints_seed(tmp_path).updated == [source.stem]


def test_list_detail_and_card(author, client_for):
    blueprints_seed()
    client = client_for(author)
    listing = client.get("/api/v1/blueprints/").json()
    assert listing["count"] == len(SHIPPED)
    detail = client.get("/api/v1/blueprints/data-cleanup/").json()
    for key in ("category", "problem", "what_it_does", "expected_impact", "systems", "spec"):
        assert detail[key]
    assert client.get("/api/v1/blueprints/nope/").status_code == 404


def test_fork_makes_a_draft_owned_by_the_caller(author, client_for):
    blueprints_seed()
    client = client_for(author)
    response = client.post("/api/v1/blueprints/data-cleanup/fork/", {}, format="json")
    assert response.status_code == 201
    body = response.json()
    assert body["status"] == "draft"
    assert body["created_by"] == author.username
    assert body["slug"] == "data-cleanup"
    assert body["blueprint"] == "data-cleanup"
    assert body["spec"] == Blueprint.objects.get(slug="data-cleanup").spec
    named = client.post(
        "/api/v1/blueprints/data-cleanup/fork/", {"name": "My cleanup"}, format="json"
    ).json()
    assert named["name"] == "My cleanup" and named["slug"] == "my-cleanup"
    third = client.post("/api/v1/blueprints/data-cleanup/fork/", {}, format="json").json()
    assert third["slug"] == "data-cleanup-2"


def test_runner_cannot_fork(runner, client_for):
    blueprints_seed()
    assert client_for(runner).post("/api/v1/blueprints/data-cleanup/fork/").status_code == 403


def test_forked_data_cleanup_needs_approval_to_promote(author, client_for):
    blueprints_seed()
    client = client_for(author)
    playbook = client.post("/api/v1/blueprints/data-cleanup/fork/", {}, format="json").json()
    validation = client.post(
        f"/api/v1/playbooks/{playbook['id']}/validate/", {"dry_run": True}, format="json"
    ).json()
    assert validation["valid"] is True
    assert validation["policy"]["requires_approval"] is True
    kinds = [step["kind"] for step in validation["dry_run"]["steps"]]
    assert "approval" in kinds
    assert client.post(f"/api/v1/playbooks/{playbook['id']}/promote/").status_code == 202
