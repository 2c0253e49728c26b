"""Defaults a playbook gets for what its spec leaves out: budget, approval policy, max risk."""

import copy
from typing import Any

from approvals.risk import RISK_CLASSES, RiskClass
from tools.policy import ApprovalMode


class StepKind:
    """The kinds of step a spec may hold; a step's kind is the key that carries its body."""

    TOOL = "tool"
    LLM = "llm"
    AGENT = "agent"
    APPROVAL = "approval"
    ASK = "ask"
    PLAYBOOK = "playbook"
    REMOTE_AGENT = "remote_agent"


# The spec's vocabulary, defined once: a step's kind is the first of these keys it carries.
STEP_KINDS = (
    StepKind.TOOL,
    StepKind.LLM,
    StepKind.AGENT,
    StepKind.APPROVAL,
    StepKind.ASK,
    StepKind.PLAYBOOK,
    StepKind.REMOTE_AGENT,
)
BUDGET_LIMITS = ("max_usd", "max_tokens", "max_wall_seconds", "max_tool_calls")


def step_kind(step: dict[str, Any]) -> str:
    return next((kind for kind in STEP_KINDS if kind in step), "unknown")


DEFAULT_MAX_RISK = RiskClass.WRITE
DEFAULT_BUDGET: dict[str, Any] = {
    "max_usd": 5,
    "max_tokens": 1_000_000,
    "max_wall_seconds": 3600,
    "max_tool_calls": 1000,
    "on_breach": "pause",
}
DEFAULT_APPROVAL_POLICY: dict[str, dict[str, Any]] = {
    RiskClass.READ: {"mode": ApprovalMode.ALLOW},
    RiskClass.COMPUTE: {"mode": ApprovalMode.ALLOW},
    RiskClass.WRITE: {"mode": ApprovalMode.ALLOW},
    # an approved send is made only after its undo window, inside which a person may take
    # the approval back
    RiskClass.EXTERNAL_SEND: {"mode": ApprovalMode.APPROVE, "undo_seconds": 5},
    RiskClass.DESTRUCTIVE: {"mode": ApprovalMode.DRY_RUN_THEN_APPROVE},
    RiskClass.ADMIN: {"mode": ApprovalMode.APPROVE, "approver_role": "admin"},
    RiskClass.SECRET: {"mode": ApprovalMode.DENY},
}
# Higher is stricter; a playbook may only move a risk class up this scale.
APPROVAL_MODE_STRICTNESS: dict[str, int] = {
    ApprovalMode.ALLOW: 0,
    ApprovalMode.APPROVE: 1,
    ApprovalMode.DRY_RUN_THEN_APPROVE: 2,
    ApprovalMode.DENY: 3,
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
