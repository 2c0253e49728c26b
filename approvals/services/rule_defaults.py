"""An organization's default who-decides rules for a risk class or approval kind, as its
admins set them in the Django admin; approvals created afterwards take them up."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import AbstractUser
from django.db import transaction

from agentstudio.errors import AppError, ErrorCode
from approvals.models import ApprovalKind, ApprovalRuleDefault
from approvals.risk import RISK_CLASSES
from approvals.rules import MAX_REQUIRED_APPROVALS, SELF_APPROVAL_FORBIDDEN_RISKS

RULE_DEFAULT_TARGETS = (*RISK_CLASSES, *(k for k in ApprovalKind.values if k != "tool_call"))


def _problems(applies_to: str, values: dict[str, Any]) -> list[dict[str, str]]:
    problems = []
    if applies_to not in RULE_DEFAULT_TARGETS:
        problems.append({"path": "/applies_to", "message": "a risk class or approval kind"})
    for name in ("approvers", "escalate_to"):
        names = values.get(name) or []
        if not isinstance(names, list) or not all(isinstance(n, str) and n for n in names):
            problems.append({"path": f"/{name}", "message": "a list of roles or usernames"})
    required = values.get("required_approvals")
    if required is not None and not 1 <= required <= MAX_REQUIRED_APPROVALS:
        problems.append(
            {"path": "/required_approvals", "message": f"from 1 to {MAX_REQUIRED_APPROVALS}"}
        )
    if values.get("exclude_requester") is False and (
        applies_to in SELF_APPROVAL_FORBIDDEN_RISKS or applies_to == ApprovalKind.PROMOTION
    ):
        problems.append(
            {"path": "/exclude_requester", "message": f"nobody approves their own {applies_to}"}
        )
    if bool(values.get("escalate_to")) != bool(values.get("escalate_after_seconds")):
        problems.append(
            {
                "path": "/escalate_to",
                "message": "escalate_to and escalate_after_seconds go together",
            }
        )
    return problems


@transaction.atomic
def approval_rule_default_save(
    *, organization: Any, actor: AbstractUser, applies_to: str, **values: Any
) -> ApprovalRuleDefault:
    """Creates or replaces the organization's default for `applies_to`."""
    problems = _problems(applies_to, values)
    if problems:
        raise AppError(
            ErrorCode.VALIDATION_ERROR,
            "These default rules are not valid: "
            + "; ".join(f"{p['path'][1:]}: {p['message']}" for p in problems),
            details=problems,
        )
    row, _created = ApprovalRuleDefault.objects.update_or_create(
        organization=organization, applies_to=applies_to, defaults=values
    )
    return row
