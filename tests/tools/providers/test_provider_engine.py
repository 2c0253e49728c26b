"""llm and agent steps driven through run_advance on a playbook whose `model: {provider:
default}` resolves to the organization's configured provider, which is a local server."""

import json
import logging
from decimal import Decimal

import pytest

from agentstudio.billing.models import ModelPrice
from agentstudio.billing.prices import price_cache
from playbooks.engine.runner import Advance, run_advance
from playbooks.models import Run, RunEvent, RunStep
from playbooks.runs.starting import run_start
from tests.support.model_servers import (
    OPENAI,
    TEST_API_KEY,
    Reply,
    Slow,
    ToolCall,
    provider_configure,
)
from tools.models import ToolInvocation

SCHEMA = {
    "type": "object",
    "properties": {"points": {"type": "array", "items": {"type": "string"}}},
    "required": ["points"],
}


@pytest.fixture(autouse=True)
def _fresh_prices():
    price_cache.clear()
    yield
    price_cache.clear()


def _llm_spec(model=None, **step):
    return {
        "name": "Summarise",
        "model": {"provider": "default", **(model or {})},
        "steps": [{"id": "sum", "llm": {"prompt": "Summarise: tea", **step}}],
    }


def _agent_spec():
    return {
        "name": "Counts",
        "tools": ["tools.test.count"],
        "model": {"provider": "default", "name": "m-agent"},
        "steps": [
            {
                "id": "work",
                "agent": {
                    "instruction": "Count to one.",
                    "allowed_tools": ["tools.test.count"],
                    "max_turns": 3,
                },
            }
        ],
    }


def _run(active_playbook, author, spec):
    run = run_start(playbook=active_playbook(spec), actor=author, inputs={})
    result = run_advance(run_id=run.pk)
    while result == Advance.REQUEUED:
        result = run_advance(run_id=run.pk)
    return Run.objects.get(pk=run.pk)


def _called(run):
    return [e.data for e in RunEvent.objects.filter(run=run, type="llm.called").order_by("seq")]


def test_an_llm_step_uses_the_default_provider(active_playbook, author, org, server):
    provider_configure(org, server, default_model="house-model")
    ModelPrice.objects.create(
        provider=server.kind,
        model="house-model",
        input_usd_per_mtok=Decimal("2"),
        output_usd_per_mtok=Decimal("8"),
        cached_input_usd_per_mtok=Decimal("1"),
    )
    server.enqueue(
        Reply(content="Tea is good.", input_tokens=1000, output_tokens=100, cached_tokens=400)
    )
    run = _run(active_playbook, author, _llm_spec())
    assert run.status == "succeeded", run.error
    assert run.outputs["sum"] == "Tea is good."
    # 600 input at 2, 400 cached at 1, 100 output at 8 (USD per million tokens)
    usd = Decimal("0.0024")
    assert run.usage_usd == usd
    assert (run.usage_input_tokens, run.usage_output_tokens) == (1000, 100)
    (event,) = _called(run)
    assert event == {
        "model": "house-model",
        "provider": "local",
        "scripted": False,
        "input_tokens": 1000,
        "output_tokens": 100,
        "cached_input_tokens": 400,
        "usage_estimated": False,
        "streamed": False,
        "wall_seconds": event["wall_seconds"],
        "finish_reason": "stop" if server.kind == OPENAI else "end_turn",
        "usd": event["usd"],
        "price_fallback": False,
        "tool_calls": [],
        "step": "sum",
    }
    assert Decimal(event["usd"]) == usd
    assert event["wall_seconds"] > 0
    body = server.requests[0].body
    assert body["model"] == "house-model"
    assert "Summarise: tea" in json.dumps(body["messages"])


def test_a_streamed_call_without_usage_is_flagged_in_its_event(
    active_playbook, author, org, server
):
    provider_configure(org, server)
    server.enqueue(Reply(content="y" * 80, include_usage=False))
    run = _run(active_playbook, author, _llm_spec({"stream": True, "max_tokens": 50}))
    assert run.status == "succeeded", run.error
    (event,) = _called(run)
    assert (event["streamed"], event["usage_estimated"], event["output_tokens"]) == (
        True,
        True,
        20,
    )
    assert event["price_fallback"] is True  # no price row for local-model
    assert server.requests[0].body["max_tokens"] == 50


def test_structured_output_is_requested_and_checked(active_playbook, author, org, server):
    provider_configure(org, server)
    server.enqueue(Reply(content='{"points": ["a", "b"]}'))
    run = _run(active_playbook, author, _llm_spec(output_schema=SCHEMA))
    assert run.status == "succeeded", run.error
    assert run.outputs["sum"] == {"points": ["a", "b"]}
    body = server.requests[0].body
    sent = (
        body["response_format"]["json_schema"]
        if server.kind == OPENAI
        else body["output_config"]["format"]
    )
    assert sent["schema"] == SCHEMA


def test_a_reply_that_is_not_json_fails_the_step_with_the_schema_message(
    active_playbook, author, org, server
):
    provider_configure(org, server)
    server.enqueue(Reply(content="Sure! Here are the points: a, b"))
    run = _run(active_playbook, author, _llm_spec(output_schema=SCHEMA))
    assert run.status == "failed"
    step = RunStep.objects.get(run=run, step_id="sum")
    assert step.error == "model output is not JSON, but the step has an output_schema"


