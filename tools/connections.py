"""Connections: external MCP servers whose tools join the registry as `tools.<name>.<tool>`.

An admin registers a server (URL, optional auth secret in the vault) and refreshes it: its
tools are imported as `external_send` and untrusted until an admin classifies them, and a
refresh keeps each classification. The registry finds them through a resolver (they are
data, not code); a call goes through the broker like any other and reaches the server with
the SDK's client, the secret resolved from the vault only then.
"""

from __future__ import annotations

import asyncio
import re
import time
from typing import Any

import structlog
from django.db import transaction
from django.utils import timezone

from agentstudio.accounts.roles import org_admin_assert
from agentstudio.errors import AppError, ErrorCode
from approvals.risk import RISK_CLASSES, RiskClass, risk_rank
from tools.context import ToolContext, ToolExecutionError
from tools.registry import (
    RESERVED_CONNECTION_NAMES,
    ToolDefinition,
    reserved_connection_name_message,
)

_CACHE_SECONDS = 2.0
_cache: dict[str, tuple[float, Any]] = {}
_NAME = re.compile(r"^tools\.([a-z0-9][a-z0-9_-]{0,63})\.([a-z0-9_-]{1,128})$")


def local_tool_name(remote: str) -> str:
    """A remote tool name made valid as the last segment of a registry name."""
    return re.sub(r"[^a-z0-9_-]", "_", remote.lower())[:128] or "tool"


def _row(name: str) -> Any:
    """The ConnectionTool for a registry name (cached briefly), or None."""
    from tools.models import ConnectionTool

    match = _NAME.match(name)
    if match is None or match.group(1) in RESERVED_CONNECTION_NAMES:
        return None
    cached = _cache.get(name)
    if cached is not None and time.monotonic() - cached[0] < _CACHE_SECONDS:
        return cached[1]
    try:
        row = (
            ConnectionTool.objects.select_related("connection")
            .filter(connection__name=match.group(1), name=match.group(2))
            .first()
        )
    except Exception as exc:  # no database here (or it is down): such a tool is unknown
        structlog.get_logger("agentstudio.tools").warning(
            "connection tools unavailable", tool=name, reason=type(exc).__name__
        )
        return None
    _cache[name] = (time.monotonic(), row)
    return row


def connection_tool_definition(name: str) -> ToolDefinition | None:
    """The registry resolver for connection tools."""
    row = _row(name)
    return None if row is None else connection_tool_definition_of(row)


def connection_tool_definition_of(row: Any) -> ToolDefinition:
    """The registry definition of one imported tool (its connection loaded with it)."""
    return ToolDefinition(
        name=row.registry_name,
        title=row.title or row.remote_name,
        description=row.description or f"{row.remote_name} on {row.connection.name}",
        input_schema=row.input_schema or {"type": "object"},
        output_schema=row.output_schema or None,
        risk=row.risk,
        idempotent=risk_rank(row.risk) <= risk_rank(RiskClass.COMPUTE),
        untrusted_output=row.untrusted,
        open_world=True,
        has_dry_run=False,
        organization_id=str(row.connection.organization_id),
    )


def connection_tool_implementation(name: str) -> Any:
    row = _row(name)
    if row is None:
        return None

    def call(ctx: ToolContext, arguments: dict[str, Any]) -> Any:
        return connection_call(row, ctx, arguments)

    return call


def _headers(connection: Any, organization_id: Any) -> dict[str, str]:
    from tools.vault import vault_resolve

    if not connection.auth_secret:
        return {}
    secret = vault_resolve(organization_id=organization_id, name=connection.auth_secret)
    return {"Authorization": f"Bearer {secret}"}


async def _refuse_unless_global(request: Any) -> None:
    """Every request the SDK sends (a followed redirect too) passes the guard, not only the
    first one; DNS is resolved off the event loop."""
    from agentstudio.netguard import url_refusal

    refusal = await asyncio.to_thread(url_refusal, str(request.url))
    if refusal:
        raise ToolExecutionError(f"Refused {request.url.host}: {refusal}.")


async def _session(url: str, headers: dict[str, str], work: Any) -> Any:
    import httpx2
    from mcp import Client
    from mcp.client.streamable_http import streamable_http_client

    guarded = {"request": [_refuse_unless_global]}
    async with (
        httpx2.AsyncClient(headers=headers, timeout=30, event_hooks=guarded) as http,
        Client(streamable_http_client(url, http_client=http)) as client,
    ):
        return await work(client)


def _reason(exc: BaseException) -> str:
    """The innermost cause, not "unhandled errors in a TaskGroup"."""
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    return f"{type(exc).__name__}: {exc}"


def _guard(connection: Any) -> None:
    from agentstudio.netguard import url_refusal

    refusal = url_refusal(connection.url)
    if refusal:
        raise ToolExecutionError(f"Refused connection {connection.name}: {refusal}.")


