"""One application error type with stable codes, and the one renderer of the API's envelope."""

from __future__ import annotations

import enum
from typing import Any

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import RequestDataTooBig, TooManyFieldsSent, TooManyFilesSent
from django.http import Http404, JsonResponse
from rest_framework import exceptions as drf_exceptions
from rest_framework.response import Response


class ErrorCode(enum.StrEnum):
    VALIDATION_ERROR = "validation_error"
    NOT_AUTHENTICATED = "not_authenticated"
    INSUFFICIENT_CREDIT = "insufficient_credit"
    PERMISSION_DENIED = "permission_denied"
    NOT_FOUND = "not_found"
    METHOD_NOT_ALLOWED = "method_not_allowed"
    INVALID_STATE = "invalid_state"
    HASH_MISMATCH = "hash_mismatch"
    EXPIRED = "expired"
    PAYLOAD_TOO_LARGE = "payload_too_large"
    UNSUPPORTED_MEDIA_TYPE = "unsupported_media_type"
    MODEL_OUTPUT_INVALID = "model_output_invalid"
    RATE_LIMITED = "rate_limited"
    INTERNAL_ERROR = "internal_error"
    FEATURE_DISABLED = "feature_disabled"
    AGENT_ERROR = "agent_error"
    AGENT_TIMEOUT = "agent_timeout"


HTTP_STATUS = {
    ErrorCode.VALIDATION_ERROR: 400,
    ErrorCode.NOT_AUTHENTICATED: 401,
    ErrorCode.INSUFFICIENT_CREDIT: 402,
    ErrorCode.PERMISSION_DENIED: 403,
    ErrorCode.NOT_FOUND: 404,
    ErrorCode.METHOD_NOT_ALLOWED: 405,
    ErrorCode.INVALID_STATE: 409,
    ErrorCode.HASH_MISMATCH: 409,
    ErrorCode.EXPIRED: 410,
    ErrorCode.PAYLOAD_TOO_LARGE: 413,
    ErrorCode.UNSUPPORTED_MEDIA_TYPE: 415,
    ErrorCode.MODEL_OUTPUT_INVALID: 422,
    ErrorCode.RATE_LIMITED: 429,
    ErrorCode.INTERNAL_ERROR: 500,
    ErrorCode.FEATURE_DISABLED: 503,
    ErrorCode.AGENT_ERROR: 502,
    ErrorCode.AGENT_TIMEOUT: 504,
}


class AppError(Exception):
    """An error a user can act on; services raise it, the API renders it as the envelope."""

    def __init__(
        self,
        code: ErrorCode,
        message: str,
        *,
        details: list[dict[str, Any]] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.details = details or []
        self.headers = headers or {}

    @property
    def status(self) -> int:
        return HTTP_STATUS[self.code]


def error_body(
    *, code: ErrorCode, message: str, details: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    return {"error": {"code": str(code), "message": message, "details": details or []}}


def error_response(
    *, code: ErrorCode, message: str, details: list[dict[str, Any]] | None = None
) -> JsonResponse:
    """The envelope as a plain Django response, for middleware and URL-level handlers."""
    return JsonResponse(
        error_body(code=code, message=message, details=details), status=HTTP_STATUS[code]
    )


def _pointer_escape(token: str) -> str:
    return token.replace("~", "~0").replace("/", "~1")


def validation_details(data: Any, prefix: str = "") -> list[dict[str, Any]]:
    """Flattens DRF's nested error structure into `{path, message}` rows with JSON Pointers."""
    if isinstance(data, dict):
        rows: list[dict[str, Any]] = []
        for key, value in data.items():
            path = prefix if key == "non_field_errors" else f"{prefix}/{_pointer_escape(str(key))}"
            rows.extend(validation_details(value, path))
        return rows
    if isinstance(data, list):
        if all(isinstance(item, str) for item in data):
            return [{"path": prefix, "message": str(item)} for item in data]
        rows = []
        for index, item in enumerate(data):
            if item:
                rows.extend(validation_details(item, f"{prefix}/{index}"))
        return rows
    return [{"path": prefix, "message": str(data)}]


_DRF_CODES: list[tuple[type[Exception], ErrorCode]] = [
    (drf_exceptions.NotAuthenticated, ErrorCode.NOT_AUTHENTICATED),
    (drf_exceptions.AuthenticationFailed, ErrorCode.NOT_AUTHENTICATED),
    (drf_exceptions.PermissionDenied, ErrorCode.PERMISSION_DENIED),
    (drf_exceptions.NotFound, ErrorCode.NOT_FOUND),
    (drf_exceptions.MethodNotAllowed, ErrorCode.METHOD_NOT_ALLOWED),
    (drf_exceptions.UnsupportedMediaType, ErrorCode.UNSUPPORTED_MEDIA_TYPE),
    (drf_exceptions.NotAcceptable, ErrorCode.VALIDATION_ERROR),
    (drf_exceptions.Throttled, ErrorCode.RATE_LIMITED),
]


def _envelope(exc: Exception) -> tuple[ErrorCode, str, list[dict[str, Any]], dict[str, str]]:
    if isinstance(exc, AppError):
        return exc.code, exc.message, exc.details, exc.headers
    if isinstance(exc, Http404):
        return ErrorCode.NOT_FOUND, "Not found.", [], {}
    if isinstance(exc, DjangoPermissionDenied):
        return ErrorCode.PERMISSION_DENIED, "You do not have permission to do this.", [], {}
    if isinstance(exc, RequestDataTooBig):
        return ErrorCode.PAYLOAD_TOO_LARGE, "Request body is too large.", [], {}
    if isinstance(exc, TooManyFieldsSent | TooManyFilesSent):  # Django's form/multipart limits
        return ErrorCode.VALIDATION_ERROR, f"Malformed request body: {exc}", [], {}
    if isinstance(exc, drf_exceptions.ValidationError):
        details = validation_details(exc.detail)
        first = details[0]["message"] if details else "Invalid input."
        return ErrorCode.VALIDATION_ERROR, f"Invalid input: {first}", details, {}
    if isinstance(exc, drf_exceptions.ParseError):
        return ErrorCode.VALIDATION_ERROR, f"Malformed request body: {exc.detail}", [], {}
    for exc_type, code in _DRF_CODES:
        if isinstance(exc, exc_type):
            headers = {}
            if isinstance(exc, drf_exceptions.Throttled) and exc.wait is not None:
                headers["Retry-After"] = str(max(1, int(exc.wait + 0.999)))
            return code, str(exc.detail), [], headers
    if isinstance(exc, drf_exceptions.APIException):
        return ErrorCode.VALIDATION_ERROR, str(exc.detail), [], {}
    raise exc


def api_exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """DRF's EXCEPTION_HANDLER: every error leaves the API in the one documented envelope."""
    try:
        code, message, details, headers = _envelope(exc)
    except Exception:
        return None  # not ours: let Django's 500 handler log it and answer in the envelope
    response = Response(
        error_body(code=code, message=message, details=details), status=HTTP_STATUS[code]
    )
    for name, value in headers.items():
        response[name] = value
    return response
