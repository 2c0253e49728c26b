"""Reads of the tool broker's data, by who may see them."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet

from agentstudio.accounts.roles import ORG_READ_ROLES, user_membership
from agentstudio.errors import AppError, ErrorCode
from tools.models import ConnectionTool, Secret
from tools.registry import ToolDefinition, tool_registry
from tools.scope import ToolScope


def secret_list_visible(*, user: Any) -> QuerySet[Secret]:
    """The vault's entries (names, never values) of the user's organization: admins,
    approvers and authors see them; runners and viewers are refused."""
    membership = user_membership(user)
    if membership is None or membership.role not in ORG_READ_ROLES:
        raise AppError(ErrorCode.PERMISSION_DENIED, "You may not see the vault.")
    return Secret.objects.filter(organization=membership.organization)


def tool_list_visible(*, organization_id: Any) -> list[ToolDefinition]:
    """The tools an organization's members may see, sorted by name: everyone's (built-in,
    skill and plugin tools) and those of the organization's own connections."""
    from tools.connections import connection_tool_definition_of

    definitions = tool_registry.all()
    rows = ConnectionTool.objects.filter(connection__organization_id=organization_id)
    definitions.extend(
        connection_tool_definition_of(row) for row in rows.select_related("connection")
    )
    return sorted(definitions, key=lambda definition: definition.name)


def tool_list_in_scope(*, scope: ToolScope) -> list[ToolDefinition]:
    """The tools a run scope token may call, sorted by name: in its scope, within its risk."""
    definitions = []
    for name in sorted(scope.allowed_tools):
        definition = tool_registry.get(name)
        if (
            definition is not None
            and definition.visible_to(scope.organization_id)
            and scope.allows_risk(definition.risk)
        ):
            definitions.append(definition)
    return definitions
