"""The ASGI app `manage.py serve` runs: Django, plus the collected static files for the admin.

Django serves static files only under `runserver`; under uvicorn (DEBUG off) the admin would
render unstyled. This wrapper serves `STATIC_URL` from `STATIC_ROOT` (what `collectstatic`
wrote, nothing else, with Django's own path-safe `static.serve`) and hands every other
request to `agentstudio.asgi:application`. A production deployment would put a CDN, a
reverse proxy or WhiteNoise in front instead.
"""

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


application = CollectedStaticFilesHandler(django_application)
