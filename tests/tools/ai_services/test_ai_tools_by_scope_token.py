"""An agent outside the worker calls draft_playbook with its run's scope token: the tool
asks the run's model (scripted here, tagged with the API step) and the model calls land in
the run's usage and events."""

import json

from agentstudio.billing.models import Budget, UsageRecord
from tests.tools.ai_services.conftest import VALID_DRAFT
from tools.scope import scope_token_issue

DRAFT = "tools.studio.ai.draft_playbook"


def _spec(**budget):
    return {
        "name": "Builder",
        "tools": [DRAFT],
        "model": {
            "provider": "scripted",
            "name": "gpt-4o-mini",
            "responses": [
                {
                    "step": "api",
                    "content": VALID_DRAFT,
                    "usage": {"input_tokens": 50, "output_tokens": 9},
                },
            ],
        },
        "budget": budget,
        "steps": [{"id": "wait", "approval": {"title": "hold", "payload": "x"}}],
    }


def _draft(client, token):
    answer = client.post(
        "/api/v1/tools/call/",
        json.dumps({"name": DRAFT, "arguments": {"description": "Profile a CSV weekly."}}),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {token}",
    )
    assert answer.status_code == 200, answer.content
    return answer.json()


def test_draft_by_scope_token_uses_the_runs_model_and_counts_its_usage(running_run, client):
    run = running_run(_spec())
    token, _ = scope_token_issue(run)
    body = _draft(client, token)
    assert body["isError"] is False, body
    assert body["structuredContent"]["spec"]["name"] == "Late supplier orders"
    assert body["_meta"]["usage"]["input_tokens"] == 50
    run.refresh_from_db()
    assert (run.model_calls, run.usage_input_tokens, run.usage_tool_calls) == (1, 50, 1)
    events = list(run.events.order_by("seq").values_list("type", "data"))
    called = [data for kind, data in events if kind == "llm.called"]
    assert [(c["tool"], c["scripted"], c["input_tokens"]) for c in called] == [(DRAFT, True, 50)]
    # the model call is in the run's budget and has its usage record, named by the API step
    [record] = UsageRecord.objects.filter(run_id=run.pk, kind="model")
    assert (record.step_id, record.input_tokens, record.output_tokens) == ("api", 50, 9)
    budget = Budget.objects.get(pk=run.pk)
    assert budget.spent_usd == record.usd and budget.reserved_usd == 0


def test_a_draft_whose_model_call_does_not_fit_the_runs_budget_is_refused(running_run, client):
    run = running_run(_spec(max_usd=0.000001))  # the tool call fits; its model call does not
    token, _ = scope_token_issue(run)
    body = _draft(client, token)
    assert body["isError"] is True
    assert body["structuredContent"]["error"] == "budget_exceeded"
    assert body["structuredContent"]["limit"] == "max_usd"
    assert not UsageRecord.objects.filter(run_id=run.pk, kind="model").exists()
    assert Budget.objects.get(pk=run.pk).reserved_usd == 0
