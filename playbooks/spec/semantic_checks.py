"""The semantic rules of a spec beyond its JSON Schema: step ids, references, tools, policy."""

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from approvals.risk import RISK_CLASSES, risk_rank
from approvals.rules import SELF_APPROVAL_FORBIDDEN_RISKS
from playbooks.spec.defaults import (
    APPROVAL_MODE_STRICTNESS,
    APPROVER_ROLE_STRICTNESS,
    BUDGET_LIMITS,
    DEFAULT_APPROVAL_POLICY,
    DEFAULT_MAX_RISK,
    StepKind,
)
from playbooks.spec.schema_errors import meta_schema_validator, schema_problems
from playbooks.spec.templates import template_check, template_step_references
from playbooks.spec.yaml_loader import json_pointer_escape
from tools.registry import ToolDefinition, tool_name_is_valid

# Per step kind, the fields whose strings are templates (rendered when the step runs).
TEMPLATED_STEP_FIELDS = {
    StepKind.LLM: ("prompt", "system"),
    StepKind.AGENT: ("instruction", "completion_criteria"),
    StepKind.APPROVAL: ("title", "description", "payload"),
    StepKind.ASK: ("question",),
    StepKind.PLAYBOOK: ("inputs",),
    StepKind.REMOTE_AGENT: ("input",),
}

_NON_OBJECT_JSON_TYPES = ("array", "string", "boolean", "integer", "number", "null")

ToolLookup = Callable[[str], ToolDefinition | None]


class SpecFindings:
    """Problems found so far, each (path, message) once."""

    def __init__(self) -> None:
        self.errors: dict[tuple[str, str], None] = {}
        self.warnings: dict[tuple[str, str], None] = {}

    def error(self, path: str, message: str) -> None:
        self.errors[(path, message)] = None

    def warning(self, path: str, message: str) -> None:
        self.warnings[(path, message)] = None


@dataclass
class _SpecView:
    """A JSON-clean spec dict with what the semantic checks share."""

    spec: dict[str, Any]
    findings: SpecFindings
    lookup: ToolLookup
    steps: list[tuple[int, dict[str, Any]]] = field(default_factory=list)
    first_index_by_id: dict[str, int] = field(default_factory=dict)


def spec_check_semantics(
    spec: dict[str, Any], *, findings: SpecFindings, lookup: ToolLookup
) -> None:
    """Records every semantic problem of the JSON-clean `spec` in `findings`."""
    view = _SpecView(spec=spec, findings=findings, lookup=lookup)
    steps = spec.get("steps")
    if isinstance(steps, list):
        view.steps = [(index, step) for index, step in enumerate(steps) if isinstance(step, dict)]
    _check_step_ids(view)  # first: the reference checks read first_index_by_id
    _check_templates(view)
    _check_tools(view)
    _check_approval_policy(view)
    for index, step in view.steps:
        if isinstance(step.get("approval"), dict):
            _check_escalation(view, f"/steps/{index}/approval", step["approval"])
    _check_budget(view)
    _check_json_schemas(view)
    _check_agent_steps(view)


def _check_step_ids(view: _SpecView) -> None:
    for index, step in view.steps:
        step_id = step.get("id")
        if not isinstance(step_id, str):
            continue
        if step_id in view.first_index_by_id:
            first = view.first_index_by_id[step_id]
            view.findings.error(
                f"/steps/{index}/id", f"duplicate step id {step_id!r} (step {first} has it too)"
            )
        else:
            view.first_index_by_id[step_id] = index


