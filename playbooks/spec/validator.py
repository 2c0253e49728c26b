"""Checking a playbook spec against its JSON Schema and semantic rules, every problem at once."""

import math
from dataclasses import dataclass, field
from typing import Any

from agentstudio.api.request_checks import text_problem
from playbooks.spec.schema_errors import schema_problems, spec_json_schema, spec_schema_validator
from playbooks.spec.semantic_checks import SpecFindings, ToolLookup, spec_check_semantics
from playbooks.spec.yaml_loader import SpecYAMLError, json_pointer_escape, spec_parse_yaml
from tools.registry import tool_registry

__all__ = [
    "MAX_SPEC_DEPTH",
    "SpecProblem",
    "SpecReport",
    "ToolLookup",
    "spec_json_schema",
    "spec_validate",
    "spec_validate_yaml",
]

MAX_SPEC_DEPTH = 64


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


def _report(findings: SpecFindings, positions: dict[str, tuple[int, int]]) -> SpecReport:
    return SpecReport(
        errors=_located(findings.errors, positions),
        warnings=_located(findings.warnings, positions),
    )


def spec_validate(
    spec: Any,
    *,
    positions: dict[str, tuple[int, int]] | None = None,
    tool_lookup: ToolLookup | None = None,
) -> SpecReport:
    """Every schema and semantic problem of `spec`; never raises, whatever `spec` is."""
    findings = SpecFindings()
    try:
        _check_spec(spec, findings=findings, lookup=tool_lookup or tool_registry.get)
    except Exception as error:
        findings.error("", f"the spec could not be checked completely ({type(error).__name__})")
    return _report(findings, positions or {})


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


def _check_spec(spec: Any, *, findings: SpecFindings, lookup: ToolLookup) -> None:
    try:
        clean = _json_clean(spec, findings=findings, path="", depth=0)
    except _SpecTooDeep as too_deep:
        findings.error(too_deep.path, f"the spec is nested more than {MAX_SPEC_DEPTH} levels deep")
        return
    _check_schema(clean, findings=findings)
    if not isinstance(clean, dict):
        return
    spec_check_semantics(clean, findings=findings, lookup=lookup)


def _check_schema(spec: Any, *, findings: SpecFindings) -> None:
    for path, message in schema_problems(spec_schema_validator(), spec):
        findings.error(path, message)


def _json_clean(value: Any, *, findings: SpecFindings, path: str, depth: int) -> Any:
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
            if problem := text_problem(key):  # YAML escapes (`"\0"`, `"\ud800"`) make these
                findings.error(item_path, f"key {problem}")
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
    if isinstance(value, str) and (problem := text_problem(value)):
        findings.error(path, problem)
        return None
    if value is None or isinstance(value, str | bool | int | float):
        return value
    findings.error(path, f"must be a JSON value, not {type(value).__name__}")
    return None