def test_a_slow_answer_fails_the_attempt_and_the_retry_policy_retries(
    active_playbook, author, org, server
):
    provider_configure(org, server, timeout_seconds=0.5, max_retries=0)
    server.enqueue(Slow(2.0, Reply(content="late")), Reply(content="in time"))
    spec = _llm_spec()
    spec["steps"][0]["retry"] = {"attempts": 2, "backoff_seconds": 0}
    run = _run(active_playbook, author, spec)
    assert run.status == "succeeded", run.error
    assert run.outputs["sum"] == "in time"
    rows = list(
        RunStep.objects.filter(run=run)
        .order_by("attempt")
        .values_list("attempt", "status", "error")
    )
    assert rows == [
        (
            1,
            "failed",
            f"Model provider 'local' ({server.kind}, {server.base_url}) did not answer within "
            "0.5 s (after 0 retries).",
        ),
        (2, "succeeded", ""),
    ]


def test_a_slow_answer_without_retries_fails_the_run(active_playbook, author, org, server):
    provider_configure(org, server, timeout_seconds=0.5, max_retries=0)
    server.enqueue(Slow(2.0, Reply(content="late")))
    run = _run(active_playbook, author, _llm_spec())
    assert run.status == "failed"
    assert "did not answer within 0.5 s" in RunStep.objects.get(run=run).error


def test_an_agent_step_makes_a_tool_call_round_trip(active_playbook, author, org, server):
    provider_configure(org, server)
    server.enqueue(
        Reply(tool_calls=[ToolCall("tools__test__count", {"value": 1}, id="c1")]),
        Reply(content="Counted to one."),
    )
    spec = _agent_spec()
    spec["model"]["stream"] = True
    run = _run(active_playbook, author, spec)
    assert run.status == "succeeded", run.error
    assert run.outputs["work"] == "Counted to one."
    (invocation,) = ToolInvocation.objects.filter(run=run)
    assert (invocation.tool, invocation.arguments, invocation.status) == (
        "tools.test.count",
        {"value": 1},
        "succeeded",
    )
    first, second = _called(run)
    assert (first["tool_calls"], first["streamed"]) == (["tools.test.count"], True)
    assert (second["tool_calls"], second["streamed"], second["usage_estimated"]) == (
        [],
        True,
        False,
    )
    assert first["model"] == second["model"] == "m-agent"
    # the second request carries the call and its result back to the model
    sent = server.requests[1].body
    tools = sent["tools"]
    if server.kind == OPENAI:
        assert tools[0]["function"]["name"] == "tools__test__count"
        assert sent["messages"][-2]["tool_calls"][0]["function"]["name"] == "tools__test__count"
        assert sent["messages"][-1]["role"] == "tool"
        assert sent["messages"][-1]["tool_call_id"] == "c1"
        assert json.loads(sent["messages"][-1]["content"]) == {"value": 1, "calls": 1}
    else:
        assert tools[0]["name"] == "tools__test__count"
        assert sent["messages"][-2]["content"][0]["type"] == "tool_use"
        (result,) = sent["messages"][-1]["content"]
        assert (result["type"], result["tool_use_id"]) == ("tool_result", "c1")
        assert json.loads(result["content"]) == {"value": 1, "calls": 1}


def test_the_api_key_is_sent_but_never_recorded(active_playbook, author, org, server, caplog):
    provider_configure(org, server)
    server.enqueue(Reply(content="ok"))
    with caplog.at_level(logging.DEBUG):
        run = _run(active_playbook, author, _llm_spec())
    assert run.status == "succeeded", run.error
    assert server.requests[0].headers["authorization"] == f"Bearer {TEST_API_KEY}"
    recorded = json.dumps(list(RunEvent.objects.filter(run=run).values_list("data", flat=True)))
    recorded += json.dumps(list(RunStep.objects.filter(run=run).values_list("input", "output")))
    assert TEST_API_KEY not in recorded
    assert TEST_API_KEY not in caplog.text


def test_no_configured_provider_means_scripted_as_before(active_playbook, author, org):
    spec = _llm_spec({"name": "gpt-4o-mini", "responses": ["scripted answer"]})
    run = _run(active_playbook, author, spec)
    assert run.status == "succeeded", run.error
    assert run.outputs["sum"] == "scripted answer"
    (event,) = _called(run)
    assert (event["provider"], event["scripted"], event["streamed"]) == ("scripted", True, False)


def test_provider_scripted_ignores_the_configured_default(active_playbook, author, org, server):
    provider_configure(org, server)
    spec = _llm_spec({"provider": "scripted", "name": "gpt-4o-mini", "responses": ["canned"]})
    run = _run(active_playbook, author, spec)
    assert run.outputs["sum"] == "canned"
    assert _called(run)[0]["scripted"] is True
    assert server.requests == []


def test_a_provider_named_but_not_configured_fails_the_step(active_playbook, author, org):
    run = _run(active_playbook, author, _llm_spec({"provider": "nowhere"}))
    assert run.status == "failed"
    assert RunStep.objects.get(run=run).error.startswith(
        "Model provider 'nowhere' is not configured for this organization"
    )


def test_the_setting_names_a_default_when_no_config_is_marked(
    active_playbook, author, org, server, settings
):
    provider_configure(org, server, name="house", default=False)
    settings.AGENTSTUDIO_DEFAULT_MODEL_PROVIDER = "house"
    server.enqueue(Reply(content="from house"))
    run = _run(active_playbook, author, _llm_spec())
    assert run.outputs["sum"] == "from house"
    assert _called(run)[0]["provider"] == "house"
