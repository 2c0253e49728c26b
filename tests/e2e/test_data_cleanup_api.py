"""S1 through the REST API on a real worker: an author forks the data-cleanup blueprint and
asks to promote it, an approver activates it, a runner starts a run with a multipart upload
of the sample CSV, the approver finds the rules gate in the queue, is refused once with a
stale hash (409 `hash_mismatch`) and approves the proposed rules with the hash they saw;
the run succeeds and its report and lineage download with their listed size and SHA-256.
"""

from __future__ import annotations

import hashlib
import json

import pytest
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile

from playbooks.blueprint_loader import blueprints_seed
from playbooks.models import Run
from tests.support.runs import run_wait_for_status

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

API = "/api/v1"
SAMPLE = settings.AGENTSTUDIO_BLUEPRINT_DIR / "samples" / "customers.csv"
DATASET = "inputs/dataset/customers.csv"
PROPOSED_RULES = [
    {
        "id": "email_normalized",
        "fields": ["email"],
        "normalize": ["strip", "lowercase"],
        "keep": "first",
    },
    {
        "id": "name_postcode",
        "fields": ["name", "postcode"],
        "normalize": ["strip", "lowercase", "collapse_whitespace", "remove_punctuation"],
        "keep": "first",
    },
]


def _hash_of(payload: object) -> str:
    """API.md: SHA-256 hex of the canonical JSON (sorted keys, no spaces, UTF-8)."""
    canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def _ok(response, status: int = 200) -> dict:
    assert response.status_code == status, (response.status_code, response.content[:2000])
    return response.json()


def _download(client, url: str):
    response = client.get(url)
    assert response.status_code == 200, (url, response.status_code)
    return response, b"".join(response.streaming_content)


