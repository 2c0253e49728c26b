"""Reads of the tool broker's data, by who may see them."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet

from agentstudio.accounts.roles import ORG_READ_ROLES, user_membership
from agentstudio.errors import AppError, ErrorCode
from tools.models import Secret


def secret_list_visible(*, user: Any) -> QuerySet[Secret]:
    """The vault's entries (names, never values) of the user's organization: admins,
    approvers and authors see them; runners and viewers are refused."""
    membership = user_membership(user)
    if membership is None or membership.role not in ORG_READ_ROLES:
        raise AppError(ErrorCode.PERMISSION_DENIED, "You may not see the vault.")
    return Secret.objects.filter(organization=membership.organization)
