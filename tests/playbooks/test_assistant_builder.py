"""The assistant-builder blueprint runs through the engine: offline (no provider: the
blueprint's scripted replies) on a description that is not its sample, and against a real
local model server; its draft passes the validator and its model calls are the run's."""

import json
from pathlib import Path

import yaml
from django.conf import settings

from approvals.models import Approval
from approvals.services import approval_approve
from playbooks.blueprint_loader import blueprint_file_load
from playbooks.engine.runner import Advance, run_advance
from playbooks.engine.workspace import run_workspace
from playbooks.models import Run, RunEvent
from playbooks.runs.starting import run_start
from playbooks.spec.checked import spec_check
from tests.support.model_servers import Reply, provider_configure

BLUEPRINT = Path(settings.BASE_DIR) / "playbooks" / "blueprints" / "assistant-builder.yaml"
DESCRIPTION = (
    "When a new invoice CSV lands, check every line against the purchase orders and ask the "
    "finance lead to approve the list of mismatches before it is saved."
)
DRAFTED = """name: Invoice mismatch check
description: Profiles the invoice CSV and asks finance to approve before saving.
inputs:
  type: object
  required: [invoices]
  properties:
    invoices: {type: string, minLength: 1, maxLength: 500}
tools: [tools.studio.data.profile]
max_risk: compute
steps:
  - id: profile
    tool: tools.studio.data.profile
    args: {dataset: "{{ inputs.invoices }}"}
  - id: approve
    approval: {title: Approve the mismatches, payload: "{{ steps.profile.output }}"}
"""


def _spec():
    spec = blueprint_file_load(BLUEPRINT).spec
    sample = spec["inputs"]["properties"]["description"]["examples"][0]
    assert sample != DESCRIPTION
    return spec


def _run_to_review(active_playbook, author):
    run = run_start(
        playbook=active_playbook(_spec()), actor=author, inputs={"description": DESCRIPTION}
    )
    assert run_advance(run_id=run.pk) == Advance.PAUSED
    run = Run.objects.get(pk=run.pk)
    assert run.status == "waiting_for_approval", run.error
    return run


def _approve_and_finish(run, approver):
    gate = Approval.objects.get(run=run, kind="gate")
    approval_approve(approval=gate, actor=approver, body_hash=gate.body_hash)
    assert run_advance(run_id=run.pk) == Advance.FINISHED
    return Run.objects.get(pk=run.pk)


def test_it_runs_to_success_offline_and_its_draft_passes_the_validator(
    active_playbook, author, approver
):
    run = _run_to_review(active_playbook, author)
    run = _approve_and_finish(run, approver)
    assert run.status == "succeeded", run.error
    assert run.outputs["name"] == "Drafted assistant"
    saved = (run_workspace(run.pk) / "playbook.yaml").read_text()
    checked = spec_check(spec_yaml=saved, organization_id=run.organization_id)
    assert checked.valid, [p.as_dict() for p in checked.report.errors]
    refined = json.loads((run_workspace(run.pk) / "refined-prompt.json").read_text())
    assert [m["role"] for m in refined["messages"]] == ["system", "user"]
    assert refined["summary"].startswith("Stated the goal")
    calls = [e.data for e in RunEvent.objects.filter(run=run, type="llm.called").order_by("seq")]
    assert [(c["tool"], c["scripted"]) for c in calls] == [
        ("tools.studio.ai.draft_playbook", True),
        ("tools.studio.ai.refine_prompt", True),
    ]
    assert run.model_calls == 2
    assert run.usage_input_tokens == sum(c["input_tokens"] for c in calls) > 0
    assert run.usage_output_tokens == sum(c["output_tokens"] for c in calls) > 0


def test_it_uses_the_configured_model_and_repairs_an_invalid_draft(
    active_playbook, author, approver, org, openai_server
):
    provider_configure(org, openai_server, default=True)
    refined = {
        "messages": [
            {"role": "system", "content": "Check invoices against purchase orders."},
            {"role": "user", "content": DESCRIPTION},
        ],
        "summary": "Made the goal concrete.",
    }
    openai_server.enqueue(
        Reply(content=DRAFTED.replace("max_risk: compute", "max_risk: 7")),
        Reply(content=DRAFTED, input_tokens=300, output_tokens=200),
        Reply(content=json.dumps(refined)),
    )
    run = _run_to_review(active_playbook, author)
    first, repair, refine = (request.body for request in openai_server.requests)
    assert DESCRIPTION in first["messages"][1]["content"]
    assert "/max_risk" in repair["messages"][-1]["content"]
    assert refine["messages"][0]["content"].startswith("You refine prompt templates")
    run = _approve_and_finish(run, approver)
    assert run.status == "succeeded", run.error
    assert run.outputs["name"] == "Invoice mismatch check"
    assert run.outputs["refined_prompt"] == refined
    saved = yaml.safe_load((run_workspace(run.pk) / "playbook.yaml").read_text())
    assert saved == yaml.safe_load(DRAFTED)
    calls = [e.data for e in RunEvent.objects.filter(run=run, type="llm.called")]
    assert len(calls) == 3 and not any(c["scripted"] for c in calls)
    assert run.model_calls == 3
