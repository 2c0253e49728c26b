"""The OpenAI and Anthropic providers against real local servers that speak each API: what
the SDK sends, what comes back, streaming, tools, structured output, retries, timeouts."""

import pytest

from tests.support.model_servers import (
    OPENAI,
    TEST_API_KEY,
    Reply,
    Slow,
    Status,
    ToolCall,
    provider_configure,
)
from tools.providers.base import RESPONSE_SCHEMA_KEY, ModelProviderError, ModelRequest
from tools.providers.registry import provider_for

TOOLS = [
    {
        "name": "tools.test.count",
        "description": "Counts.",
        "inputSchema": {"type": "object", "properties": {"value": {}}},
    },
    {
        "name": "tools.studio.files.read",
        "description": "Reads a file.",
        "inputSchema": {"type": "object", "properties": {"path": {"type": "string"}}},
    },
]


def _request(model=None, tools=(), messages=None):
    return ModelRequest(
        model={"provider": "local", "name": "m-1", **(model or {})},
        messages=messages
        or [
            {"role": "system", "content": "You are terse."},
            {"role": "user", "content": "Say hi."},
        ],
        tools=list(tools),
        step_id="s",
        turn=0,
        run_call_index=0,
    )


def _complete(org, request):
    return provider_for(request.model, organization=org).complete(request)


def test_a_whole_reply_and_what_the_sdk_sent(org, server):
    provider_configure(org, server)
    server.enqueue(Reply(content="hi", input_tokens=20, output_tokens=3, cached_tokens=8))
    reply = _complete(org, _request({"max_tokens": 99, "temperature": 0.5}))
    assert (reply.content, reply.input_tokens, reply.output_tokens) == ("hi", 20, 3)
    assert reply.cached_input_tokens == 8
    assert (reply.provider, reply.provider_kind, reply.model) == ("local", server.kind, "m-1")
    assert (reply.streamed, reply.usage_estimated, reply.scripted) == (False, False, False)
    assert reply.finish_reason == ("stop" if server.kind == OPENAI else "end_turn")
    assert reply.wall_seconds > 0
    (sent,) = server.requests
    body = sent.body
    assert (body["model"], body["max_tokens"]) == ("m-1", 99)
    if server.kind == OPENAI:
        assert body["temperature"] == 0.5
        assert sent.path == "/v1/chat/completions"
        assert sent.headers["authorization"] == f"Bearer {TEST_API_KEY}"
        assert body["messages"] == [
            {"role": "system", "content": "You are terse."},
            {"role": "user", "content": "Say hi."},
        ]
        assert "stream" not in body and "tools" not in body
    else:
        assert sent.path == "/v1/messages"
        assert sent.headers["authorization"] == f"Bearer {TEST_API_KEY}"  # as this SDK sends it
        assert "temperature" not in body  # the Messages API of this SDK takes none
        assert body["system"] == "You are terse."
        assert body["messages"] == [
            {"role": "user", "content": [{"type": "text", "text": "Say hi."}]}
        ]


def test_the_default_max_tokens_comes_from_the_setting(org, server, settings):
    settings.AGENTSTUDIO_DEFAULT_MAX_OUTPUT_TOKENS = 321
    provider_configure(org, server)
    server.enqueue(Reply(content="ok"))
    _complete(org, _request())
    assert server.requests[0].body["max_tokens"] == 321


def test_a_streamed_reply_counts_the_usage_the_stream_reports(org, server):
    provider_configure(org, server)
    text = "Hello there, streamed world."
    server.enqueue(Reply(content=text, stream=True, input_tokens=31, output_tokens=9))
    reply = _complete(org, _request({"stream": True}))
    assert reply.content == text
    assert (reply.input_tokens, reply.output_tokens) == (31, 9)
    assert (reply.streamed, reply.usage_estimated) == (True, False)
    body = server.requests[0].body
    assert body["stream"] is True
    if server.kind == OPENAI:
        assert body["stream_options"] == {"include_usage": True}