def test_data_cleanup_runs_end_to_end_through_the_api(
    e2e_stack, client_for, org, author, runner, approver
):
    e2e_stack.start_worker()
    blueprints_seed()  # `manage.py seed_blueprints`: the catalogue is not an API resource
    as_author, as_runner, as_approver = client_for(author), client_for(runner), client_for(approver)

    # The author forks the blueprint, lists the runner, and asks for promotion (write-class
    # tools and a gate: promotion needs an approver); the approver activates it.
    draft = _ok(as_author.post(f"{API}/blueprints/data-cleanup/fork/", {}, format="json"), 201)
    assert (draft["status"], draft["blueprint"]) == ("draft", "data-cleanup")
    playbook_url = f"{API}/playbooks/{draft['id']}/"
    listed = _ok(as_author.patch(playbook_url, {"allowed_users": [runner.username]}, format="json"))
    assert listed["allowed_users"] == [runner.username]
    promotion = _ok(as_author.post(f"{playbook_url}promote/"), 202)["approval"]
    assert (promotion["kind"], promotion["status"]) == ("promotion", "pending")
    decided = _ok(
        as_approver.post(
            f"{API}/approvals/{promotion['id']}/approve/",
            {"body_hash": promotion["body_hash"]},
            format="json",
        )
    )
    assert (decided["status"], decided["decided_by"]) == ("approved", approver.username)
    active = _ok(as_runner.get(playbook_url))
    assert (active["status"], active["version"]) == ("active", 1)

    # The runner starts a run, uploading the CSV as the `dataset` part.
    upload = SimpleUploadedFile("customers.csv", SAMPLE.read_bytes(), "text/csv")
    created = _ok(
        as_runner.post(
            f"{playbook_url}runs/", {"inputs": "{}", "dataset": upload}, format="multipart"
        ),
        201,
    )
    assert (created["status"], created["inputs"]) == ("queued", {"dataset": DATASET})
    assert created["created_by"] == runner.username
    run_url = f"{API}/runs/{created['id']}/"
    run = Run.objects.get(pk=created["id"])

    run_wait_for_status(run, "waiting_for_approval", timeout=40)
    waiting = _ok(as_runner.get(run_url))
    assert (waiting["status"], waiting["current_step"]) == ("waiting_for_approval", "review_rules")
    assert [(a["kind"], a["title"]) for a in waiting["pending_approvals"]] == [
        ("gate", "Approve entity-resolution rules")
    ]

    # The approver finds the gate in the queue and reviews the proposed rules.
    queue = _ok(as_approver.get(f"{API}/approvals/", {"status": "pending"}))
    assert queue["count"] == 1, queue
    gate = queue["results"][0]
    assert gate["id"] == waiting["pending_approvals"][0]["id"]
    assert (gate["kind"], gate["status"], gate["run"], gate["step"]) == (
        "gate",
        "pending",
        created["id"],
        "review_rules",
    )
    assert gate["payload"] == {"rules": PROPOSED_RULES}
    assert gate["body_hash"] == _hash_of(gate["payload"])
    approve_url = f"{API}/approvals/{gate['id']}/approve/"

    # A hash the approver did not see is refused, and nothing moves.
    stale = "0" * 64
    refused = as_approver.post(approve_url, {"body_hash": stale}, format="json")
    assert refused.status_code == 409
    assert refused.json() == {
        "error": {
            "code": "hash_mismatch",
            "message": "The payload changed since you looked at it; review the current "
            "payload and approve its hash.",
            "details": [{"path": "/body_hash", "message": f"current hash is {gate['body_hash']}"}],
        }
    }
    still = _ok(as_approver.get(f"{API}/approvals/{gate['id']}/"))
    assert (still["status"], still["body_hash"], still["decided_by"]) == (
        "pending",
        gate["body_hash"],
        None,
    )
    assert _ok(as_runner.get(run_url))["status"] == "waiting_for_approval"

    # The hash they saw approves the proposed rules unchanged.
    approved = _ok(as_approver.post(approve_url, {"body_hash": gate["body_hash"]}, format="json"))
    assert (approved["status"], approved["decided_by"], approved["body_hash"]) == (
        "approved",
        approver.username,
        gate["body_hash"],
    )
    run_wait_for_status(run, "succeeded", timeout=40)
    done = _ok(as_runner.get(run_url))
    assert (done["status"], done["error"], done["pending_approvals"]) == ("succeeded", "", [])
    # Email after strip + lowercase merges three pairs, name + postcode the O'Neill pair.
    assert done["outputs"] == {
        "cleaned_csv": "cleaned.csv",
        "rows_in": 12,
        "rows_out": 8,
        "applied_rules": PROPOSED_RULES,
        "skipped_rules": [],
        "missing_columns": [],
        "report": "report.md",
        "lineage": "lineage.json",
        "_scripted_steps": ["propose_rules"],  # the rules came from the scripted model
    }

    # Artifacts: listed with size and SHA-256, downloaded with the SHA-256 as the ETag.
    listing = _ok(as_runner.get(f"{run_url}artifacts/"))
    assert (listing["count"], listing["next"]) == (4, None)
    rows = {row["path"]: row for row in listing["results"]}
    assert {path: row["step"] for path, row in rows.items()} == {
        DATASET: "inputs",
        "cleaned.csv": "apply",
        "lineage.json": "lineage",
        "report.md": "report",
    }
    assert rows[DATASET]["sha256"] == hashlib.sha256(SAMPLE.read_bytes()).hexdigest()
    files = {}
    for path in ("report.md", "lineage.json"):
        row = rows[path]
        assert row["url"] == f"http://testserver{run_url}artifacts/{path}"
        response, content = _download(as_runner, f"{run_url}artifacts/{path}")
        sha256 = hashlib.sha256(content).hexdigest()
        assert (len(content), sha256) == (row["size"], row["sha256"]), path
        assert response["ETag"] == f'"{sha256}"'
        files[path] = content.decode("utf-8")
    assert rows["report.md"]["content_type"] == "text/markdown"

    report = files["report.md"]
    assert f"- Run: {created['id']}" in report
    assert "1. `email_normalized`" in report and "2. `name_postcode`" in report
    assert "- Rows in: 12\n- Rows out: 8\n- Duplicate records merged away: 4" in report
    lineage = json.loads(files["lineage.json"])
    assert lineage["run"] == created["id"]
    assert lineage["artifacts"]["cleaned.csv"] == {"produced_by": "apply", "from_inputs": [DATASET]}
    assert lineage["artifacts"]["report.md"]["produced_by"] == "report"
    apply_entry = next(step for step in lineage["steps"] if step["step"] == "apply")
    assert apply_entry["inputs"]["rules"] == PROPOSED_RULES

    # The event log: seqs 1..n with no gap, from run.queued to run.succeeded.
    events = _ok(as_runner.get(f"{run_url}events/", {"after": 0, "page_size": 500}))
    assert events["next"] is None
    seqs = [event["seq"] for event in events["results"]]
    assert seqs == list(range(1, events["count"] + 1))
    tool_step = ["step.started", "tool.called", "step.succeeded"]
    writing_step = ["step.started", "tool.called", "artifact.written", "step.succeeded"]
    assert [event["type"] for event in events["results"]] == [
        "run.queued",
        "run.started",
        *tool_step,  # profile
        "step.started", "llm.called", "step.succeeded",  # propose_rules
        "step.started", "approval.requested", "run.paused",  # review_rules
        "approval.decided", "run.resumed", "step.succeeded",  # the one approval
        *writing_step,  # apply: cleaned.csv
        *writing_step,  # report: report.md
        *writing_step,  # lineage: lineage.json
        "run.succeeded",
    ]  # fmt: skip
    later = _ok(as_runner.get(f"{run_url}events/", {"after": seqs[-2], "page_size": 500}))
    assert [(e["seq"], e["type"]) for e in later["results"]] == [(seqs[-1], "run.succeeded")]
