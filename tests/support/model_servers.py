"""Real local model servers for tests: a ThreadingHTTPServer on 127.0.0.1 (port 0) that speaks
OpenAI Chat Completions (`POST /v1/chat/completions`) or Anthropic Messages
(`POST /v1/messages`), answering each request with the next behaviour a test enqueued and
recording every request (path, headers, JSON body, arrival time) so tests can assert what
the SDK sent. Nothing is patched: the providers talk to it over TCP as to the real thing.

    server.enqueue(Reply(content="hi", input_tokens=12, output_tokens=3))
    server.enqueue(Reply(tool_calls=[ToolCall("tools__test__count", {"value": 1})]))
    server.enqueue(Reply(content="...", stream=True, include_usage=False))
    server.enqueue(Status(429, retry_after=1), Status(503), Slow(3.0, Reply(content="late")))

With no behaviour left the server answers 500 and says so (the SDK then retries: enqueue
what every attempt should get).
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

OPENAI = "openai"
ANTHROPIC = "anthropic"


@dataclass(frozen=True)
class ToolCall:
    name: str  # as the model sends it (the safe name: tools__test__count)
    arguments: dict[str, Any] = field(default_factory=dict)
    id: str = ""
    raw_arguments: str | None = None  # sent as is instead of `arguments` (malformed JSON)


@dataclass(frozen=True)
class Reply:
    """A model answer: text and/or tool calls (several: parallel calls), with usage."""

    content: str = ""
    tool_calls: list[ToolCall] = field(default_factory=list)
    input_tokens: int = 11
    output_tokens: int = 7
    cached_tokens: int = 0
    model: str = ""  # default: the model the request named
    stream: bool = False  # answer as server-sent events (only if the request streams)
    include_usage: bool = True  # streams: send the usage (final chunk / message events)


@dataclass(frozen=True)
class Status:
    """An error answer: 429 (with Retry-After), 500, 503, 401..."""

    code: int
    retry_after: float | None = None
    message: str = "scripted error"


@dataclass(frozen=True)
class Slow:
    """Sleeps `seconds` (past the client's timeout, typically), then answers `then`."""

    seconds: float
    then: Reply | Status = field(default_factory=Reply)


@dataclass(frozen=True)
class RecordedRequest:
    path: str
    headers: dict[str, str]  # lower-cased names
    body: Any
    at: float  # time.monotonic() on arrival


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        return

    def do_POST(self) -> None:
        length = int(self.headers.get("content-length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            body = json.loads(raw or b"null")
        except json.JSONDecodeError:
            body = raw.decode(errors="replace")
        record = RecordedRequest(
            path=self.path,
            headers={name.lower(): value for name, value in self.headers.items()},
            body=body,
            at=time.monotonic(),
        )
        model_server: ModelServer = self.server.model_server
        behaviour = model_server.record_and_next(record)
        # The client may have given up (its timeout): then there is nothing to answer.
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            self._answer(model_server, behaviour, body if isinstance(body, dict) else {})

    def _answer(self, model_server: ModelServer, behaviour: Any, body: dict) -> None:
        if behaviour is None:
            self._json(500, model_server.error_body("no scripted behaviour left"))
            return
        if isinstance(behaviour, Slow):
            time.sleep(behaviour.seconds)
            behaviour = behaviour.then
        if isinstance(behaviour, Status):
            headers = {}
            if behaviour.retry_after is not None:
                headers["Retry-After"] = f"{behaviour.retry_after:g}"
            self._json(behaviour.code, model_server.error_body(behaviour.message), headers)
            return
        model = behaviour.model or str(body.get("model", ""))
        if behaviour.stream and body.get("stream"):
            events = model_server.stream_events(behaviour, model, body)
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Connection", "close")
            self.end_headers()
            for event in events:
                self.wfile.write(event.encode())
                self.wfile.flush()
            return
        self._json(200, model_server.whole(behaviour, model))

    def _json(self, code: int, payload: Any, headers: dict[str, str] | None = None) -> None:
        data = json.dumps(payload).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    model_server: ModelServer


class ModelServer:
    """One local server of `kind` (OPENAI or ANTHROPIC); `base_url` is what a provider
    configuration points at."""

    def __init__(self, kind: str) -> None:
        assert kind in (OPENAI, ANTHROPIC), kind
        self.kind = kind
        self._lock = threading.Lock()
        self._queue: deque[Any] = deque()
        self.requests: list[RecordedRequest] = []
        self._http = _Server(("127.0.0.1", 0), _Handler)
        self._http.model_server = self
        self._thread = threading.Thread(target=self._http.serve_forever, daemon=True)

    @property
    def port(self) -> int:
        return int(self._http.server_address[1])

    @property
    def base_url(self) -> str:
        # The openai SDK appends /chat/completions to its base URL, anthropic /v1/messages.
        root = f"http://127.0.0.1:{self.port}"
        return f"{root}/v1" if self.kind == OPENAI else root

    def start(self) -> ModelServer:
        self._thread.start()
        return self

    def close(self) -> None:
        self._http.shutdown()
        self._http.server_close()

    def enqueue(self, *behaviours: Reply | Status | Slow) -> None:
        with self._lock:
            self._queue.extend(behaviours)

    def record_and_next(self, record: RecordedRequest) -> Any:
        with self._lock:
            self.requests.append(record)
            return self._queue.popleft() if self._queue else None

    @property
    def pending(self) -> int:
        with self._lock:
            return len(self._queue)

    # -- the two dialects

    def error_body(self, message: str) -> dict[str, Any]:
        if self.kind == OPENAI:
            return {"error": {"message": message, "type": "server_error", "code": None}}
        return {"type": "error", "error": {"type": "api_error", "message": message}}

    def whole(self, reply: Reply, model: str) -> dict[str, Any]:
        if self.kind == OPENAI:
            return _openai_whole(reply, model)
        return _anthropic_whole(reply, model)

    def stream_events(self, reply: Reply, model: str, body: dict) -> list[str]:
        if self.kind == OPENAI:
            wants_usage = bool((body.get("stream_options") or {}).get("include_usage"))
            return _openai_stream(reply, model, reply.include_usage and wants_usage)
        return _anthropic_stream(reply, model)


def _call_id(call: ToolCall, index: int, prefix: str) -> str:
    return call.id or f"{prefix}_{index + 1}"


def _arguments(call: ToolCall) -> str:
    return call.raw_arguments if call.raw_arguments is not None else json.dumps(call.arguments)


def _openai_usage(reply: Reply) -> dict[str, Any]:
    return {
        "prompt_tokens": reply.input_tokens,
        "completion_tokens": reply.output_tokens,
        "total_tokens": reply.input_tokens + reply.output_tokens,
        "prompt_tokens_details": {"cached_tokens": reply.cached_tokens},
    }


def _openai_whole(reply: Reply, model: str) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": reply.content or None}
    if reply.tool_calls:
        message["tool_calls"] = [
            {
                "id": _call_id(call, index, "call"),
                "type": "function",
                "function": {"name": call.name, "arguments": _arguments(call)},
            }
            for index, call in enumerate(reply.tool_calls)
        ]
    return {
        "id": "chatcmpl-local",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": message,
                "finish_reason": "tool_calls" if reply.tool_calls else "stop",
            }
        ],
        "usage": _openai_usage(reply),
    }


def _sse(payload: Any, event: str | None = None) -> str:
    head = f"event: {event}\n" if event else ""
    return f"{head}data: {json.dumps(payload)}\n\n"


def _pieces(text: str, size: int = 4) -> list[str]:
    return [text[i : i + size] for i in range(0, len(text), size)]


def _openai_stream(reply: Reply, model: str, with_usage: bool) -> list[str]:
    def chunk(delta: dict[str, Any], finish: str | None = None) -> str:
        return _sse(
            {
                "id": "chatcmpl-local",
                "object": "chat.completion.chunk",
                "created": int(time.time()),
                "model": model,
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
            }
        )

    events = [chunk({"role": "assistant", "content": ""})]
    events += [chunk({"content": piece}) for piece in _pieces(reply.content)]
    for index, call in enumerate(reply.tool_calls):
        events.append(
            chunk(
                {
                    "tool_calls": [
                        {
                            "index": index,
                            "id": _call_id(call, index, "call"),
                            "type": "function",
                            "function": {"name": call.name, "arguments": ""},
                        }
                    ]
                }
            )
        )
        events += [
            chunk({"tool_calls": [{"index": index, "function": {"arguments": piece}}]})
            for piece in _pieces(_arguments(call), 7)
        ]
    events.append(chunk({}, "tool_calls" if reply.tool_calls else "stop"))
    if with_usage:
        events.append(
            _sse(
                {
                    "id": "chatcmpl-local",
                    "object": "chat.completion.chunk",
                    "created": int(time.time()),
                    "model": model,
                    "choices": [],
                    "usage": _openai_usage(reply),
                }
            )
        )
    events.append("data: [DONE]\n\n")
    return events


def _anthropic_usage(reply: Reply) -> dict[str, Any]:
    return {
        "input_tokens": reply.input_tokens - reply.cached_tokens,  # cache reads apart
        "output_tokens": reply.output_tokens,
        "cache_read_input_tokens": reply.cached_tokens,
        "cache_creation_input_tokens": 0,
    }


def _anthropic_whole(reply: Reply, model: str) -> dict[str, Any]:
    content: list[dict[str, Any]] = []
    if reply.content:
        content.append({"type": "text", "text": reply.content})
    content += [
        {
            "type": "tool_use",
            "id": _call_id(call, index, "toolu"),
            "name": call.name,
            "input": call.arguments,
        }
        for index, call in enumerate(reply.tool_calls)
    ]
    return {
        "id": "msg_local",
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": content,
        "stop_reason": "tool_use" if reply.tool_calls else "end_turn",
        "stop_sequence": None,
        "usage": _anthropic_usage(reply),
    }


def _anthropic_stream(reply: Reply, model: str) -> list[str]:
    message: dict[str, Any] = {
        "id": "msg_local",
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": [],
        "stop_reason": None,
        "stop_sequence": None,
    }
    if reply.include_usage:
        message["usage"] = {**_anthropic_usage(reply), "output_tokens": 1}
    events = [_sse({"type": "message_start", "message": message}, "message_start")]
    index = 0
    if reply.content:
        events.append(
            _sse(
                {
                    "type": "content_block_start",
                    "index": index,
                    "content_block": {"type": "text", "text": ""},
                },
                "content_block_start",
            )
        )
        events += [
            _sse(
                {
                    "type": "content_block_delta",
                    "index": index,
                    "delta": {"type": "text_delta", "text": piece},
                },
                "content_block_delta",
            )
            for piece in _pieces(reply.content)
        ]
        events.append(_sse({"type": "content_block_stop", "index": index}, "content_block_stop"))
        index += 1
    for number, call in enumerate(reply.tool_calls):
        events.append(
            _sse(
                {
                    "type": "content_block_start",
                    "index": index,
                    "content_block": {
                        "type": "tool_use",
                        "id": _call_id(call, number, "toolu"),
                        "name": call.name,
                        "input": {},
                    },
                },
                "content_block_start",
            )
        )
        events += [
            _sse(
                {
                    "type": "content_block_delta",
                    "index": index,
                    "delta": {"type": "input_json_delta", "partial_json": piece},
                },
                "content_block_delta",
            )
            for piece in _pieces(_arguments(call), 7)
        ]
        events.append(_sse({"type": "content_block_stop", "index": index}, "content_block_stop"))
        index += 1
    delta: dict[str, Any] = {
        "type": "message_delta",
        "delta": {
            "stop_reason": "tool_use" if reply.tool_calls else "end_turn",
            "stop_sequence": None,
        },
    }
    if reply.include_usage:
        delta["usage"] = {"output_tokens": reply.output_tokens}
    events.append(_sse(delta, "message_delta"))
    events.append(_sse({"type": "message_stop"}, "message_stop"))
    return events


@contextmanager
def model_server(kind: str) -> Iterator[ModelServer]:
    """A started server of `kind`, shut down afterwards."""
    server = ModelServer(kind).start()
    try:
        yield server
    finally:
        server.close()


TEST_API_KEY = "sk-local-test-4d1f8a2b9c"  # what the provider fixtures store in the vault


def provider_configure(
    organization: Any,
    server: ModelServer,
    *,
    name: str = "local",
    default: bool = True,
    ai_services: bool = False,
    api_key: str | None = TEST_API_KEY,
    default_model: str = "local-model",
    timeout_seconds: float = 5.0,
    connect_timeout_seconds: float = 2.0,
    max_retries: int = 2,
) -> Any:
    """A ModelProviderConfig of `organization` pointing at `server` (its key in the vault
    as `<name>.api_key`), through the services an admin's change goes through."""
    from tools.providers.configs import provider_config_save
    from tools.vault import secret_set

    secret = ""
    if api_key:
        secret = f"{name}.api_key"
        secret_set(organization=organization, actor=None, name=secret, value=api_key)
    config, _created = provider_config_save(
        organization=organization,
        actor=None,
        name=name,
        kind=server.kind,
        base_url=server.base_url,
        api_key_secret=secret,
        default_model=default_model,
        timeout_seconds=timeout_seconds,
        connect_timeout_seconds=connect_timeout_seconds,
        max_retries=max_retries,
        is_default=default,
        use_for_ai_services=ai_services,
    )
    return config
