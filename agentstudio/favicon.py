"""/favicon.ico for browsers that ask for it there: the admin's SVG icon (the admin pages link
it under STATIC_URL too). Read from the source tree, so it answers with or without
collectstatic."""

from django.conf import settings
from django.http import HttpRequest, HttpResponse

FAVICON = settings.BASE_DIR / "static" / "agentstudio" / "favicon.svg"


def favicon(request: HttpRequest) -> HttpResponse:
    response = HttpResponse(FAVICON.read_bytes(), content_type="image/svg+xml")
    response.headers["Cache-Control"] = "public, max-age=86400"
    return response
