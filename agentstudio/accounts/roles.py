"""The role table of API.md as functions: the single place that says who may do what."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from agentstudio.accounts.models import Membership, Organization, Role

if TYPE_CHECKING:
    from playbooks.models import Playbook

ORG_WIDE_PLAYBOOK_ROLES = {Role.ADMIN, Role.APPROVER}
AUTHORING_ROLES = {Role.ADMIN, Role.AUTHOR}
DECIDING_ROLES = {Role.ADMIN, Role.APPROVER}
ORG_READ_ROLES = {Role.ADMIN, Role.APPROVER, Role.AUTHOR}
STAFF_ROLES = {Role.ADMIN, Role.APPROVER}


def user_membership(user: Any) -> Membership | None:
    if user is None or not getattr(user, "is_authenticated", False):
        return None
    try:
        return user.membership
    except Membership.DoesNotExist:
        return None


def user_role(user: Any) -> str | None:
    membership = user_membership(user)
    return membership.role if membership else None


def user_organization(user: Any) -> Organization | None:
    membership = user_membership(user)
    return membership.organization if membership else None


def _is_listed(user: Any, playbook: Playbook) -> bool:
    return playbook.allowed_users.filter(pk=user.pk).exists()


def can_see_playbook(user: Any, playbook: Playbook) -> bool:
    membership = user_membership(user)
    if membership is None or membership.organization_id != playbook.organization_id:
        return False
    if membership.role in ORG_WIDE_PLAYBOOK_ROLES:
        return True
    if membership.role in {Role.AUTHOR, Role.RUNNER} and playbook.created_by_id == user.pk:
        return True
    return _is_listed(user, playbook)


def can_author(user: Any) -> bool:
    """Create, fork, import (no playbook yet)."""
    return user_role(user) in AUTHORING_ROLES


def can_edit_playbook(user: Any, playbook: Playbook) -> bool:
    """Edit, validate, promote: admins, and authors on the playbooks they can see."""
    return can_author(user) and can_see_playbook(user, playbook)


def can_manage_playbook_lifecycle(user: Any, playbook: Playbook) -> bool:
    """Demote, archive, restore, delete: admins, and authors on their own playbooks."""
    membership = user_membership(user)
    if membership is None or membership.organization_id != playbook.organization_id:
        return False
    if membership.role == Role.ADMIN:
        return True
    return membership.role == Role.AUTHOR and playbook.created_by_id == user.pk


def can_decide_approvals(user: Any) -> bool:
    return user_role(user) in DECIDING_ROLES


def can_read_org_resources(user: Any) -> bool:
    """Members, credits, ledger, usage, agents, secret names."""
    return user_role(user) in ORG_READ_ROLES


def can_manage_org_resources(user: Any) -> bool:
    return user_role(user) == Role.ADMIN


def org_admin_assert(*, actor: Any, organization: Any, what: str) -> None:
    """Refuses anyone but an admin of `organization` (404 outside it, 403 inside); `None`
    (the system) and superusers pass. `what` finishes "Only admins ..."."""
    from agentstudio.errors import AppError, ErrorCode

    if actor is None or actor.is_superuser:
        return
    membership = user_membership(actor)
    if membership is None or membership.organization_id != organization.pk:
        raise AppError(ErrorCode.NOT_FOUND, "No such organization.")
    if not can_manage_org_resources(actor):
        raise AppError(ErrorCode.PERMISSION_DENIED, f"Only admins {what}.")


def is_staff_role(role: str) -> bool:
    """Admins and approvers work in the Django admin."""
    return role in STAFF_ROLES


def can_start_runs(user: Any, playbook: Playbook) -> bool:
    """Start runs of the playbook, cancel and retry them, answer their questions: admins and
    approvers of its organization, authors on their own playbooks, runners where listed."""
    membership = user_membership(user)
    if membership is None or membership.organization_id != playbook.organization_id:
        return False
    if membership.role in ORG_WIDE_PLAYBOOK_ROLES:
        return True
    if membership.role == Role.AUTHOR:
        return playbook.created_by_id == user.pk
    if membership.role == Role.RUNNER:
        return _is_listed(user, playbook)
    return False


def can_see_runs(user: Any) -> bool:
    """Runs, events and artifacts: every member but viewers (each sees a subset, see
    `playbooks.runs.selectors.run_list_visible`)."""
    role = user_role(user)
    return role is not None and role != Role.VIEWER
