"""A test-only urlconf (`@override_settings(ROOT_URLCONF=...)`): a view behind
`AIServicesThrottle`, so the throttle is exercised by real requests through DRF before the
AI services view uses it. Never part of the production URLs."""

from django.urls import path
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from agentstudio.ratelimits import AIServicesThrottle

AI_PATH = "/api/v1/test-only/ai/"


class ThrottledAIView(APIView):
    throttle_classes = [AIServicesThrottle]

    def post(self, request: Request) -> Response:
        return Response({"ok": True})


urlpatterns = [path(AI_PATH.lstrip("/"), ThrottledAIView.as_view())]
