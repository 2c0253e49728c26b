"""S1 core on a real worker: the data-cleanup blueprint runs to its review gate, the approver
drops one of the proposed rules, and the run applies the edited rules, not the proposed ones.

(The full S1 through REST, SSE and the admin comes with the API; here the playbook is forked
and activated through services and the approval is decided through its service.)
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import shutil
import uuid

import pytest
from django.conf import settings

from approvals.hashing import approval_body_hash
from approvals.models import Approval
from approvals.services import approval_approve
from playbooks.blueprint_loader import blueprints_seed
from playbooks.engine.workspace import run_workspace
from playbooks.models import Artifact, Blueprint, RunEvent
from playbooks.runs.starting import run_start
from playbooks.services import playbook_activate_as_system, playbook_fork
from tests.support.runs import assert_event_stream_intact, run_wait_for_status, step_rows

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

SAMPLE = settings.AGENTSTUDIO_BLUEPRINT_DIR / "samples" / "customers.csv"
DATASET = "inputs/dataset/customers.csv"
STEPS = ["profile", "propose_rules", "review_rules", "apply", "report", "lineage"]


def test_data_cleanup_applies_the_rules_as_edited_by_the_approver(
    e2e_stack, org, author, runner, approver
):
    e2e_stack.start_worker()
    blueprints_seed()
    draft = playbook_fork(
        blueprint=Blueprint.objects.get(slug="data-cleanup"), organization=org, actor=author
    )
    playbook = playbook_activate_as_system(playbook=draft)
    playbook.allowed_users.add(runner)  # runners start only the playbooks that list them
    run_id = uuid.uuid4()
    uploaded = run_workspace(run_id) / DATASET  # where the API puts an uploaded file input
    uploaded.parent.mkdir(parents=True)
    shutil.copyfile(SAMPLE, uploaded)

    run = run_start(playbook=playbook, actor=runner, inputs={"dataset": DATASET}, run_id=run_id)
    waiting = run_wait_for_status(run, "waiting_for_approval", timeout=40)

    assert waiting.paused_reason == "gate"
    gate = Approval.objects.get(run=run, status="pending")
    assert (gate.kind, gate.step) == ("gate", "review_rules")
    proposed = gate.payload["rules"]
    assert [rule["id"] for rule in proposed] == ["email_normalized", "name_postcode"]
    edited = {"rules": [proposed[0]]}  # the approver drops the second rule
    approval_approve(approval=gate, actor=approver, body_hash=gate.body_hash, payload=edited)
    done = run_wait_for_status(run, "succeeded", timeout=40)

    # Rule 1 alone merges three pairs (same email after strip + lowercase): 12 → 9 rows.
    # With the proposed rules, name + postcode would also merge the O'Neill pair: 8 rows.
    assert done.outputs["applied_rules"] == edited["rules"]
    assert (done.outputs["rows_in"], done.outputs["rows_out"]) == (12, 9)
    assert step_rows(run) == [(index, step, 1, "succeeded") for index, step in enumerate(STEPS)]
    workspace = run_workspace(run_id)
    artifacts = {a.path: a for a in Artifact.objects.filter(run=run)}
    assert {path: a.step_id for path, a in artifacts.items()} == {
        "cleaned.csv": "apply",
        "report.md": "report",
        "lineage.json": "lineage",
    }
    for path, artifact in artifacts.items():
        content = (workspace / path).read_bytes()
        assert (artifact.size, artifact.sha256) == (
            len(content),
            hashlib.sha256(content).hexdigest(),
        ), path

    cleaned = list(csv.DictReader(io.StringIO((workspace / "cleaned.csv").read_text())))
    assert [row["customer_id"] for row in cleaned] == [
        "C001", "C003", "C004", "C005", "C006", "C008", "C009", "C011", "C012",
    ]  # fmt: skip

    report = (workspace / "report.md").read_text()
    assert "`email_normalized`" in report
    assert "name_postcode" not in report
    assert "- Rows in: 12" in report
    assert "- Rows out: 9" in report

    lineage = json.loads((workspace / "lineage.json").read_text())
    assert lineage["run"] == str(run.pk)
    assert lineage["artifacts"]["cleaned.csv"] == {"produced_by": "apply", "from_inputs": [DATASET]}
    assert lineage["artifacts"]["report.md"]["produced_by"] == "report"
    assert lineage["artifacts"]["lineage.json"]["produced_by"] == "lineage"
    # The gate records what the approver approved (their edit), who, and its hash.
    gate.refresh_from_db()
    gate_entry = next(step for step in lineage["steps"] if step["step"] == "review_rules")
    assert gate_entry["inputs"]["payload"] == edited
    assert gate_entry["decision"] == {
        "approval": str(gate.pk),
        "status": "approved",
        "by": approver.username,
        "at": gate.decided_at.isoformat(),
        "body_hash": approval_body_hash(edited),
    }
    assert "name_postcode" not in json.dumps(gate_entry)
    apply_entry = next(step for step in lineage["steps"] if step["step"] == "apply")
    assert apply_entry["inputs"]["rules"] == edited["rules"]
    assert apply_entry["artifacts"] == ["cleaned.csv"]

    types = assert_event_stream_intact(run)
    assert types.count("approval.requested") == types.count("approval.decided") == 1
    assert types[-1] == "run.succeeded"


OTHER_CSV = (
    "account_ref,contact_name,email,zip_code\n"
    "A1,Dana Scott,dana@x.io,Z1\n"
    "A2,dana scott, DANA@X.IO ,Z1\n"
    "A3,Eli Park,eli@x.io,Z2\n"
    "A4,Eli Park,,Z2\n"
    "A5,Fay Wu,fay@x.io,Z3\n"
    "A6,Fay W.,FAY@x.io,Z3\n"
)


def test_data_cleanup_on_a_csv_without_name_or_postcode_on_a_worker(
    e2e_stack, org, author, runner, approver
):
    """Not the sample: other column names, no `name` and no `postcode`. The e-mail rule
    merges A2 into A1 and A6 into A5; the name + postcode rule is skipped and reported."""
    e2e_stack.start_worker()
    blueprints_seed()
    draft = playbook_fork(
        blueprint=Blueprint.objects.get(slug="data-cleanup"), organization=org, actor=author
    )
    playbook = playbook_activate_as_system(playbook=draft)
    playbook.allowed_users.add(runner)
    run_id = uuid.uuid4()
    dataset = "inputs/dataset/contacts.csv"
    uploaded = run_workspace(run_id) / dataset
    uploaded.parent.mkdir(parents=True)
    uploaded.write_text(OTHER_CSV)

    run = run_start(playbook=playbook, actor=runner, inputs={"dataset": dataset}, run_id=run_id)
    run_wait_for_status(run, "waiting_for_approval", timeout=40)
    gate = Approval.objects.get(run=run, status="pending")
    approval_approve(approval=gate, actor=approver, body_hash=gate.body_hash)
    done = run_wait_for_status(run, "succeeded", timeout=40)

    assert (done.outputs["rows_in"], done.outputs["rows_out"]) == (6, 4)
    assert done.outputs["missing_columns"] == ["name", "postcode"]
    assert done.outputs["_scripted_steps"] == ["propose_rules"]
    workspace = run_workspace(run_id)
    cleaned = list(csv.DictReader(io.StringIO((workspace / "cleaned.csv").read_text())))
    assert [row["account_ref"] for row in cleaned] == ["A1", "A3", "A4", "A5"]
    report = (workspace / "report.md").read_text()
    skipped = "- `name_postcode` needs name + postcode, but the file has no column name, postcode."
    assert skipped in report
    assert "- Rows in: 6\n- Rows out: 4\n- Duplicate records merged away: 2" in report
    llm = RunEvent.objects.get(run=run, type="llm.called")
    assert (llm.data["step"], llm.data["scripted"], llm.data["provider"]) == (
        "propose_rules",
        True,
        "scripted",
    )
