"""The editor of a tool call's arguments built from the tool's inputSchema (where the
tools app gives one, approvals.context): a field per property, strings (an enum as a
choice), numbers, integers and booleans as inputs, arrays and objects as JSON text. What
the form posts is turned back into the payload the review step checks like raw JSON."""

from __future__ import annotations

import json
import math
from typing import Any

from agentstudio.errors import AppError, ErrorCode
from approvals.context import approval_edit_schema
from approvals.models import Approval

FIELD_PREFIX = "arg:"
SCALAR_TYPES = ("string", "number", "integer", "boolean")


def _widget(schema: dict[str, Any]) -> str:
    if isinstance(schema.get("enum"), list):
        return "choice"
    kind = schema.get("type")
    return kind if kind in SCALAR_TYPES else "json"


def schema_form_fields(approval: Approval) -> list[dict[str, Any]] | None:
    """The editor's fields for this approval's arguments, or None (raw JSON then)."""
    schema = approval_edit_schema(approval)
    properties = (schema or {}).get("properties")
    arguments = (approval.payload or {}).get("arguments")
    if not isinstance(properties, dict) or not properties or not isinstance(arguments, dict):
        return None
    required = set(schema.get("required") or [])
    fields = []
    for name, spec in properties.items():
        spec = spec if isinstance(spec, dict) else {}
        widget = _widget(spec)
        value = arguments.get(name)
        if widget == "json":
            shown = "" if name not in arguments else json.dumps(value, indent=2)
        elif widget == "choice":
            shown = json.dumps(value) if name in arguments else ""
        else:
            shown = value if name in arguments else ""
        fields.append(
            {
                "name": name,
                "input": FIELD_PREFIX + name,
                "widget": widget,
                "value": shown,
                "choices": [json.dumps(choice) for choice in spec.get("enum") or []],
                "required": name in required,
                "help": spec.get("description", ""),
            }
        )
    return fields


def _refused(name: str, message: str) -> AppError:
    return AppError(
        ErrorCode.VALIDATION_ERROR,
        f"/payload/arguments/{name}: {message}",
        details=[{"path": f"/payload/arguments/{name}", "message": message}],
    )


def _field_value(field: dict[str, Any], raw: str | None, present: bool) -> tuple[bool, Any]:
    """(keep, value) of one posted field; an empty optional field that the request did not
    hold stays out of the arguments."""
    name, widget = field["name"], field["widget"]
    if widget == "boolean":
        return True, raw is not None
    raw = raw or ""
    if raw.strip() == "" and widget != "string":
        if field["required"]:
            raise _refused(name, "required")
        return False, None
    if widget == "string":
        return bool(raw) or present or field["required"], raw
    try:
        if widget == "number":
            number = float(raw)
            if not math.isfinite(number):
                raise ValueError(raw)
            return True, int(number) if number.is_integer() and "." not in raw else number
        if widget == "integer":
            return True, int(raw)
        return True, json.loads(raw)
    except (ValueError, json.JSONDecodeError):
        expected = {"number": "a number", "integer": "a whole number"}.get(widget, "JSON")
        raise _refused(name, f"not {expected}") from None


def schema_form_payload_text(approval: Approval, posted: Any) -> str:
    """The payload the schema form posted, as the JSON text the review step parses."""
    fields = schema_form_fields(approval) or []
    original = (approval.payload or {}).get("arguments") or {}
    named = {field["name"] for field in fields}
    arguments = {name: value for name, value in original.items() if name not in named}
    for field in fields:
        raw = posted.get(field["input"])
        keep, value = _field_value(field, raw, field["name"] in original)
        if keep:
            arguments[field["name"]] = value
    return json.dumps({"tool": (approval.payload or {}).get("tool"), "arguments": arguments})
