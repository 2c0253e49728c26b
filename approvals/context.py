"""What the approval page shows around a payload, from the apps that know it: the run it
belongs to (its playbook, inputs, earlier steps, what a decision does next), a rendering of
the payload for people, and the input schema an edit must meet. Approvals knows nothing of
runs or tools, so their owners register providers here from their `AppConfig.ready()`."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from approvals.models import Approval

# provider(approval) -> dict | None: the run context of an approval it knows, else None.
ContextProvider = Callable[[Approval], "dict[str, Any] | None"]
# renderer(payload) -> dict | None: {"kind": "table" | "request" | "text", ...} or None.
PayloadRenderer = Callable[[Any], "dict[str, Any] | None"]
# schema_source(approval) -> dict | None: the JSON Schema of the editable part of a payload.
SchemaSource = Callable[[Approval], "dict[str, Any] | None"]

_context_providers: list[ContextProvider] = []
_renderers: dict[str, PayloadRenderer] = {}
_schema_sources: list[SchemaSource] = []


def approval_context_register(provider: ContextProvider) -> None:
    """Adds a run-context provider (once: registering the same one again is a no-op)."""
    if provider not in _context_providers:
        _context_providers.append(provider)


def approval_context(approval: Approval) -> dict[str, Any] | None:
    """The first registered provider's context for this approval, or None."""
    for provider in _context_providers:
        found = provider(approval)
        if found is not None:
            return found
    return None


def approval_renderer_register(key: str, renderer: PayloadRenderer) -> None:
    """A rendering for the payloads of a tool (by its name) or an approval kind."""
    existing = _renderers.get(key)
    if existing is not None and existing is not renderer:
        raise ValueError(f"A payload renderer for {key!r} is registered.")
    _renderers[key] = renderer


def approval_payload_view(approval: Approval) -> dict[str, Any] | None:
    """The payload rendered for people by the renderer of its tool, else of its kind; None
    means the page shows the pretty JSON only."""
    for key in (approval.tool, approval.kind):
        renderer = _renderers.get(key) if key else None
        if renderer is not None:
            view = renderer(approval.payload)
            if view is not None:
                return view
    return None


def approval_schema_source_register(source: SchemaSource) -> None:
    if source not in _schema_sources:
        _schema_sources.append(source)


def approval_edit_schema(approval: Approval) -> dict[str, Any] | None:
    """The JSON Schema an edited payload's editable part must meet, where one is known."""
    for source in _schema_sources:
        schema = source(approval)
        if schema is not None:
            return schema
    return None
