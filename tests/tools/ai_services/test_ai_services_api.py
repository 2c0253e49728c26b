"""GET /ai/services/status/ and POST /ai/services/tools/call/ (API.md, AI services): on only
with a provider marked for them, authors and admins only, strict arguments, and the tools
answered by a real local model server (OpenAI and Anthropic dialects)."""

import json

import pytest
import yaml

from agentstudio.accounts.models import Role
from agentstudio.billing.models import UsageRecord
from tests.support.model_servers import Reply, provider_configure
from tests.tools.ai_services.conftest import VALID_DRAFT

STATUS = "/api/v1/ai/services/status/"
CALL = "/api/v1/ai/services/tools/call/"
REFINE = "tools.studio.ai.refine_prompt"
DRAFT = "tools.studio.ai.draft_playbook"
TEMPLATE = json.dumps([{"role": "user", "content": "Summarise {{ text }}"}])
LONG = "g" * 10_001
REFINED = {
    "messages": [
        {"role": "system", "content": "You summarise documents in three bullet points."},
        {"role": "user", "content": "Summarise {{ text }}"},
    ],
    "summary": "Added a system message that fixes the output format.",
}


@pytest.fixture
def ai_server(org, openai_server):
    provider_configure(org, openai_server, ai_services=True, default=False)
    return openai_server


def _refine_call(client, **arguments):
    return client.post(
        CALL,
        {"name": REFINE, "arguments": {"prompt_template_json": TEMPLATE, **arguments}},
        format="json",
    )


def test_status_is_disabled_without_a_provider_and_lists_both_tools(author, client_for):
    answer = client_for(author).get(STATUS)
    assert answer.status_code == 200
    body = answer.json()
    assert body["enabled"] is False
    assert [tool["name"] for tool in body["tools"]] == [REFINE, DRAFT]
    refine = body["tools"][0]
    assert set(refine) == {"name", "title", "description", "inputSchema", "outputSchema"}
    assert refine["inputSchema"]["additionalProperties"] is False
    assert refine["inputSchema"]["properties"]["prompt_template_json"]["maxLength"] == 100_000


def test_status_is_enabled_with_a_provider_for_ai_services(author, client_for, ai_server):
    assert client_for(author).get(STATUS).json()["enabled"] is True


def test_a_default_provider_alone_does_not_enable_them(author, client_for, org, openai_server):
    provider_configure(org, openai_server, ai_services=False, default=True)
    assert client_for(author).get(STATUS).json()["enabled"] is False


def test_call_is_503_when_disabled(author, client_for):
    answer = _refine_call(client_for(author))
    assert answer.status_code == 503
    assert answer.json()["error"]["code"] == "feature_disabled"


@pytest.mark.parametrize(
    ("role", "status"),
    [
        (Role.ADMIN, 200),
        (Role.AUTHOR, 200),
        (Role.APPROVER, 403),
        (Role.RUNNER, 403),
        (Role.VIEWER, 403),
    ],
)
def test_call_needs_the_permission_to_change_playbooks(
    role, status, make_user, client_for, ai_server
):
    ai_server.enqueue(Reply(content=json.dumps(REFINED)))
    answer = _refine_call(client_for(make_user(role)))
    assert answer.status_code == status, answer.content
    if status == 403:
        assert answer.json()["error"]["code"] == "permission_denied"
        assert ai_server.requests == []  # no model work for a refused caller


def test_status_needs_a_member(client):
    assert client.get(STATUS).status_code == 401


@pytest.mark.parametrize(
    ("body", "path", "message"),
    [
        ({"name": "tools.studio.ai.nope", "arguments": {}}, "/name", "one of"),
        ({"name": REFINE, "arguments": {}}, "/arguments/prompt_template_json", "is required"),
        (
            {"name": REFINE, "arguments": {"prompt_template_json": "[]", "temperature": 1}},
            "/arguments/temperature",
            "unknown argument",
        ),
        (
            {"name": REFINE, "arguments": {"prompt_template_json": "x" * 100_001}},
            "/arguments/prompt_template_json",
            "is too long",
        ),
        (
            {"name": REFINE, "arguments": {"prompt_template_json": ""}},
            "/arguments/prompt_template_json",
            "should be non-empty",
        ),
        (
            {
                "name": REFINE,
                "arguments": {"prompt_template_json": "[]", "guidelines": "g" * 10_001},
            },
            "/arguments/guidelines",
            "is too long",
        ),
        ({"name": DRAFT, "arguments": {"description": 5}}, "/arguments/description", "not of type"),
        ({"name": DRAFT, "arguments": []}, "/arguments", "Must be a JSON object."),
    ],
)
def test_bad_calls_are_400_with_json_pointer_paths(
    body, path, message, author, client_for, ai_server
):
    answer = client_for(author).post(CALL, body, format="json")
    assert answer.status_code == 400, answer.content
    error = answer.json()["error"]
    assert error["code"] == "validation_error"
    assert any(d["path"] == path and message in d["message"] for d in error["details"]), error
    assert ai_server.requests == []


def test_bad_arguments_are_400_even_when_disabled(author, client_for):
    answer = client_for(author).post(CALL, {"name": DRAFT, "arguments": {"x": 1}}, format="json")
    assert answer.status_code == 400


