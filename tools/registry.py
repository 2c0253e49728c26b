"""The tool registry: MCP-shaped tool definitions, their risk classes and name rules."""

import copy
import functools
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from approvals.risk import RiskClass, risk_rank

# A dotted name starting with "tools." and at least three segments in all.
TOOL_NAME_PATTERN = r"^tools(\.[a-z0-9_-]+){2,}$"
TOOL_NAME_MAX_LENGTH = 200
_TOOL_NAME_RE = re.compile(TOOL_NAME_PATTERN)

# Namespaces of the studio's own tools: no connection may take one.
RESERVED_CONNECTION_NAMES = ("studio", "skill", "test")


def reserved_connection_name_message(name: str) -> str:
    return f"{name!r} names the studio's own tools (tools.{name}.*); choose another name."


def tool_name_is_valid(name: object) -> bool:
    """Whether a value is a well-formed tool name (tools.<namespace>.<tool>...)."""
    return (
        isinstance(name, str)
        and len(name) <= TOOL_NAME_MAX_LENGTH
        and _TOOL_NAME_RE.fullmatch(name) is not None
    )


@dataclass(frozen=True)
class ToolDefinition:
    """What a tool is, what it accepts and how risky it is; immutable once registered."""

    name: str
    title: str
    description: str
    input_schema: dict[str, Any]
    output_schema: dict[str, Any] | None
    risk: str
    idempotent: bool
    untrusted_output: bool
    open_world: bool
    has_dry_run: bool
    # Built-in, skill and plugin tools are everyone's; a connection's tools belong to the
    # organization that registered it, and no other organization sees or calls them.
    organization_id: str | None = None

    def __post_init__(self) -> None:
        risk_rank(self.risk)

    def visible_to(self, organization_id: object) -> bool:
        """Whether an organization (its id; None for no organization) may see this tool."""
        return self.organization_id is None or (
            organization_id is not None and self.organization_id == str(organization_id)
        )

    @functools.cached_property
    def pure(self) -> bool:
        """Whether a call has no effect that matters until its result is recorded: the tool
        is idempotent, at most `compute`, and talks to nothing outside (not open-world). Such
        a call may run ahead of a checkpoint, and be charged by the checkpoint."""
        return (
            self.idempotent
            and not self.open_world
            and risk_rank(self.risk) <= risk_rank(RiskClass.COMPUTE)
        )

    @property
    def annotations(self) -> dict[str, Any]:
        """MCP tool annotations, derived from the risk class."""
        return {
            "title": self.title,
            "readOnlyHint": risk_rank(self.risk) <= risk_rank(RiskClass.COMPUTE),
            "destructiveHint": self.risk == RiskClass.DESTRUCTIVE,
            "idempotentHint": self.idempotent,
            "openWorldHint": self.open_world,
        }

    def to_mcp(self) -> dict[str, Any]:
        """The definition as an MCP tool listing entry (plus our `risk`); safe to mutate."""
        listing: dict[str, Any] = {
            "name": self.name,
            "title": self.title,
            "description": self.description,
            "inputSchema": copy.deepcopy(self.input_schema),
            "outputSchema": copy.deepcopy(self.output_schema),
            "annotations": self.annotations,
            "risk": self.risk,
        }
        if listing["outputSchema"] is None:
            # MCP clients validate outputSchema as an object when the key is present.
            del listing["outputSchema"]
        return listing


class ToolRegistry:
    """Every tool the broker knows, by name. Safe to register into from several threads."""

    def __init__(self) -> None:
        self._definitions: dict[str, ToolDefinition] = {}
        self._resolvers: list[Any] = []
        self._lock = threading.Lock()

    def register(self, definition: ToolDefinition) -> None:
        """Adds a tool; ValueError for a malformed or already registered name."""
        if not tool_name_is_valid(definition.name):
            raise ValueError(
                f"invalid tool name {definition.name!r}: use a dotted name starting with "
                "'tools.' with at least three segments of a-z, 0-9, _ or -"
            )
        with self._lock:
            if definition.name in self._definitions:
                raise ValueError(f"tool {definition.name!r} is already registered")
            self._definitions[definition.name] = definition

    def unregister(self, name: str) -> None:
        """Removes a tool (a deleted connection or skill); unknown names are ignored."""
        with self._lock:
            self._definitions.pop(name, None)

    def get(self, name: str) -> ToolDefinition | None:
        """The tool with this name, or None. Tools kept as data (connections) come from the
        resolvers, asked only when no registered tool has the name."""
        definition = self._definitions.get(name)
        if definition is None:
            for resolver in self._resolvers:
                definition = resolver(name)
                if definition is not None:
                    break
        return definition

    def add_resolver(self, resolver: Any) -> None:
        """`resolver(name)` answers a ToolDefinition or None for names not registered."""
        if resolver not in self._resolvers:
            self._resolvers.append(resolver)

    def all(self) -> list[ToolDefinition]:
        """Every registered tool, sorted by name."""
        with self._lock:
            definitions = list(self._definitions.values())
        return sorted(definitions, key=lambda definition: definition.name)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name in self._definitions

    def __len__(self) -> int:
        return len(self._definitions)


def tool_lookup_for(organization_id: object) -> Callable[[str], ToolDefinition | None]:
    """Registry lookups as one organization sees them: another organization's connection
    tools are unknown to it (None: only the tools that are everyone's)."""

    def lookup(name: str) -> ToolDefinition | None:
        definition = tool_registry.get(name)
        if definition is None or not definition.visible_to(organization_id):
            return None
        return definition

    return lookup


def tool_registry_with_builtins() -> ToolRegistry:
    """A fresh registry holding the built-in tools (tests use it to stay isolated)."""
    from tools.builtin_definitions import BUILTIN_TOOL_DEFINITIONS

    registry = ToolRegistry()
    for definition in BUILTIN_TOOL_DEFINITIONS:
        registry.register(definition)
    return registry


tool_registry = tool_registry_with_builtins()