def _strings_within(value: Any, path: str) -> Iterator[tuple[str, str]]:
    if isinstance(value, str):
        yield path, value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _strings_within(item, f"{path}/{json_pointer_escape(key)}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _strings_within(item, f"{path}/{index}")


def _templated_strings(view: _SpecView) -> Iterator[tuple[str, str, int | None]]:
    """(path, template, index of the step it belongs to or None) for every template."""
    for index, step in view.steps:
        base = f"/steps/{index}"
        for key in ("when", "args"):
            for path, source in _strings_within(step.get(key), f"{base}/{key}"):
                yield path, source, index
        for kind, fields in TEMPLATED_STEP_FIELDS.items():
            body = step.get(kind)
            if not isinstance(body, dict):
                continue
            for name in fields:
                for path, source in _strings_within(body.get(name), f"{base}/{kind}/{name}"):
                    yield path, source, index
    spec = view.spec
    review = spec.get("review")
    review_title = review.get("title") if isinstance(review, dict) else None
    for path, value in (
        ("/outputs", spec.get("outputs")),
        ("/system_prompt", spec.get("system_prompt")),
        ("/review/title", review_title),
    ):
        for string_path, source in _strings_within(value, path):
            yield string_path, source, None


def _check_templates(view: _SpecView) -> None:
    for path, source, step_index in _templated_strings(view):
        for problem in template_check(source):
            message = problem.message
            if problem.kind != "syntax" and problem.line is not None and "\n" in source:
                message = f"{message} (template line {problem.line})"
            view.findings.error(path, message)
        for reference in sorted(template_step_references(source)):
            if reference.startswith("_"):
                continue  # template_check already refused it
            message = _reference_problem(view, reference, step_index)
            if message:
                view.findings.error(path, message)


def _reference_problem(view: _SpecView, reference: str, step_index: int | None) -> str | None:
    referenced_index = view.first_index_by_id.get(reference)
    if referenced_index is None:
        return f"unknown step {reference!r} (steps.{reference})"
    if step_index is None or referenced_index < step_index:
        return None
    if referenced_index == step_index:
        return f"a step cannot use its own output (steps.{reference})"
    return f"forward reference: step {reference!r} runs after this step"


def _check_tools(view: _SpecView) -> None:
    declared = view.spec.get("tools")
    declared = declared if isinstance(declared, list) else []
    declared_names = {name for name in declared if isinstance(name, str)}
    max_risk = view.spec.get("max_risk", DEFAULT_MAX_RISK)
    for index, name in enumerate(declared):
        if not tool_name_is_valid(name):
            continue
        definition = view.lookup(name)
        if definition is None:
            view.findings.error(f"/tools/{index}", f"unknown tool {name!r}")
        elif max_risk in RISK_CLASSES and risk_rank(definition.risk) > risk_rank(max_risk):
            view.findings.error(
                f"/tools/{index}",
                f"tool {name!r} has risk {definition.risk!r}, above max_risk {max_risk!r}",
            )
    used = _check_used_tools(view, declared_names)
    for index, name in enumerate(declared):
        if tool_name_is_valid(name) and name not in used and view.lookup(name) is not None:
            view.findings.warning(
                f"/tools/{index}", f"tool {name!r} is declared but no step uses it"
            )


def _check_used_tools(view: _SpecView, declared_names: set[str]) -> set[str]:
    """Checks the tools steps use (step tool, agent allowed_tools); returns their names."""
    used: set[str] = set()
    for index, step in view.steps:
        uses = [(f"/steps/{index}/tool", step.get("tool"))]
        agent = step.get("agent")
        allowed = agent.get("allowed_tools") if isinstance(agent, dict) else None
        if isinstance(allowed, list):
            base = f"/steps/{index}/agent/allowed_tools"
            uses += [(f"{base}/{position}", name) for position, name in enumerate(allowed)]
        for path, name in uses:
            if not tool_name_is_valid(name):
                continue
            used.add(name)
            if name in declared_names:
                continue
            if view.lookup(name) is None:
                view.findings.error(path, f"unknown tool {name!r}")
            else:
                view.findings.error(path, f"tool {name!r} is not declared in tools; add it there")
        _check_dry_run(view, index, step)
    return used


def _check_dry_run(view: _SpecView, index: int, step: dict[str, Any]) -> None:
    name = step.get("tool")
    if step.get("dry_run") is True and tool_name_is_valid(name):
        definition = view.lookup(name)
        if definition is not None and not definition.has_dry_run:
            view.findings.warning(f"/steps/{index}/dry_run", f"tool {name!r} has no dry run")


def _strictness(scale: dict[str, int], value: Any) -> int | None:
    return scale.get(value) if isinstance(value, str) else None


def _check_approval_policy(view: _SpecView) -> None:
    policy = view.spec.get("approval_policy")
    if not isinstance(policy, dict):
        return
    for risk, rule in policy.items():
        default = DEFAULT_APPROVAL_POLICY.get(risk)
        if default is None or not isinstance(rule, dict):
            continue
        mode, default_mode = rule.get("mode"), default["mode"]
        strictness = _strictness(APPROVAL_MODE_STRICTNESS, mode)
        if strictness is not None and strictness < APPROVAL_MODE_STRICTNESS[default_mode]:
            view.findings.error(
                f"/approval_policy/{risk}/mode",
                "approval_policy may only tighten the defaults: "
                f"{risk} is {default_mode!r} by default, {mode!r} is looser",
            )
        role, default_role = rule.get("approver_role"), default.get("approver_role")
        role_strictness = _strictness(APPROVER_ROLE_STRICTNESS, role)
        if (
            default_role
            and role_strictness is not None
            and role_strictness < (APPROVER_ROLE_STRICTNESS[default_role])
        ):
            view.findings.error(
                f"/approval_policy/{risk}/approver_role",
                "approval_policy may only tighten the defaults: "
                f"{risk} needs approver_role {default_role!r} by default, {role!r} is looser",
            )
        if rule.get("exclude_requester") is False and risk in SELF_APPROVAL_FORBIDDEN_RISKS:
            view.findings.error(
                f"/approval_policy/{risk}/exclude_requester",
                "approval_policy may only tighten the defaults: nobody approves their own "
                f"{risk} call, so exclude_requester cannot be false",
            )
        _check_escalation(view, f"/approval_policy/{risk}", rule)


def _check_escalation(view: _SpecView, path: str, rule: dict[str, Any]) -> None:
    """escalate_to and escalate_after_seconds make sense only together."""
    if rule.get("escalate_to") and not rule.get("escalate_after_seconds"):
        view.findings.error(
            f"{path}/escalate_after_seconds",
            "escalate_to needs escalate_after_seconds: how long to wait before escalating",
        )
    if rule.get("escalate_after_seconds") and not rule.get("escalate_to"):
        view.findings.error(
            f"{path}/escalate_to", "escalate_after_seconds needs escalate_to: whom to escalate to"
        )


def _check_budget(view: _SpecView) -> None:
    budget = view.spec.get("budget")
    if not isinstance(budget, dict):
        return
    for name in BUDGET_LIMITS:
        value = budget.get(name)
        if isinstance(value, int | float) and not isinstance(value, bool) and value <= 0:
            view.findings.error(f"/budget/{name}", f"budget.{name} must be positive")


def _declared_json_schemas(view: _SpecView) -> Iterator[tuple[str, Any]]:
    yield "/inputs", view.spec.get("inputs")
    for index, step in view.steps:
        for kind, name in ((StepKind.LLM, "output_schema"), (StepKind.ASK, "schema")):
            body = step.get(kind)
            if isinstance(body, dict):
                yield f"/steps/{index}/{kind}/{name}", body.get(name)


def _check_json_schemas(view: _SpecView) -> None:
    for path, schema in _declared_json_schemas(view):
        if not isinstance(schema, dict):
            continue
        for problem_path, message in schema_problems(meta_schema_validator(), schema):
            view.findings.error(path + problem_path, f"not a valid JSON Schema: {message}")
        for reference_path, reference in _schema_references(schema, path):
            if not reference.startswith("#"):
                view.findings.error(
                    reference_path, "only references inside the schema ('#/...') are allowed"
                )
    inputs = view.spec.get("inputs")
    declared_type = inputs.get("type") if isinstance(inputs, dict) else None
    if declared_type in _NON_OBJECT_JSON_TYPES:
        view.findings.error("/inputs/type", "run inputs are an object: use type: object")


def _schema_references(schema: Any, path: str) -> Iterator[tuple[str, str]]:
    if isinstance(schema, dict):
        for key, value in schema.items():
            value_path = f"{path}/{json_pointer_escape(key)}"
            if key in ("$ref", "$dynamicRef") and isinstance(value, str):
                yield value_path, value
            else:
                yield from _schema_references(value, value_path)
    elif isinstance(schema, list):
        for index, item in enumerate(schema):
            yield from _schema_references(item, f"{path}/{index}")


def _check_agent_steps(view: _SpecView) -> None:
    for index, step in view.steps:
        agent = step.get("agent")
        if not isinstance(agent, dict) or agent.get("on_failure") != "call_subagent":
            continue
        if not agent.get("subagent"):
            view.findings.error(
                f"/steps/{index}/agent/on_failure",
                "on_failure: call_subagent needs subagent (the slug of the playbook to call)",
            )