def connection_call(row: Any, ctx: ToolContext, arguments: dict[str, Any]) -> Any:
    """Calls the remote tool; its error comes back as this call's error."""
    connection = row.connection
    if str(connection.organization_id) != str(ctx.organization_id):
        raise ToolExecutionError(f"There is no tool {row.registry_name} in this organization.")
    _guard(connection)
    headers = _headers(connection, ctx.organization_id)
    ctx.secrets_used.extend(value.removeprefix("Bearer ") for value in headers.values())

    async def work(client: Any) -> Any:
        return await client.call_tool(row.remote_name, arguments)

    try:
        result = asyncio.run(_session(connection.url, headers, work))
    except Exception as exc:
        raise ToolExecutionError(f"{connection.name} failed: {_reason(exc)}") from exc
    text = "\n".join(getattr(block, "text", "") for block in result.content)
    if result.is_error:
        raise ToolExecutionError(text or f"{row.remote_name} answered with an error.")
    return result.structured_content if result.structured_content is not None else {"text": text}


def _schema_or(schema: Any, fallback: Any) -> Any:
    """A remote tool's JSON Schema when it is one (Draft 2020-12), else `fallback`: the
    broker validates every call against it, so a malformed one must not reach it."""
    from jsonschema import Draft202012Validator
    from jsonschema.exceptions import SchemaError

    if not isinstance(schema, dict) or not schema:
        return fallback
    try:
        Draft202012Validator.check_schema(schema)
    except SchemaError:
        return fallback
    return schema


@transaction.atomic
def connection_create(
    *, organization: Any, actor: Any, name: str, url: str, auth_secret: str = ""
) -> Any:
    from agentstudio.audit import events as audit_events
    from tools.models import Connection

    org_admin_assert(actor=actor, organization=organization, what="manage connections")
    if name in RESERVED_CONNECTION_NAMES:
        raise AppError(ErrorCode.VALIDATION_ERROR, reserved_connection_name_message(name))
    connection = Connection(
        organization=organization, name=name, url=url, auth_secret=auth_secret, created_by=actor
    )
    try:
        connection.full_clean()
    except Exception as exc:
        raise AppError(ErrorCode.VALIDATION_ERROR, f"Invalid connection: {exc}") from exc
    connection.save()
    audit_events.connection_changed(
        organization=organization, actor=actor, name=name, change="registered"
    )
    return connection


def connection_refresh(*, connection: Any, actor: Any) -> int:
    """(Re-)imports the server's tools; answers how many it offers. Classifications stay."""
    from agentstudio.audit import events as audit_events
    from tools.models import ConnectionTool

    org_admin_assert(actor=actor, organization=connection.organization, what="manage connections")

    async def work(client: Any) -> Any:
        return await client.list_tools()

    try:
        _guard(connection)
        listed = asyncio.run(
            _session(connection.url, _headers(connection, connection.organization_id), work)
        )
    except Exception as exc:
        connection.last_error = _reason(exc)[:2000]
        connection.save(update_fields=["last_error"])
        raise AppError(
            ErrorCode.AGENT_ERROR,
            f"{connection.name} could not be refreshed: {connection.last_error}",
        ) from exc
    with transaction.atomic():
        seen = []
        for tool in listed.tools:
            local = local_tool_name(tool.name)
            seen.append(local)
            ConnectionTool.objects.update_or_create(
                connection=connection,
                name=local,
                defaults={
                    "remote_name": tool.name,
                    "title": (tool.title or "")[:300],
                    "description": tool.description or "",
                    "input_schema": _schema_or(tool.input_schema, {"type": "object"}),
                    "output_schema": _schema_or(getattr(tool, "output_schema", None), None),
                },
            )
        connection.tools.exclude(name__in=seen).delete()
        connection.refreshed_at, connection.last_error = timezone.now(), ""
        connection.save(update_fields=["refreshed_at", "last_error"])
        audit_events.connection_changed(
            organization=connection.organization,
            actor=actor,
            name=connection.name,
            change=f"refreshed: {len(seen)} tools",
        )
    _cache.clear()
    return len(seen)


@transaction.atomic
def connection_tool_classify(*, tool: Any, actor: Any, risk: str, untrusted: bool) -> Any:
    """An admin sets the risk class (and trust) of an imported tool."""
    from agentstudio.audit import events as audit_events

    org_admin_assert(actor=actor, organization=tool.connection.organization, what="classify tools")
    if risk not in RISK_CLASSES:
        raise AppError(ErrorCode.VALIDATION_ERROR, f"Unknown risk class {risk!r}.")
    tool.risk, tool.untrusted = risk, untrusted
    tool.classified_by, tool.classified_at = actor, timezone.now()
    tool.save(update_fields=["risk", "untrusted", "classified_by", "classified_at"])
    audit_events.connection_changed(
        organization=tool.connection.organization,
        actor=actor,
        name=tool.connection.name,
        change=f"{tool.name} classified {risk}{' (untrusted)' if untrusted else ''}",
    )
    _cache.clear()
    return tool
