"""Checking a playbook spec against its JSON Schema and semantic rules, every problem at once."""

import difflib
import functools
import json
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError, best_match

from playbooks.spec.defaults import (
    APPROVAL_MODE_STRICTNESS,
    APPROVER_ROLE_STRICTNESS,
    DEFAULT_APPROVAL_POLICY,
    DEFAULT_MAX_RISK,
)
from playbooks.spec.templates import template_check, template_step_references
from playbooks.spec.yaml_loader import SpecYAMLError, json_pointer_escape, spec_parse_yaml
from tools.registry import (
    RISK_CLASSES,
    ToolDefinition,
    risk_rank,
    tool_name_is_valid,
    tool_registry,
)

SPEC_SCHEMA_PATH = Path(__file__).resolve().parent.parent / "schema" / "playbook.schema.json"
MAX_SPEC_DEPTH = 64
CUSTOM_MESSAGES_KEYWORD = "x-error-messages"
BUDGET_LIMITS = ("max_usd", "max_tokens", "max_wall_seconds", "max_tool_calls")
# Per step kind, the fields whose strings are templates (rendered when the step runs).
TEMPLATED_STEP_FIELDS = {
    "llm": ("prompt", "system"),
    "agent": ("instruction", "completion_criteria"),
    "approval": ("title", "description", "payload"),
    "ask": ("question",),
    "playbook": ("inputs",),
    "remote_agent": ("input",),
}
_JSON_TYPE_NAMES = {
    dict: "object",
    list: "array",
    str: "string",
    bool: "boolean",
    int: "integer",
    float: "number",
    type(None): "null",
}

_NON_OBJECT_JSON_TYPES = ("array", "string", "boolean", "integer", "number", "null")

ToolLookup = Callable[[str], ToolDefinition | None]


@dataclass
class SpecProblem:
    """One problem: a JSON Pointer into the spec, what is wrong, and where in the YAML."""

    path: str
    message: str
    line: int | None = None
    column: int | None = None

    def as_dict(self) -> dict[str, Any]:
        problem: dict[str, Any] = {"path": self.path, "message": self.message}
        if self.line is not None:
            problem.update(line=self.line, column=self.column)
        return problem


@dataclass
class SpecReport:
    """Everything wrong with a spec (errors) and worth a look (warnings)."""

    errors: list[SpecProblem] = field(default_factory=list)
    warnings: list[SpecProblem] = field(default_factory=list)

    @property
    def valid(self) -> bool:
        return not self.errors

    def as_dict(self) -> dict[str, Any]:
        return {
            "valid": self.valid,
            "errors": [problem.as_dict() for problem in self.errors],
            "warnings": [problem.as_dict() for problem in self.warnings],
        }


class _SpecTooDeep(Exception):
    def __init__(self, path: str) -> None:
        super().__init__(path)
        self.path = path


class _Findings:
    """Problems found so far, each (path, message) once."""

    def __init__(self) -> None:
        self.errors: dict[tuple[str, str], None] = {}
        self.warnings: dict[tuple[str, str], None] = {}

    def error(self, path: str, message: str) -> None:
        self.errors[(path, message)] = None

    def warning(self, path: str, message: str) -> None:
        self.warnings[(path, message)] = None

    def report(self, positions: dict[str, tuple[int, int]]) -> SpecReport:
        return SpecReport(
            errors=_located(self.errors, positions), warnings=_located(self.warnings, positions)
        )


@dataclass
class _SpecView:
    """A JSON-clean spec dict with what the semantic checks share."""

    spec: dict[str, Any]
    findings: _Findings
    lookup: ToolLookup
    steps: list[tuple[int, dict[str, Any]]] = field(default_factory=list)
    first_index_by_id: dict[str, int] = field(default_factory=dict)


def _pointer_sort_key(path: str) -> tuple[tuple[int, int | str], ...]:
    segments = path.split("/")[1:] if path else []
    return tuple((0, int(part)) if part.isdigit() else (1, part) for part in segments)


def _position(path: str, positions: dict[str, tuple[int, int]]) -> tuple[int, int] | None:
    """Where the value at `path` starts, or its nearest ancestor that has a position."""
    candidate = path
    while candidate not in positions:
        if not candidate:
            return None
        candidate = candidate.rsplit("/", 1)[0]
    return positions[candidate]


def _located(
    found: dict[tuple[str, str], None], positions: dict[str, tuple[int, int]]
) -> list[SpecProblem]:
    problems = []
    for path, message in found:
        line, column = _position(path, positions) or (None, None)
        problems.append(SpecProblem(path=path, message=message, line=line, column=column))
    if positions:
        return sorted(
            problems,
            key=lambda problem: (
                problem.line or 0,
                problem.column or 0,
                _pointer_sort_key(problem.path),
            ),
        )
    return sorted(problems, key=lambda problem: _pointer_sort_key(problem.path))


