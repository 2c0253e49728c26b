"""An agent outside the worker calls draft_playbook with its run's scope token: the tool
asks the run's model (scripted here, tagged with the API step) and the model calls land in
the run's usage and events."""

import json

from tests.tools.ai_services.conftest import VALID_DRAFT
from tools.scope import scope_token_issue

DRAFT = "tools.studio.ai.draft_playbook"


def test_draft_by_scope_token_uses_the_runs_model_and_counts_its_usage(running_run, client):
    spec = {
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
        "steps": [{"id": "wait", "approval": {"title": "hold", "payload": "x"}}],
    }
    run = running_run(spec)
    token, _ = scope_token_issue(run)
    answer = client.post(
        "/api/v1/tools/call/",
        json.dumps({"name": DRAFT, "arguments": {"description": "Profile a CSV weekly."}}),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {token}",
    )
    body = answer.json()
    assert answer.status_code == 200 and body["isError"] is False, body
    assert body["structuredContent"]["spec"]["name"] == "Late supplier orders"
    assert body["_meta"]["usage"]["input_tokens"] == 50
    run.refresh_from_db()
    assert (run.model_calls, run.usage_input_tokens, run.usage_tool_calls) == (1, 50, 1)
    events = list(run.events.order_by("seq").values_list("type", "data"))
    called = [data for kind, data in events if kind == "llm.called"]
    assert [(c["tool"], c["scripted"], c["input_tokens"]) for c in called] == [(DRAFT, True, 50)]