def test_a_stream_that_ends_without_usage_is_estimated_and_flagged(org, server):
    provider_configure(org, server)
    text = "x" * 400
    server.enqueue(Reply(content=text, stream=True, include_usage=False))
    reply = _complete(org, _request({"stream": True}))
    assert reply.content == text
    assert (reply.streamed, reply.usage_estimated) == (True, True)
    assert reply.output_tokens == 100  # characters / 4
    assert reply.input_tokens > 0


@pytest.mark.parametrize("stream", [False, True])
def test_tool_calls_travel_under_safe_names_and_come_back_as_ours(org, server, stream):
    provider_configure(org, server)
    server.enqueue(
        Reply(
            tool_calls=[
                ToolCall("tools__test__count", {"value": 1}, id="c1"),
                ToolCall("tools__studio__files__read", {"path": "a.txt"}, id="c2"),
            ],
            stream=stream,
        )
    )
    reply = _complete(org, _request({"stream": stream}, tools=TOOLS))
    assert [(c.id, c.name, c.arguments) for c in reply.tool_calls] == [
        ("c1", "tools.test.count", {"value": 1}),
        ("c2", "tools.studio.files.read", {"path": "a.txt"}),
    ]
    body = server.requests[0].body
    if server.kind == OPENAI:
        assert body["parallel_tool_calls"] is True
        assert body["tools"][1] == {
            "type": "function",
            "function": {
                "name": "tools__studio__files__read",
                "description": "Reads a file.",
                "parameters": TOOLS[1]["inputSchema"],
            },
        }
        assert reply.finish_reason == "tool_calls"
    else:
        assert body["tools"][1] == {
            "name": "tools__studio__files__read",
            "description": "Reads a file.",
            "input_schema": TOOLS[1]["inputSchema"],
        }
        assert reply.finish_reason == "tool_use"


def test_a_conversation_with_tool_results_in_each_api(org, server):
    provider_configure(org, server)
    server.enqueue(Reply(content="done"))
    messages = [
        {"role": "system", "content": "sys"},
        {"role": "user", "content": "go"},
        {
            "role": "assistant",
            "content": "",
            "tool_calls": [
                {"id": "c1", "name": "tools.test.count", "arguments": {"value": 1}},
                {"id": "c2", "name": "tools.test.count", "arguments": {"value": 2}},
            ],
        },
        {"role": "tool", "tool_call_id": "c1", "name": "tools.test.count", "content": "1"},
        {"role": "tool", "tool_call_id": "c2", "name": "tools.test.count", "content": "ERROR: x"},
    ]
    _complete(org, _request(tools=TOOLS[:1], messages=messages))
    sent = server.requests[0].body["messages"]
    if server.kind == OPENAI:
        assert sent[2] == {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "c1",
                    "type": "function",
                    "function": {"name": "tools__test__count", "arguments": '{"value": 1}'},
                },
                {
                    "id": "c2",
                    "type": "function",
                    "function": {"name": "tools__test__count", "arguments": '{"value": 2}'},
                },
            ],
        }
        assert sent[3:] == [
            {"role": "tool", "tool_call_id": "c1", "content": "1"},
            {"role": "tool", "tool_call_id": "c2", "content": "ERROR: x"},
        ]
    else:
        assert [turn["role"] for turn in sent] == ["user", "assistant", "user"]
        assert sent[1]["content"] == [
            {"type": "tool_use", "id": "c1", "name": "tools__test__count", "input": {"value": 1}},
            {"type": "tool_use", "id": "c2", "name": "tools__test__count", "input": {"value": 2}},
        ]
        assert sent[2]["content"] == [
            {"type": "tool_result", "tool_use_id": "c1", "content": "1", "is_error": False},
            {"type": "tool_result", "tool_use_id": "c2", "content": "ERROR: x", "is_error": True},
        ]


