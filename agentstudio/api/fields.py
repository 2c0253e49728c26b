"""JSON request fields whose OpenAPI schema says what they take: an object, or any value
but null (DRF's JSONField documents "anything", null included)."""

from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers
from rest_framework.utils import html

_ANY_BUT_NULL = [
    {"type": "object", "additionalProperties": True},
    {"type": "array", "items": {}},
    {"type": "string"},
    {"type": "number"},
    {"type": "boolean"},
]


@extend_schema_field({"type": "object", "additionalProperties": True})
class JSONObjectField(serializers.JSONField):
    """A JSON object (a spec, run inputs, tool arguments); anything else is 400."""

    default_error_messages = {"not_object": "Must be a JSON object."}

    def to_internal_value(self, data: Any) -> Any:
        value = super().to_internal_value(data)
        if not isinstance(value, dict):
            self.fail("not_object")
        return value


@extend_schema_field({"oneOf": _ANY_BUT_NULL})
class AnyJSONField(serializers.JSONField):
    """Any JSON value except null (an approval payload)."""


class StrictStringMixin:
    """Refuses a JSON number where a string is due (DRF turns `0` into "0"): the schema says
    string, so a number is invalid input."""

    def to_internal_value(self, data: Any) -> Any:
        if not isinstance(data, str):
            self.fail("invalid")  # type: ignore[attr-defined]
        return super().to_internal_value(data)  # type: ignore[misc]


class StrictCharField(StrictStringMixin, serializers.CharField):
    pass


class StrictRegexField(StrictStringMixin, serializers.RegexField):
    pass


class StrictBooleanField(serializers.BooleanField):
    """JSON true or false only (DRF also takes 0, 1 and "yes"); a form's text still reads."""

    def to_internal_value(self, data: Any) -> Any:
        form = html.is_html_input(getattr(self.parent, "initial_data", None))
        if not isinstance(data, bool) and not form:
            self.fail("invalid", input=data)
        return super().to_internal_value(data)
