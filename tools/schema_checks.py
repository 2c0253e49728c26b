"""Tool arguments and outputs checked against the tool's JSON Schemas, with a memory of
the instances a schema has already accepted."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import orjson
from jsonschema import Draft202012Validator

from agentstudio import secret_references
from tools.broker_secrets import errors_off_handles
from tools.registry import tool_registry


@dataclass
class _SchemaCheck:
    """A schema's validator and the instances it has already found valid, by their JSON."""

    schema: dict[str, Any]
    validator: Draft202012Validator
    valid: set[bytes] = field(default_factory=set)


_VALIDATORS: dict[int, _SchemaCheck] = {}
_VALID_MEMO_ENTRIES = 512  # per schema; then it starts afresh
_VALID_MEMO_MAX_BYTES = 2048


def _schema_check(schema: dict[str, Any]) -> _SchemaCheck:
    """Tool schemas live as long as their definitions: cache by identity, not by JSON."""
    cached = _VALIDATORS.get(id(schema))
    if cached is None or cached.schema is not schema:
        cached = _SchemaCheck(schema, Draft202012Validator(schema))
        _VALIDATORS[id(schema)] = cached
    return cached


def _is_plain_json(value: Any) -> bool:
    """Whether `value` is made of exactly the types JSON decodes to (no subclasses, tuples,
    non-finite floats), so that its JSON text stands for it alone in a validation."""
    kind = type(value)
    if kind is dict:
        return all(type(key) is str and _is_plain_json(item) for key, item in value.items())
    if kind is list:
        return all(_is_plain_json(item) for item in value)
    if kind is float:
        return math.isfinite(value)
    return kind is str or kind is int or kind is bool or value is None


def _memo_key(value: Any) -> bytes | None:
    """The instance's JSON text, when it is small enough to keep and stands for the
    instance alone; else None (validated every time). orjson refuses deep nesting and most
    non-JSON types before the walk, which then only looks at a small document."""
    try:
        text = orjson.dumps(value)
    except orjson.JSONEncodeError:
        return None
    if len(text) > _VALID_MEMO_MAX_BYTES or not _is_plain_json(value):
        return None
    return text


def schema_errors(schema: dict[str, Any] | None, value: Any) -> list[str]:
    """Why `value` does not match `schema` (empty when it does). A validation depends only
    on the schema and the instance, so an instance a schema once accepted is accepted again
    from memory: a playbook's steps call their tools with the same arguments run after run."""
    if not schema:
        return []
    check = _schema_check(schema)
    key = _memo_key(value)
    if key is not None and key in check.valid:
        return []
    if check.validator.is_valid(value):
        if key is not None:
            if len(check.valid) >= _VALID_MEMO_ENTRIES:
                check.valid.clear()
            check.valid.add(key)
        return []
    return [
        _problem(error)
        for error in sorted(check.validator.iter_errors(value), key=lambda e: list(e.absolute_path))
    ][:20]


def _problem(error: Any) -> str:
    path = "/" + "/".join(str(p) for p in error.absolute_path) if error.absolute_path else "/"
    return f"{path}: {error.message}"


def tool_arguments_problems(name: str, arguments: Any) -> list[str]:
    """The inputSchema's complaints about `arguments` for tool `name` (an approver's edit
    passes the same check as the model's call); an unknown tool is one complaint. A vault
    handle stands where its secret will be: the broker checks that place once resolved."""
    definition = tool_registry.get(name)
    if definition is None:
        return [f"there is no tool {name!r}"]
    if not definition.input_schema or not secret_references.vault_references(arguments):
        return schema_errors(definition.input_schema, arguments)
    validator = _schema_check(definition.input_schema).validator
    return [_problem(error) for error in errors_off_handles(validator, arguments)][:20]
