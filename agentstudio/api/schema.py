"""OpenAPI extensions: API keys and run scope tokens as bearer auth, and the error envelope
documented on every operation with the statuses the views answer (API.md, Errors)."""

from typing import Any

from drf_spectacular.extensions import OpenApiAuthenticationExtension

from agentstudio.errors import ErrorCode


class ApiKeyAuthenticationScheme(OpenApiAuthenticationExtension):
    target_class = "agentstudio.accounts.authentication.ApiKeyAuthentication"
    name = "ApiKey"

    def get_security_definition(self, auto_schema):  # type: ignore[no-untyped-def]
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "An API key (`as_...`) created at /api/v1/keys/ or by "
            "`manage.py create_user --api-key`.",
        }


SCOPE_TOKEN_SCHEME = {
    "type": "http",
    "scheme": "bearer",
    "bearerFormat": "JWT",
    "description": "A run scope token from POST /api/v1/runs/{id}/scope-token/.",
}

ERROR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "The one error shape of the API.",
    "properties": {
        "error": {
            "type": "object",
            "properties": {
                "code": {"type": "string", "enum": sorted(str(code) for code in ErrorCode)},
                "message": {"type": "string"},
                "details": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "description": "`path` is a JSON Pointer into the request or spec; "
                        "`line` and `column` (1-based) when the spec came as YAML.",
                        "properties": {
                            "path": {"type": "string"},
                            "message": {"type": "string"},
                            "line": {"type": "integer"},
                            "column": {"type": "integer"},
                        },
                        "additionalProperties": True,
                    },
                },
            },
            "required": ["code", "message", "details"],
        }
    },
    "required": ["error"],
}

_DESCRIPTIONS = {
    400: "Invalid input (`validation_error`).",
    401: "No or bad credentials (`not_authenticated`).",
    403: "Seen but not allowed (`permission_denied`).",
    404: "Unknown, or not visible to you (`not_found`).",
    409: "Wrong state for this action (`invalid_state`, `hash_mismatch`).",
    410: "The approval expired (`expired`).",
    413: "Request body too large (`payload_too_large`).",
    415: "Unsupported request media type (`unsupported_media_type`).",
    429: "Over a rate limit (`rate_limited`): `Retry-After` says when to try again, "
    "`X-RateLimit-Limit`, `-Remaining` and `-Reset` describe the tightest window.",
    503: "The feature is off on this studio or organization (`feature_disabled`).",
}

# Statuses an operation answers beyond the common ones, by operationId.
_EXTRA_STATUSES: dict[str, tuple[int, ...]] = {
    "approvals_partial_update": (410,),
    "approvals_approve_create": (410,),
    "approvals_reject_create": (410,),
    "approvals_answer_create": (410,),
    "approvals_undo_create": (410,),
    "playbooks_runs_create": (429,),  # agentstudio.ratelimits.RunStartThrottle
    "tools_call_create": (429,),  # agentstudio.ratelimits.ToolCallThrottle
    "ai_services_tools_call_create": (429, 503),  # agentstudio.ratelimits.AIServicesThrottle
}

# Operations authorised by a run scope token rather than (or as well as) an API key.
_SCOPE_TOKEN_OPERATIONS = {"tools_call_create": False, "tools_retrieve": True}


def _error_statuses(method: str, operation: dict[str, Any]) -> list[int]:
    """Every DRF view may answer 400 (a refused `Accept` too), 401, 403 and 404 (an unknown
    object, or a page past the end of a list); writes may meet a wrong state (409); a body
    may be too large (413) or of a media type the view does not read (415)."""
    statuses = [400, 401, 403, 404]
    if method != "get":
        statuses.append(409)
    if "requestBody" in operation:
        statuses += [413, 415]
    statuses += _EXTRA_STATUSES.get(operation.get("operationId", ""), ())
    return sorted(set(statuses))


_FORM_MEDIA_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")


def _json_bodies_only(operation: dict[str, Any]) -> None:
    """The contract is JSON in (API.md). DRF's default parsers also read forms, which
    drf-spectacular lists with the JSON schema; only forms a view documents with a schema
    of their own (uploads: a run's input files, a file answer) stay."""
    content = operation.get("requestBody", {}).get("content", {})
    if "application/json" not in content:
        return
    for media_type in _FORM_MEDIA_TYPES:
        if content.get(media_type, {}).get("schema") == content["application/json"]["schema"]:
            del content[media_type]


def _empty_filters_allowed(operation: dict[str, Any]) -> None:
    """django-filter reads an empty value (`?status=`, as the browsable API's filter form
    sends it) as no filter: say so, so an empty value is valid input."""
    for parameter in operation.get("parameters", []):
        schema = parameter.get("schema", {})
        if parameter.get("in") != "query" or schema.get("type") != "string":
            continue
        if "enum" in schema and "" not in schema["enum"]:
            schema["enum"] = ["", *schema["enum"]]
        elif "format" in schema:
            parameter["schema"] = {"anyOf": [schema, {"type": "string", "maxLength": 0}]}


def error_responses(result: dict[str, Any], **_kwargs: Any) -> dict[str, Any]:
    """POSTPROCESSING_HOOKS entry: the envelope as `Error` and the statuses each operation
    answers with it; the scope-token security scheme where the broker takes one; JSON-only
    request bodies except for uploads; empty filter values as valid."""
    components = result.setdefault("components", {})
    components.setdefault("schemas", {})["Error"] = ERROR_SCHEMA
    components.setdefault("securitySchemes", {})["ScopeToken"] = SCOPE_TOKEN_SCHEME
    reference = {"$ref": "#/components/schemas/Error"}
    for path_item in result.get("paths", {}).values():
        for method, operation in path_item.items():
            _json_bodies_only(operation)
            _empty_filters_allowed(operation)
            responses = operation.setdefault("responses", {})
            for status in _error_statuses(method, operation):
                documented = responses.setdefault(str(status), {})
                documented.setdefault("description", _DESCRIPTIONS[status])
                documented["content"] = {"application/json": {"schema": reference}}
            operation["responses"] = dict(sorted(responses.items()))
            also_api_key = _SCOPE_TOKEN_OPERATIONS.get(operation.get("operationId", ""))
            if also_api_key is not None:
                security = operation.get("security", []) if also_api_key else []
                operation["security"] = [*security, {"ScopeToken": []}]
    # a read-only field DRF cannot mark optional: present only when a callback_url was given
    run_created = components["schemas"].get("RunCreated", {})
    run_created["required"] = [
        name for name in run_created.get("required", []) if name != "callback_secret"
    ]
    return result
