"""Promotion policy: whether activating a playbook needs a person's approval, and why."""

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from approvals.risk import RiskClass, risk_rank
from playbooks.spec.defaults import StepKind
from playbooks.spec.validator import ToolLookup
from tools.registry import tool_name_is_valid, tool_registry

DEFAULT_PROMOTION_MAX_AUTO_STEPS = 10
# Step kinds that act beyond a fixed, reviewable sequence of calls.
STEP_KINDS_NEEDING_REVIEW = {
    StepKind.AGENT: "an agent step (the model chooses its tool calls)",
    StepKind.PLAYBOOK: "a playbook step (runs another playbook)",
    StepKind.REMOTE_AGENT: "a remote_agent step (calls an agent outside the studio)",
}


@dataclass
class PromotionPolicy:
    """What promoting a spec needs: a person's approval or not, with the reasons."""

    requires_approval: bool
    reasons: list[str] = field(default_factory=list)
    risk_max: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "requires_approval": self.requires_approval,
            "reasons": list(self.reasons),
            "risk_max": self.risk_max,
        }


def configured_max_auto_steps() -> int:
    """AGENTSTUDIO_PROMOTION_MAX_AUTO_STEPS when Django settings are available, else 10."""
    try:
        from django.conf import settings
        from django.core.exceptions import ImproperlyConfigured
    except ImportError:
        return DEFAULT_PROMOTION_MAX_AUTO_STEPS
    try:
        value = getattr(settings, "AGENTSTUDIO_PROMOTION_MAX_AUTO_STEPS", None)
    except (ImproperlyConfigured, ImportError):
        return DEFAULT_PROMOTION_MAX_AUTO_STEPS
    return value if isinstance(value, int) else DEFAULT_PROMOTION_MAX_AUTO_STEPS


def _steps(spec: dict[str, Any]) -> list[dict[str, Any]]:
    steps = spec.get("steps")
    return [step for step in steps if isinstance(step, dict)] if isinstance(steps, list) else []


def _tool_names(spec: dict[str, Any]) -> Iterator[str]:
    """Declared tools, then tools steps use; duplicates and malformed names skipped."""
    declared = spec.get("tools")
    names = list(declared) if isinstance(declared, list) else []
    for step in _steps(spec):
        names.append(step.get("tool"))
        agent = step.get("agent")
        allowed = agent.get("allowed_tools") if isinstance(agent, dict) else None
        names.extend(allowed if isinstance(allowed, list) else [])
    yield from dict.fromkeys(name for name in names if tool_name_is_valid(name))


def promotion_policy(
    spec: Any, *, tool_lookup: ToolLookup | None = None, max_auto_steps: int | None = None
) -> PromotionPolicy:
    """Whether promoting `spec` needs a person; tolerates invalid specs (never raises)."""
    tool_lookup = tool_lookup or tool_registry.get
    if max_auto_steps is None:
        max_auto_steps = configured_max_auto_steps()
    spec = spec if isinstance(spec, dict) else {}
    reasons: list[str] = []
    risk_max: str | None = None
    for name in _tool_names(spec):
        definition = tool_lookup(name)
        if definition is None:
            continue
        if risk_max is None or risk_rank(definition.risk) > risk_rank(risk_max):
            risk_max = definition.risk
        if risk_rank(definition.risk) >= risk_rank(RiskClass.WRITE):
            reasons.append(f"tool {name} has risk {definition.risk} (write or above)")
    steps = _steps(spec)
    for step in steps:
        for kind, description in STEP_KINDS_NEEDING_REVIEW.items():
            if kind in step:
                reasons.append(f"step {step.get('id')!r} is {description}")
    if len(steps) > max_auto_steps:
        reasons.append(
            f"{len(steps)} steps, more than the {max_auto_steps} that promote automatically"
        )
    return PromotionPolicy(requires_approval=bool(reasons), reasons=reasons, risk_max=risk_max)
