"""The ASGI app `manage.py serve` runs: the MCP server at `/mcp`, and Django (plus the
collected static files for the admin) for everything else.

Django serves static files only under `runserver`; under uvicorn (DEBUG off) the admin would
render unstyled. This wrapper serves `STATIC_URL` from `STATIC_ROOT` (what `collectstatic`
wrote, nothing else, with Django's own path-safe `static.serve`) and hands every other
request to `agentstudio.asgi:application`. A production deployment would put a CDN, a
reverse proxy or WhiteNoise in front instead.
"""

from typing import Any

import structlog
from django.conf import settings
from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler
from django.core.exceptions import SuspiciousFileOperation
from django.http import Http404, HttpRequest
from django.http.response import HttpResponseBase
from django.views import static

from agentstudio.asgi import application as django_application


class CollectedStaticFilesHandler(ASGIStaticFilesHandler):
    """Answers requests under STATIC_URL from STATIC_ROOT; 404 for anything not collected."""

    def serve(self, request: HttpRequest) -> HttpResponseBase:
        try:
            response = static.serve(
                request, self.file_path(request.path), document_root=settings.STATIC_ROOT
            )
        except SuspiciousFileOperation as exc:  # a path escaping STATIC_ROOT: not found
            raise Http404("No such static file.") from exc
        response.headers.setdefault("Cache-Control", "public, max-age=3600")
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        return response


django_with_static = CollectedStaticFilesHandler(django_application)


def _log_rate_limit_storage() -> None:
    """Says once, as the web server starts, where rate limits are counted: on the embedded
    default (no REDIS_URL) each process keeps its own, which a deployment should know."""
    from agentstudio.ratelimits.limiter import limiter_is_shared, limiter_startup_message

    log = structlog.get_logger("agentstudio.ratelimits")
    if limiter_is_shared():
        log.info(limiter_startup_message(), shared=True)
    else:
        log.warning(limiter_startup_message(), shared=False)


def _build() -> Any:
    """A Starlette router in front of Django: `/mcp` goes to the MCP SDK, whose session
    manager must run in the ASGI lifespan (Django's handler has none); all else to Django."""
    import contextlib

    from starlette.applications import Starlette
    from starlette.routing import Mount, Route

    from tools.mcp_server import McpEndpoint, mcp_lifespan

    @contextlib.asynccontextmanager
    async def lifespan(app: Any) -> Any:
        _log_rate_limit_storage()
        async with mcp_lifespan():
            yield

    return Starlette(
        routes=[
            Route("/mcp", endpoint=McpEndpoint(), methods=["GET", "POST", "DELETE"]),
            Mount("/", app=django_with_static),
        ],
        lifespan=lifespan,
    )


application = _build()
