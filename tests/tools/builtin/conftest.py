"""Fixtures for the built-in tool tests: a ToolContext on a temporary workspace and a caller
that checks arguments and results against the tool's registered schemas."""

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from tools.builtin import BUILTIN_IMPLEMENTATIONS
from tools.context import ToolContext
from tools.registry import tool_registry

SAMPLES = Path(__file__).resolve().parents[3] / "playbooks" / "blueprints" / "samples"
BLUEPRINTS = SAMPLES.parent


def schema_errors(schema: dict[str, Any], value: Any) -> list[str]:
    return [error.message for error in Draft202012Validator(schema).iter_errors(value)]


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    path = tmp_path / "workspace"
    path.mkdir()
    return path


@pytest.fixture
def ctx(workspace: Path) -> ToolContext:
    return ToolContext(
        run_id="run-1", step_id="current", call_key="run-1:current@1:0", workspace=workspace
    )


@pytest.fixture
def call_tool(ctx: ToolContext) -> Callable[[str, dict[str, Any]], dict[str, Any]]:
    """Calls a built-in tool as the broker does: arguments valid against the inputSchema,
    and the result is asserted to be valid against the outputSchema."""

    def _call(name: str, arguments: dict[str, Any]) -> dict[str, Any]:
        definition = tool_registry.get(name)
        assert schema_errors(definition.input_schema, arguments) == []
        result = BUILTIN_IMPLEMENTATIONS[name](ctx, arguments)
        assert schema_errors(definition.output_schema, result) == []
        return result

    return _call


@pytest.fixture
def write(workspace: Path) -> Callable[[str, str | bytes], Path]:
    """Puts a file into the workspace (as an upload would) and returns its path."""

    def _write(relative: str, content: str | bytes) -> Path:
        path = workspace / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, str):
            path.write_text(content, encoding="utf-8")
        else:
            path.write_bytes(content)
        return path

    return _write


@pytest.fixture
def samples() -> Path:
    """The sample files shipped with the blueprints."""
    return SAMPLES


@pytest.fixture
def blueprints() -> Path:
    return BLUEPRINTS
