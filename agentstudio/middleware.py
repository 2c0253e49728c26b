"""Request-wide middleware: request ids for logs and responses, the body size caps, and the
refusal of URLs and admin forms that carry what PostgreSQL cannot store."""

import re
import uuid
from collections.abc import Callable

import structlog
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest

from agentstudio.api.request_checks import (
    form_problem,
    query_problem,
    text_problem,
    unstorable_error,
)
from agentstudio.body_limits import body_too_large_message, request_body_limit
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
    """Refuses bodies over `request_body_limit` with 413 before anything parses them (under
    uvicorn `BodyLimitASGI` has refused them already; this covers every other server)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        limit = request_body_limit(content_type=request.META.get("CONTENT_TYPE", ""))
        if length > limit:
            return error_response(
                code=ErrorCode.PAYLOAD_TOO_LARGE,
                message=body_too_large_message(length=length, limit=limit),
            )
        return self.get_response(request)


class UnstorableInputMiddleware:
    """Refuses NUL in the URL path or query string (surrogates cannot arise: Django decodes
    URLs with replacement) before any view or filter puts it into a query, and in the form
    fields of pages outside /api/ (the admin reads some straight from request.POST): 400, in
    the envelope under /api/, whose bodies the parsers check (agentstudio.api.request_checks)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        is_api = request.path_info.startswith("/api/")
        if path_problem := text_problem(request.path_info):
            problem = {"path": "", "message": f"the URL path {path_problem}"}
        else:
            problem = query_problem(request.GET)
        if problem is None and not is_api and request.method not in ("GET", "HEAD"):
            # a broken body raises here as it would in the view: Django answers 400/413
            problem = form_problem(request.POST) or form_problem(request.FILES)
        if problem is None:
            return self.get_response(request)
        error = unstorable_error(problem, where="request")
        if not is_api:
            return HttpResponseBadRequest(error.message, content_type="text/plain")
        return error_response(code=error.code, message=error.message, details=error.details)
