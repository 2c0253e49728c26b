"""Tools registered from code outside the built-ins (operator modules, test support)."""

from collections.abc import Callable
from typing import Any

from tools.context import ToolContext
from tools.registry import ToolDefinition, tool_registry

Implementation = Callable[[ToolContext, dict[str, Any]], Any]
PLUGIN_IMPLEMENTATIONS: dict[str, Implementation] = {}


def tool_plugin_register(definition: ToolDefinition, implementation: Implementation) -> None:
    """Adds a tool to the registry with the function that executes it (idempotent)."""
    if tool_registry.get(definition.name) is None:
        tool_registry.register(definition)
    PLUGIN_IMPLEMENTATIONS[definition.name] = implementation
