"""Request-wide middleware: request ids for logs and responses, and the JSON body size cap."""

import re
import uuid
from collections.abc import Callable

import structlog
from django.conf import settings
from django.http import HttpRequest, HttpResponse

from agentstudio.errors import ErrorCode, error_response

_REQUEST_ID_PATTERN = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
_log = structlog.get_logger("agentstudio.request")


class RequestIdMiddleware:
    """Binds one request id (the caller's X-Request-Id if well formed) to every log line."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        offered = request.headers.get("X-Request-Id", "")
        request_id = offered if _REQUEST_ID_PATTERN.match(offered) else uuid.uuid4().hex
        request.request_id = request_id  # type: ignore[attr-defined]
        structlog.contextvars.clear_contextvars()
        structlog.contextvars.bind_contextvars(request_id=request_id)
        response = self.get_response(request)
        response["X-Request-Id"] = request_id
        _log.info(
            "request",
            method=request.method,
            path=request.path,
            status=response.status_code,
        )
        return response


class BodySizeLimitMiddleware:
    """Refuses non-multipart bodies over the JSON cap with 413 before anything parses them."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        content_type = request.META.get("CONTENT_TYPE", "")
        limit = (
            settings.AGENTSTUDIO_ARTIFACT_MAX_BYTES
            if content_type.startswith("multipart/")
            else settings.AGENTSTUDIO_MAX_JSON_BODY_BYTES
        )
        if length > limit:
            return error_response(
                code=ErrorCode.PAYLOAD_TOO_LARGE,
                message=f"Request body is {length} bytes; the limit is {limit} bytes.",
            )
        return self.get_response(request)