def test_refine_against_the_local_server(author, client_for, ai_server):
    ai_server.enqueue(Reply(content=json.dumps(REFINED), input_tokens=120, output_tokens=40))
    answer = _refine_call(client_for(author), guidelines="Three bullets.", context="Docs team")
    assert answer.status_code == 200, answer.content
    body = answer.json()
    assert body["isError"] is False
    assert body["structuredContent"] == REFINED
    assert body["content"] == [{"type": "text", "text": REFINED["summary"]}]
    assert body["_meta"]["trace_id"] == answer["X-Request-Id"]
    assert body["_meta"]["usage"]["input_tokens"] == 120
    assert body["_meta"]["usage"]["output_tokens"] == 40
    sent = ai_server.requests[0].body
    assert sent["model"] == "local-model"
    assert sent["messages"][0]["role"] == "system"
    assert "Three bullets." in sent["messages"][1]["content"]
    assert sent["response_format"]["type"] == "json_schema"
    record = UsageRecord.objects.get()
    assert (record.kind, record.tool, record.user_id) == ("model", REFINE, author.pk)
    assert (record.input_tokens, record.output_tokens, record.scripted) == (120, 40, False)


def test_a_trace_id_the_client_sent_comes_back(author, client_for, ai_server):
    ai_server.enqueue(Reply(content=json.dumps(REFINED)))
    client = client_for(author)
    answer = client.post(
        CALL,
        {"name": REFINE, "arguments": {"prompt_template_json": TEMPLATE}},
        format="json",
        HTTP_X_REQUEST_ID="trace-abc-123",
    )
    assert answer.json()["_meta"]["trace_id"] == "trace-abc-123"


def test_refine_with_invalid_output_twice_is_is_error(author, client_for, ai_server):
    ai_server.enqueue(Reply(content="I cannot do JSON."), Reply(content='{"messages": []}'))
    body = _refine_call(client_for(author)).json()
    assert body["isError"] is True
    assert "after one repair round" in body["content"][0]["text"]
    assert {"path": "/summary", "message": "must be a non-empty string"} in body[
        "structuredContent"
    ]["errors"]
    assert len(ai_server.requests) == 2
    assert UsageRecord.objects.count() == 2


def test_draft_repair_round_sends_the_validation_errors(author, client_for, ai_server):
    invalid = VALID_DRAFT.replace("max_risk: compute", "max_risk: reckless")
    ai_server.enqueue(Reply(content=invalid), Reply(content="```yaml\n" + VALID_DRAFT + "```"))
    answer = client_for(author).post(
        CALL,
        {"name": DRAFT, "arguments": {"description": "Weekly late orders list."}},
        format="json",
    )
    body = answer.json()
    assert body["isError"] is False, body
    assert body["structuredContent"]["spec"] == yaml.safe_load(VALID_DRAFT)
    repair = ai_server.requests[1].body["messages"]
    assert repair[-2] == {"role": "assistant", "content": invalid}
    assert "/max_risk" in repair[-1]["content"]
    assert "Weekly late orders list." in ai_server.requests[0].body["messages"][1]["content"]


def test_draft_invalid_twice_is_is_error_with_the_errors(author, client_for, ai_server):
    ai_server.enqueue(Reply(content="steps: nope"), Reply(content="name: x\nsteps: nope"))
    body = (
        client_for(author)
        .post(CALL, {"name": DRAFT, "arguments": {"description": "Weekly list."}}, format="json")
        .json()
    )
    assert body["isError"] is True
    assert "not a valid playbook spec after one repair round" in body["content"][0]["text"]
    assert any(error["path"] == "/steps" for error in body["structuredContent"]["errors"])


def test_draft_against_anthropic(org, author, client_for, anthropic_server):
    provider_configure(org, anthropic_server, ai_services=True, default=False)
    anthropic_server.enqueue(Reply(content=VALID_DRAFT))
    body = (
        client_for(author)
        .post(CALL, {"name": DRAFT, "arguments": {"description": "Weekly list."}}, format="json")
        .json()
    )
    assert body["isError"] is False, body
    assert anthropic_server.requests[0].body["system"].startswith("You draft playbooks")


def test_the_eleventh_call_in_the_burst_is_429_before_any_model_work(author, client_for, ai_server):
    client = client_for(author)
    for _ in range(10):
        ai_server.enqueue(Reply(content=json.dumps(REFINED)))
    answers = [_refine_call(client) for _ in range(10)]
    assert [answer.status_code for answer in answers] == [200] * 10
    refused = _refine_call(client)
    assert refused.status_code == 429
    assert refused.json()["error"]["code"] == "rate_limited"
    assert int(refused["Retry-After"]) >= 1
    assert refused["X-RateLimit-Remaining"] == "0"
    assert len(ai_server.requests) == 10  # the refused call reached no model


def test_refused_and_invalid_calls_count_against_the_limit_too(author, client_for, ai_server):
    client = client_for(author)
    for _ in range(10):
        assert client.post(CALL, {"name": "x", "arguments": {}}, format="json").status_code == 400
    assert _refine_call(client).status_code == 429
    assert ai_server.requests == []
