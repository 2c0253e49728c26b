"""Turning what a user submitted (a spec object or YAML text) into a checked spec, and the
dry-run plan of a spec."""

from dataclasses import dataclass, field
from typing import Any

from agentstudio.errors import AppError, ErrorCode
from approvals.models import ApprovalKind
from playbooks.spec.defaults import StepKind
from playbooks.spec.promotion import PromotionPolicy, promotion_policy
from playbooks.spec.validator import SpecReport, spec_validate, spec_validate_yaml
from playbooks.spec.yaml_loader import SpecYAMLError, spec_parse_yaml
from tools.policy import ApprovalMode
from tools.registry import tool_lookup_for


@dataclass
class CheckedSpec:
    spec: dict[str, Any] | None
    report: SpecReport
    source_yaml: str = ""
    policy: PromotionPolicy | None = field(default=None)

    @property
    def valid(self) -> bool:
        return self.spec is not None and not self.report.errors


def spec_check(
    *, spec: Any = None, spec_yaml: str | None = None, organization_id: Any = None
) -> CheckedSpec:
    """Validates either form; YAML errors carry 1-based line and column. The spec may use
    the tools everyone has and those of `organization_id`'s connections (none without it)."""
    lookup = tool_lookup_for(organization_id)
    if spec_yaml is not None:
        parsed, report = spec_validate_yaml(spec_yaml, tool_lookup=lookup)
        checked = CheckedSpec(spec=parsed, report=report, source_yaml=spec_yaml)
    else:
        checked = CheckedSpec(
            spec=spec if isinstance(spec, dict) else None,
            report=spec_validate(spec, tool_lookup=lookup),
        )
    if checked.valid:
        checked.policy = promotion_policy(checked.spec, tool_lookup=lookup)
    return checked


def spec_check_stored(
    *, spec: dict[str, Any], source_yaml: str = "", organization_id: Any = None
) -> CheckedSpec:
    """Re-validates a stored spec, with YAML positions when its source text still matches
    (tools as in `spec_check`)."""
    positions = None
    if source_yaml:
        try:
            parsed, positions = spec_parse_yaml(source_yaml)
        except SpecYAMLError:
            parsed = None
        if parsed != spec:
            positions = None
    lookup = tool_lookup_for(organization_id)
    report = spec_validate(spec, positions=positions, tool_lookup=lookup)
    checked = CheckedSpec(spec=spec, report=report, source_yaml=source_yaml)
    if checked.valid:
        checked.policy = promotion_policy(spec, tool_lookup=lookup)
    return checked


def spec_require_valid(checked: CheckedSpec) -> dict[str, Any]:
    """The spec, or a 400 listing every problem with its path, line and column."""
    if checked.valid:
        assert checked.spec is not None
        return checked.spec
    details = [problem.as_dict() for problem in checked.report.errors]
    if not details:
        details = [{"path": "", "message": "The spec must be a mapping."}]
    count = len(details)
    raise AppError(
        ErrorCode.VALIDATION_ERROR,
        f"The spec has {count} problem{'s' if count != 1 else ''}: {details[0]['message']}",
        details=details,
    )


_PERSON_KINDS = {StepKind.APPROVAL: ApprovalKind.GATE, StepKind.ASK: ApprovalKind.QUESTION}


def spec_dry_run_plan(spec: dict[str, Any]) -> dict[str, Any]:
    """What a run would do, step by step, without executing anything: kinds, tools, risks,
    and where policy would stop for a person."""
    from playbooks.spec.defaults import (
        spec_effective_approval_policy,
        spec_effective_budget,
        step_kind,
    )
    from tools.registry import tool_registry

    policy = spec_effective_approval_policy(spec)
    steps = []
    for step in spec.get("steps", []):
        kind = step_kind(step)
        row: dict[str, Any] = {"id": step.get("id"), "kind": kind}
        if "when" in step:
            row["when"] = step["when"]
        if kind in _PERSON_KINDS:
            row["pauses_for"] = _PERSON_KINDS[kind]
        if kind == StepKind.TOOL:
            definition = tool_registry.get(step["tool"])
            if definition is not None:
                mode = policy.get(definition.risk, {}).get("mode", ApprovalMode.ALLOW)
                row.update(tool=definition.name, risk=definition.risk, approval_mode=mode)
                if mode != ApprovalMode.ALLOW:
                    row["pauses_for"] = ApprovalKind.TOOL_CALL
        if kind == StepKind.AGENT:
            row["allowed_tools"] = step["agent"].get("allowed_tools", [])
        steps.append(row)
    return {"steps": steps, "budget": spec_effective_budget(spec), "review": "review" in spec}