def spec_validate(
    spec: Any,
    *,
    positions: dict[str, tuple[int, int]] | None = None,
    tool_lookup: ToolLookup | None = None,
) -> SpecReport:
    """Every schema and semantic problem of `spec`; never raises, whatever `spec` is."""
    findings = _Findings()
    try:
        _check_spec(spec, findings=findings, lookup=tool_lookup or tool_registry.get)
    except Exception as error:
        findings.error("", f"the spec could not be checked completely ({type(error).__name__})")
    return findings.report(positions or {})


def spec_validate_yaml(
    text: str, *, tool_lookup: ToolLookup | None = None
) -> tuple[dict[str, Any] | None, SpecReport]:
    """The parsed spec (None when the YAML is unreadable) and its report, with lines."""
    try:
        spec, positions = spec_parse_yaml(text)
    except SpecYAMLError as error:
        problem = SpecProblem(path="", message=error.message, line=error.line, column=error.column)
        return None, SpecReport(errors=[problem])
    return spec, spec_validate(spec, positions=positions, tool_lookup=tool_lookup)


def _check_spec(spec: Any, *, findings: _Findings, lookup: ToolLookup) -> None:
    try:
        clean = _json_clean(spec, findings=findings, path="", depth=0)
    except _SpecTooDeep as too_deep:
        findings.error(too_deep.path, f"the spec is nested more than {MAX_SPEC_DEPTH} levels deep")
        return
    _check_schema(clean, findings=findings)
    if not isinstance(clean, dict):
        return
    view = _SpecView(spec=clean, findings=findings, lookup=lookup)
    steps = clean.get("steps")
    if isinstance(steps, list):
        view.steps = [(index, step) for index, step in enumerate(steps) if isinstance(step, dict)]
    _check_step_ids(view)
    _check_templates(view)
    _check_tools(view)
    _check_approval_policy(view)
    _check_budget(view)
    _check_json_schemas(view)
    _check_agent_steps(view)


# --- JSON shape -------------------------------------------------------------------------


def _json_clean(value: Any, *, findings: _Findings, path: str, depth: int) -> Any:
    """A JSON-only copy of `value`; what is not JSON is reported and replaced by None."""
    if depth > MAX_SPEC_DEPTH:
        raise _SpecTooDeep(path)
    if isinstance(value, dict):
        clean = {}
        for key, item in value.items():
            if not isinstance(key, str):
                findings.error(path, f"keys must be strings, not {type(key).__name__}")
                key = str(key)
            item_path = f"{path}/{json_pointer_escape(key)}"
            clean[key] = _json_clean(item, findings=findings, path=item_path, depth=depth + 1)
        return clean
    if isinstance(value, list | tuple):
        return [
            _json_clean(item, findings=findings, path=f"{path}/{index}", depth=depth + 1)
            for index, item in enumerate(value)
        ]
    if isinstance(value, float) and not math.isfinite(value):
        findings.error(path, "must be a finite number")
        return None
    if value is None or isinstance(value, str | bool | int | float):
        return value
    findings.error(path, f"must be a JSON value, not {type(value).__name__}")
    return None


# --- JSON Schema --------------------------------------------------------------------------


@functools.cache
def spec_json_schema() -> dict[str, Any]:
    """The playbook spec JSON Schema (Draft 2020-12) shipped in playbooks/schema/."""
    return json.loads(SPEC_SCHEMA_PATH.read_text(encoding="utf-8"))


@functools.cache
def _spec_schema_validator() -> Draft202012Validator:
    return Draft202012Validator(spec_json_schema())


@functools.cache
def _meta_schema_validator() -> Draft202012Validator:
    return Draft202012Validator(
        Draft202012Validator.META_SCHEMA, format_checker=Draft202012Validator.FORMAT_CHECKER
    )


def _check_schema(spec: Any, *, findings: _Findings) -> None:
    for path, message in _schema_problems(_spec_schema_validator(), spec):
        findings.error(path, message)


def _schema_problems(validator: Draft202012Validator, instance: Any) -> list[tuple[str, str]]:
    """Readable (path, message) pairs, at most one per problem, at the deepest useful path."""
    raw = [
        problem for error in validator.iter_errors(instance) for problem in _error_problems(error)
    ]
    # A value of the wrong type fails most other keywords too; the type error says it all.
    mistyped = {path for path, _message, keyword in raw if keyword == "type"}
    problems = [
        (_pointer(path), message)
        for path, message, keyword in raw
        if keyword == "type" or path not in mistyped
    ]
    return list(dict.fromkeys(problems))


