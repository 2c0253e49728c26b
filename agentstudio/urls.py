"""Root URLs: the admin, the API, health probes, the favicon; API 404s and 500s in the JSON
envelope."""

from django.contrib import admin
from django.http import HttpRequest, HttpResponse
from django.urls import include, path
from django.views import defaults

from agentstudio.errors import ErrorCode, error_response
from agentstudio.favicon import favicon
from agentstudio.health import healthz, readyz

admin.site.site_header = "Agent Studio"
admin.site.site_title = "Agent Studio"
admin.site.index_title = "Playbooks, approvals and organizations"
admin.site.site_url = "/api/v1/docs/"  # "View site": the API is what this site serves

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/v1/", include("agentstudio.api.urls")),
    path("healthz", healthz, name="healthz"),
    path("readyz", readyz, name="readyz"),
    path("favicon.ico", favicon, name="favicon"),
]


def _wants_json(request: HttpRequest) -> bool:
    return request.path.startswith("/api/")


def handler404(request: HttpRequest, exception: Exception) -> HttpResponse:
    if _wants_json(request):
        return error_response(code=ErrorCode.NOT_FOUND, message="No such endpoint or object.")
    return defaults.page_not_found(request, exception)


def handler500(request: HttpRequest) -> HttpResponse:
    if _wants_json(request):
        return error_response(
            code=ErrorCode.INTERNAL_ERROR,
            message="Something went wrong on our side; the request id identifies it in the logs.",
        )
    return defaults.server_error(request)
