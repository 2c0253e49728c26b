"""Tools for end-to-end tests: definitions, implementations, and (un)registering them.

Importing this module registers nothing. Worker processes register the tools by importing
`tests.support.tools` (AGENTSTUDIO_TOOL_MODULES=tests.support.tools); the test process
registers them only while an e2e test runs (an autouse fixture in tests/e2e/conftest.py), so
specs naming them validate there and the registry holds only the built-ins for other tests.

- `tools.test.sink.post` (risk write, NOT idempotent): POSTs JSON to a URL with the call's
  idempotency key in an `Idempotency-Key` header; a real side effect a sink can count.
- `tools.test.slow` (risk compute, idempotent): sleeps, then echoes `value`; a step that is
  long enough to kill a worker or stop Redis while it runs. With `trace` (a workspace path)
  it first appends its call key there, so a test can count executions, not just records.
- `tools.test.poison` (risk compute, idempotent): takes its own step's row first, so the
  step's checkpoint always fails and its slice dies (a run that cannot get past a step).
- `tools.test.kill_worker` (risk compute, idempotent): SIGKILLs the worker process that
  runs it, every time (a step that runs its worker out of memory).
"""

from __future__ import annotations

import os
import signal
import time
from typing import Any

import httpx

from tools.context import ToolContext, ToolExecutionError
from tools.plugins import PLUGIN_IMPLEMENTATIONS, tool_plugin_register
from tools.registry import ToolDefinition, tool_registry

SINK_POST = "tools.test.sink.post"
SLOW = "tools.test.slow"
POISON = "tools.test.poison"
KILL_WORKER = "tools.test.kill_worker"
HTTP_TIMEOUT_SECONDS = 30.0
SLOW_MAX_SECONDS = 30


def sink_post(ctx: ToolContext, arguments: dict[str, Any]) -> dict[str, Any]:
    try:
        response = httpx.post(
            arguments["url"],
            json=arguments["json"],
            headers={"Idempotency-Key": ctx.call_key},
            timeout=HTTP_TIMEOUT_SECONDS,
        )
    except httpx.HTTPError as exc:
        raise ToolExecutionError(f"POST {arguments['url']} failed: {exc}") from exc
    return {"status": response.status_code}


def slow(ctx: ToolContext, arguments: dict[str, Any]) -> dict[str, Any]:
    if arguments.get("trace"):
        # One line per execution that started, written before the sleep: a test sees a step
        # that ran twice (killed worker, then the next one) even though it is recorded once.
        with ctx.resolve(arguments["trace"]).open("a") as trace:
            trace.write(ctx.call_key + "\n")
    time.sleep(float(arguments["seconds"]))
    return {"value": arguments.get("value")}


SINK_POST_DEFINITION = ToolDefinition(
    name=SINK_POST,
    title="POST JSON to a test sink",
    description="Test tool: POSTs `json` to `url` with an Idempotency-Key header.",
    input_schema={
        "type": "object",
        "required": ["url", "json"],
        "properties": {"url": {"type": "string"}, "json": {}},
        "additionalProperties": False,
    },
    output_schema={
        "type": "object",
        "required": ["status"],
        "properties": {"status": {"type": "integer"}},
    },
    risk="write",
    idempotent=False,
    untrusted_output=False,
    open_world=True,
    has_dry_run=False,
)

SLOW_DEFINITION = ToolDefinition(
    name=SLOW,
    title="Sleep, then echo a value",
    description="Test tool: sleeps `seconds` (at most 30), then returns {value}; `trace` "
    "names a workspace file it appends its call key to first.",
    input_schema={
        "type": "object",
        "required": ["seconds"],
        "properties": {
            "seconds": {"type": "number", "minimum": 0, "maximum": SLOW_MAX_SECONDS},
            "value": {},
            "trace": {"type": "string", "minLength": 1},
        },
        "additionalProperties": False,
    },
    output_schema={"type": "object", "required": ["value"], "properties": {"value": {}}},
    risk="compute",
    idempotent=True,
    untrusted_output=False,
    open_world=False,
    has_dry_run=False,
)


def poison(ctx: ToolContext, arguments: dict[str, Any]) -> dict[str, Any]:
    """Inserts the very step row its checkpoint is about to insert (a corrupt record), so
    that checkpoint fails on the unique constraint and the slice dies; the next slice sees
    a failed attempt, tries the next one, and dies the same way."""
    from django.utils import timezone

    from playbooks.models import Run, RunStep

    attempt = int(ctx.call_key.rsplit("@", 1)[1].split(":")[0])
    run = Run.objects.select_related("version").get(pk=ctx.run_id)
    index = [step["id"] for step in run.version.spec["steps"]].index(ctx.step_id)
    RunStep.objects.get_or_create(
        run=run,
        index=index,
        attempt=attempt,
        defaults={
            "step_id": ctx.step_id,
            "kind": "tool",
            "status": "failed",
            "started_at": timezone.now(),
        },
    )
    return {"value": arguments.get("value")}


POISON_DEFINITION = ToolDefinition(
    name=POISON,
    title="Take its own step row",
    description="Test tool: inserts the step row its checkpoint will insert, so every "
    "checkpoint of its step fails and the slice dies.",
    input_schema={"type": "object", "properties": {"value": {}}, "additionalProperties": False},
    output_schema=None,
    risk="compute",
    idempotent=True,
    untrusted_output=False,
    open_world=False,
    has_dry_run=False,
)


def kill_worker(ctx: ToolContext, arguments: dict[str, Any]) -> dict[str, Any]:
    """SIGKILLs the process running it (a worker's pool child), as the OOM killer would."""
    os.kill(os.getpid(), signal.SIGKILL)
    return {}


KILL_WORKER_DEFINITION = ToolDefinition(
    name=KILL_WORKER,
    title="Kill the worker",
    description="Test tool: SIGKILLs the worker process that runs it.",
    input_schema={"type": "object", "properties": {}, "additionalProperties": False},
    output_schema=None,
    risk="compute",
    idempotent=True,
    untrusted_output=False,
    open_world=False,
    has_dry_run=False,
)

E2E_TOOLS = [
    (KILL_WORKER_DEFINITION, kill_worker),
    (SINK_POST_DEFINITION, sink_post),
    (SLOW_DEFINITION, slow),
    (POISON_DEFINITION, poison),
]


def e2e_tools_register() -> None:
    """Registers every test tool (idempotent)."""
    for definition, implementation in E2E_TOOLS:
        tool_plugin_register(definition, implementation)


def e2e_tools_unregister() -> None:
    for definition, _implementation in E2E_TOOLS:
        tool_registry.unregister(definition.name)
        PLUGIN_IMPLEMENTATIONS.pop(definition.name, None)
