"""Turning jsonschema errors into readable (path, message) problems, and loading the spec schema."""

import difflib
import functools
import json
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError, best_match

from playbooks.spec.yaml_loader import json_pointer_escape

SPEC_SCHEMA_PATH = Path(__file__).resolve().parent.parent / "schema" / "playbook.schema.json"
CUSTOM_MESSAGES_KEYWORD = "x-error-messages"
_JSON_TYPE_NAMES = {
    dict: "object",
    list: "array",
    str: "string",
    bool: "boolean",
    int: "integer",
    float: "number",
    type(None): "null",
}


@functools.cache
def spec_json_schema() -> dict[str, Any]:
    """The playbook spec JSON Schema (Draft 2020-12) shipped in playbooks/schema/."""
    return json.loads(SPEC_SCHEMA_PATH.read_text(encoding="utf-8"))


@functools.cache
def spec_schema_validator() -> Draft202012Validator:
    """Checks a spec against the playbook spec schema."""
    return Draft202012Validator(spec_json_schema())


@functools.cache
def meta_schema_validator() -> Draft202012Validator:
    """Checks that a JSON Schema declared inside a spec is itself a valid Draft 2020-12 schema."""
    return Draft202012Validator(
        Draft202012Validator.META_SCHEMA, format_checker=Draft202012Validator.FORMAT_CHECKER
    )


def schema_problems(validator: Draft202012Validator, instance: Any) -> list[tuple[str, str]]:
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
