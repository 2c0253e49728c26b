"""Defaults a playbook gets for what its spec leaves out: budget, approval policy, max risk."""

import copy
from typing import Any

from tools.registry import RISK_CLASSES

# The spec's vocabulary, defined once: a step's kind is the first of these keys it carries.
STEP_KINDS = ("tool", "llm", "agent", "approval", "ask", "playbook", "remote_agent")
BUDGET_LIMITS = ("max_usd", "max_tokens", "max_wall_seconds", "max_tool_calls")


def step_kind(step: dict[str, Any]) -> str:
    return next((kind for kind in STEP_KINDS if kind in step), "unknown")


DEFAULT_MAX_RISK = "write"
DEFAULT_BUDGET: dict[str, Any] = {
    "max_usd": 5,
    "max_tokens": 1_000_000,
    "max_wall_seconds": 3600,
    "max_tool_calls": 1000,
    "on_breach": "pause",
}
DEFAULT_APPROVAL_POLICY: dict[str, dict[str, Any]] = {
    "read": {"mode": "allow"},
    "compute": {"mode": "allow"},
    "write": {"mode": "allow"},
    # an approved send is made only after its undo window, inside which a person may take
    # the approval back
    "external_send": {"mode": "approve", "undo_seconds": 5},
    "destructive": {"mode": "dry_run_then_approve"},
    "admin": {"mode": "approve", "approver_role": "admin"},
    "secret": {"mode": "deny"},
}
# Higher is stricter; a playbook may only move a risk class up this scale.
APPROVAL_MODE_STRICTNESS: dict[str, int] = {
    "allow": 0,
    "approve": 1,
    "dry_run_then_approve": 2,
    "deny": 3,
}
# Higher is stricter: only admins may decide when approver_role is "admin".
APPROVER_ROLE_STRICTNESS: dict[str, int] = {"approver": 0, "admin": 1}


def spec_effective_budget(spec: Any) -> dict[str, Any]:
    """The budget a run of this spec gets: the spec's values over DEFAULT_BUDGET."""
    budget = copy.deepcopy(DEFAULT_BUDGET)
    declared = spec.get("budget") if isinstance(spec, dict) else None
    if isinstance(declared, dict):
        budget.update({key: value for key, value in declared.items() if key in DEFAULT_BUDGET})
    return budget


def spec_effective_approval_policy(spec: Any) -> dict[str, dict[str, Any]]:
    """Per risk class, the spec's rule merged over the default rule for that class."""
    policy = copy.deepcopy(DEFAULT_APPROVAL_POLICY)
    declared = spec.get("approval_policy") if isinstance(spec, dict) else None
    if isinstance(declared, dict):
        for risk, rule in declared.items():
            if risk in policy and isinstance(rule, dict):
                policy[risk].update(copy.deepcopy(rule))
    return policy


def spec_effective_max_risk(spec: Any) -> str:
    """The highest tool risk the spec allows (DEFAULT_MAX_RISK when left out)."""
    declared = spec.get("max_risk") if isinstance(spec, dict) else None
    return declared if declared in RISK_CLASSES else DEFAULT_MAX_RISK