def test_structured_output_sends_the_schema(org, server):
    provider_configure(org, server)
    schema = {"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"]}
    server.enqueue(Reply(content='{"n": 3}'))
    reply = _complete(org, _request({RESPONSE_SCHEMA_KEY: schema}))
    assert reply.content == '{"n": 3}'
    body = server.requests[0].body
    if server.kind == OPENAI:
        assert body["response_format"] == {
            "type": "json_schema",
            "json_schema": {"name": "output", "schema": schema, "strict": False},
        }
    else:
        assert body["output_config"] == {"format": {"type": "json_schema", "schema": schema}}


def test_429_is_retried_after_retry_after(org, server):
    provider_configure(org, server)
    server.enqueue(Status(429, retry_after=1), Reply(content="ok"))
    assert _complete(org, _request()).content == "ok"
    first, second = server.requests
    assert second.at - first.at >= 1.0
    assert first.body == second.body


def test_5xx_is_retried_then_succeeds(org, server):
    provider_configure(org, server, max_retries=2)
    server.enqueue(Status(503), Status(500), Reply(content="ok"))
    assert _complete(org, _request()).content == "ok"
    assert len(server.requests) == 3


def test_retries_exhausted_is_a_clear_error(org, server):
    provider_configure(org, server, max_retries=1)
    server.enqueue(Status(503), Status(503), Reply(content="never"))
    with pytest.raises(ModelProviderError) as caught:
        _complete(org, _request())
    message = str(caught.value)
    assert message == (
        f"Model provider 'local' ({server.kind}, {server.base_url}) failed (HTTP 503) and "
        "still did after 1 retries."
    )
    assert len(server.requests) == 2
    assert server.pending == 1


def test_a_slow_answer_past_the_timeout_is_an_error(org, server):
    provider_configure(org, server, timeout_seconds=0.5, max_retries=0)
    server.enqueue(Slow(2.0, Reply(content="late")))
    with pytest.raises(ModelProviderError) as caught:
        _complete(org, _request())
    assert str(caught.value) == (
        f"Model provider 'local' ({server.kind}, {server.base_url}) did not answer within "
        "0.5 s (after 0 retries)."
    )
    assert len(server.requests) == 1


def test_a_refused_key_names_the_provider_not_the_key(org, server):
    provider_configure(org, server)
    server.enqueue(Status(401, message=f"bad key {TEST_API_KEY}"))
    with pytest.raises(ModelProviderError) as caught:
        _complete(org, _request())
    assert "refused the API key (HTTP 401)" in str(caught.value)
    assert TEST_API_KEY not in str(caught.value)
    assert len(server.requests) == 1  # 401 is not retried


def test_a_4xx_says_what_the_server_said(org, server):
    provider_configure(org, server)
    server.enqueue(Status(400, message=f"unknown model m-1, key {TEST_API_KEY}"))
    with pytest.raises(ModelProviderError) as caught:
        _complete(org, _request())
    assert str(caught.value) == (
        f"Model provider 'local' ({server.kind}, {server.base_url}) refused the request "
        "(HTTP 400): unknown model m-1, key [secret]"
    )


def test_tool_arguments_that_are_not_json_are_a_malformed_answer(org, openai_server):
    provider_configure(org, openai_server)
    openai_server.enqueue(Reply(tool_calls=[ToolCall("tools__test__count", raw_arguments="{x")]))
    with pytest.raises(ModelProviderError) as caught:
        _complete(org, _request(tools=TOOLS))
    assert str(caught.value) == (
        "Model provider 'local' (openai) gave a malformed answer: the arguments of its "
        "'tools.test.count' call are not JSON."
    )


def test_no_key_configured_sends_a_placeholder(org, server):
    provider_configure(org, server, api_key=None)
    server.enqueue(Reply(content="ok"))
    assert _complete(org, _request()).content == "ok"
    assert server.requests[0].headers["authorization"] == "Bearer unused"


def test_the_default_model_applies_when_the_spec_names_none(org, server):
    provider_configure(org, server, default_model="house-model")
    server.enqueue(Reply(content="ok"))
    request = _request()
    request.model.pop("name")
    assert _complete(org, request).model == "house-model"
    assert server.requests[0].body["model"] == "house-model"