def _pointer(path: tuple[Any, ...]) -> str:
    return "".join(f"/{json_pointer_escape(str(segment))}" for segment in path)


def _error_problems(error: ValidationError) -> list[tuple[tuple[Any, ...], str, str]]:
    path = tuple(error.absolute_path)
    keyword = str(error.validator)
    schema = error.schema if isinstance(error.schema, dict) else {}
    custom = schema.get(CUSTOM_MESSAGES_KEYWORD, {}).get(keyword)
    if custom:
        return [(path, custom, keyword)]
    if keyword in ("oneOf", "anyOf") and error.context:
        return _error_problems(best_match(error.context))
    if isinstance(error.instance, dict | list):
        located = _container_problems(error, path=path, keyword=keyword, schema=schema)
        if located is not None:
            return [(problem_path, message, keyword) for problem_path, message in located]
    return [(path, _keyword_message(error), keyword)]


def _container_problems(
    error: ValidationError, *, path: tuple[Any, ...], keyword: str, schema: dict[str, Any]
) -> list[tuple[tuple[Any, ...], str]] | None:
    """Problems of an object or array, each at the member it is about; None when generic."""
    instance = error.instance
    if keyword == "additionalProperties" and isinstance(instance, dict):
        known = list(schema.get("properties", {}))
        return [
            ((*path, name), _unknown_property_message(name, known))
            for name in instance
            if name not in known
        ]
    if keyword == "required" and isinstance(instance, dict):
        missing = [name for name in error.validator_value if name not in instance]
        return [(path, f"missing required property {name!r}") for name in missing]
    if keyword == "dependentRequired" and isinstance(instance, dict):
        return [
            ((*path, name), f"{name!r} is only allowed together with {needed!r}")
            for name, needs in error.validator_value.items()
            if name in instance
            for needed in needs
            if needed not in instance
        ]
    if keyword == "uniqueItems" and isinstance(instance, list):
        return [((*path, index), message) for index, message in _duplicates(instance)]
    return None


def _unknown_property_message(name: str, known: list[str]) -> str:
    close = difflib.get_close_matches(name, known, n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    return f"unknown property {name!r}{hint}"


def _duplicates(items: list[Any]) -> list[tuple[int, str]]:
    first_index: dict[str, int] = {}
    duplicates = []
    for index, item in enumerate(items):
        canonical = json.dumps(item, sort_keys=True, default=str)
        if canonical in first_index:
            duplicates.append((index, f"duplicate of item {first_index[canonical]}"))
        else:
            first_index[canonical] = index
    return duplicates or [(0, "items must be unique")]


def _type_phrase(type_name: str) -> str:
    if type_name == "null":
        return "null"
    return f"an {type_name}" if type_name[0] in "aeiou" else f"a {type_name}"


def _keyword_message(error: ValidationError) -> str:
    value = error.validator_value
    keyword = error.validator
    if keyword == "type":
        expected = value if isinstance(value, list) else [value]
        found = _JSON_TYPE_NAMES.get(type(error.instance), type(error.instance).__name__)
        return f"must be {' or '.join(map(_type_phrase, expected))}, not {_type_phrase(found)}"
    if keyword == "enum":
        return f"must be one of: {', '.join(json.dumps(option) for option in value)}"
    if keyword == "const":
        return f"must be {json.dumps(value)}"
    if keyword == "minLength":
        return "must not be empty" if value == 1 else f"must be at least {value} characters long"
    messages = {
        "maxLength": f"must be at most {value} characters long",
        "minItems": f"must have at least {value} item{'s' if value != 1 else ''}",
        "maxItems": f"must have at most {value} items",
        "maxProperties": f"must have at most {value} entries",
        "minimum": f"must be at least {value}",
        "maximum": f"must be at most {value}",
        "exclusiveMinimum": f"must be greater than {value}",
        "exclusiveMaximum": f"must be less than {value}",
        "pattern": f"must match the pattern {value}",
    }
    if keyword in messages:
        return messages[keyword]
    message = error.message
    return message if len(message) <= 200 else message[:197] + "..."


# --- Semantics ----------------------------------------------------------------------------


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
        for kind, name in (("llm", "output_schema"), ("ask", "schema")):
            body = step.get(kind)
            if isinstance(body, dict):
                yield f"/steps/{index}/{kind}/{name}", body.get(name)


def _check_json_schemas(view: _SpecView) -> None:
    for path, schema in _declared_json_schemas(view):
        if not isinstance(schema, dict):
            continue
        for problem_path, message in _schema_problems(_meta_schema_validator(), schema):
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
