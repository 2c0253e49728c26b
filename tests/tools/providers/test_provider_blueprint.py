"""The data-cleanup blueprint with a model configured: its llm step proposes rules through
the organization's default provider (the local OpenAI server), and the run uses that reply,
not the blueprint's scripted one."""

import json
import shutil
import uuid

from django.conf import settings

from approvals.models import Approval
from playbooks.blueprint_loader import blueprints_seed
from playbooks.engine.runner import Advance, run_advance
from playbooks.engine.workspace import run_workspace
from playbooks.models import Blueprint, Run, RunEvent, RunStep
from playbooks.runs.starting import run_start
from playbooks.services import playbook_activate_as_system, playbook_fork
from tests.support.model_servers import Reply, provider_configure

SAMPLE = settings.AGENTSTUDIO_BLUEPRINT_DIR / "samples" / "customers.csv"
DATASET = "inputs/dataset/customers.csv"
RULES = {
    "rules": [
        {
            "id": "email_only",
            "fields": ["email"],
            "normalize": ["strip", "lowercase"],
            "keep": "last",
        }
    ]
}


def test_data_cleanup_proposes_rules_with_the_configured_model(org, author, openai_server):
    provider_configure(org, openai_server, name="house")
    openai_server.enqueue(Reply(content=json.dumps(RULES), input_tokens=900, output_tokens=60))
    blueprints_seed()
    draft = playbook_fork(
        blueprint=Blueprint.objects.get(slug="data-cleanup"), organization=org, actor=author
    )
    playbook = playbook_activate_as_system(playbook=draft)
    run_id = uuid.uuid4()
    uploaded = run_workspace(run_id) / DATASET
    uploaded.parent.mkdir(parents=True)
    shutil.copyfile(SAMPLE, uploaded)
    run = run_start(playbook=playbook, actor=author, inputs={"dataset": DATASET}, run_id=run_id)
    result = run_advance(run_id=run.pk)
    while result == Advance.REQUEUED:
        result = run_advance(run_id=run.pk)

    run = Run.objects.get(pk=run.pk)
    assert run.status == "waiting_for_approval", run.error
    assert RunStep.objects.get(run=run, step_id="propose_rules").output == RULES
    gate = Approval.objects.get(run=run, status="pending")
    assert gate.payload == RULES  # what the model proposed, not the blueprint's script
    (event,) = RunEvent.objects.filter(run=run, type="llm.called").values_list("data", flat=True)
    assert (event["provider"], event["scripted"], event["model"]) == ("house", False, "gpt-4o-mini")
    assert (event["input_tokens"], event["output_tokens"]) == (900, 60)
    (sent,) = openai_server.requests
    assert sent.body["model"] == "gpt-4o-mini"
    assert sent.body["temperature"] == 0
    assert sent.body["response_format"]["json_schema"]["schema"]["required"] == ["rules"]
    assert "customers.csv" in sent.body["messages"][-1]["content"]  # the profile went along
