"""Fixtures for the AI services tests: a tool call as the broker executes it, with a
ToolModel on the scripted provider (the responses a test declares, tagged by step)."""

import uuid
from typing import Any

import pytest
from django.conf import settings

from tools.ai_services.model_access import ToolModel
from tools.context import ToolContext
from tools.models import InvocationStatus, ToolInvocation
from tools.providers.scripted import ScriptedProvider
from tools.registry import tool_registry
from tools.tool_execution import tool_execute

# A small spec that passes the validator (what a model would draft).
VALID_DRAFT = """name: Late supplier orders
description: List the orders that are late.
inputs:
  type: object
  required: [csv_path]
  properties:
    csv_path: {type: string, minLength: 1, maxLength: 200}
tools: [tools.studio.data.profile]
max_risk: compute
steps:
  - id: profile
    tool: tools.studio.data.profile
    args:
      dataset: "{{ inputs.csv_path }}"
"""


def scripted_model(responses: list[Any], *, step: str = "s") -> ToolModel:
    spec = {"provider": "scripted", "name": "gpt-4o-mini", "responses": responses}
    return ToolModel(provider_source=ScriptedProvider, model=spec, step_id=step)


@pytest.fixture
def call_ai_tool(org, tmp_path):
    """call(name, arguments, model) -> (ToolCallResult, the ToolModel), through tool_execute."""

    def _call(name: str, arguments: dict[str, Any], model: ToolModel) -> Any:
        key = f"test:{uuid.uuid4().hex}"
        context = ToolContext(
            run_id="",
            step_id="s",
            call_key=key,
            workspace=tmp_path,
            organization_id=org.pk,
            model=model,
        )
        invocation = ToolInvocation(
            key=key, step_id="s", tool=name, arguments=arguments, status=InvocationStatus.STARTED
        )
        return tool_execute(
            tool_registry.get(name),
            arguments,
            context,
            settings.AGENTSTUDIO_STEP_TIMEOUT_SECONDS,
            invocation,
        )

    return _call
