"""`X-RateLimit-*` on every answer a throttle counted, allowed or refused (429)."""

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

from agentstudio.ratelimits.throttles import REQUEST_ATTRIBUTE


class RateLimitHeadersMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        decision = getattr(request, REQUEST_ATTRIBUTE, None)
        if decision is not None:
            for name, value in decision.headers().items():
                response.headers.setdefault(name, value)
        return response
