"""DRF permission classes built on the role table in roles.py."""

from typing import Any

from rest_framework.permissions import BasePermission

from agentstudio.accounts.roles import user_membership


class IsOrganizationMember(BasePermission):
    """Authenticated users who belong to an organization; everyone else gets 401/403."""

    message = "Your account is not a member of any organization; ask an admin to add you."

    def has_permission(self, request: Any, view: Any) -> bool:
        user = request.user
        if not (user and user.is_authenticated):
            return False
        return user_membership(user) is not None
