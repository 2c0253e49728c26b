"""Reads for playbooks: what a user may see, versions, blueprints, YAML diffs."""

import difflib
from typing import Any

from django.db.models import Prefetch, Q, QuerySet

from agentstudio.accounts.models import Role
from agentstudio.accounts.roles import ORG_WIDE_PLAYBOOK_ROLES, user_membership
from approvals.models import Approval, ApprovalKind, ApprovalStatus
from playbooks.models import Blueprint, Playbook, PlaybookVersion
from playbooks.spec.yaml_loader import spec_to_yaml


def playbook_list_visible(*, user: Any) -> QuerySet[Playbook]:
    """Admins and approvers: the organization's; authors, runners: own + listed; viewers: listed."""
    membership = user_membership(user)
    if membership is None:
        return Playbook.objects.none()
    playbooks = Playbook.objects.filter(organization_id=membership.organization_id)
    if membership.role in ORG_WIDE_PLAYBOOK_ROLES:
        visible = playbooks
    elif membership.role in (Role.AUTHOR, Role.RUNNER):
        visible = playbooks.filter(Q(created_by=user) | Q(allowed_users=user)).distinct()
    else:
        visible = playbooks.filter(allowed_users=user).distinct()
    pending_promotions = Prefetch(
        "approvals",
        queryset=Approval.objects.filter(
            kind=ApprovalKind.PROMOTION, status=ApprovalStatus.PENDING
        ),
    )
    return visible.select_related("created_by", "blueprint").prefetch_related(
        "allowed_users", pending_promotions
    )


def playbook_versions(*, playbook: Playbook) -> QuerySet[PlaybookVersion]:
    return playbook.versions.select_related("activated_by").order_by("-number")


def playbook_version_diff(*, older: PlaybookVersion, newer: PlaybookVersion) -> str:
    """Unified diff of the two specs as YAML."""
    return "".join(
        difflib.unified_diff(
            spec_to_yaml(older.spec).splitlines(keepends=True),
            spec_to_yaml(newer.spec).splitlines(keepends=True),
            fromfile=f"v{older.number}",
            tofile=f"v{newer.number}",
        )
    )


def blueprint_list() -> QuerySet[Blueprint]:
    return Blueprint.objects.all()
