"""The /api/v1/ URL tree."""

from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView
from rest_framework.routers import DefaultRouter

from agentstudio.accounts.api.views import ApiKeyViewSet, MemberViewSet, MeView
from agentstudio.billing.api import CreditsView, LedgerViewSet, UsageView
from approvals.api.views import ApprovalViewSet
from playbooks.api.run_scope_tokens import RunScopeTokenView
from playbooks.api.runs import PlaybookRunStartView, RunArtifactDownloadView, RunViewSet
from playbooks.api.stream import RunStreamView
from playbooks.api.views import BlueprintViewSet, PlaybookViewSet
from tools.api.ai_services import AiServicesStatusView, AiServicesToolCallView
from tools.api.secrets import SecretViewSet
from tools.api.views import ToolCallView, ToolListView

router = DefaultRouter()
router.include_root_view = False
router.register("playbooks", PlaybookViewSet, basename="playbook")
router.register("blueprints", BlueprintViewSet, basename="blueprint")
router.register("approvals", ApprovalViewSet, basename="approval")
router.register("runs", RunViewSet, basename="run")
router.register("keys", ApiKeyViewSet, basename="apikey")
router.register("members", MemberViewSet, basename="member")
router.register("credits/ledger", LedgerViewSet, basename="ledger")
router.register("secrets", SecretViewSet, basename="secret")

urlpatterns = [
    path("me/", MeView.as_view(), name="me"),
    path("credits/", CreditsView.as_view(), name="credits"),
    path("usage/", UsageView.as_view(), name="usage"),
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    path("docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="docs"),
    path("playbooks/<uuid:pk>/runs/", PlaybookRunStartView.as_view(), name="playbook-runs"),
    path("runs/<uuid:pk>/stream/", RunStreamView.as_view(), name="run-stream"),
    path("runs/<uuid:pk>/scope-token/", RunScopeTokenView.as_view(), name="run-scope-token"),
    path("tools/", ToolListView.as_view(), name="tools"),
    path("tools/call/", ToolCallView.as_view(), name="tools-call"),
    path("ai/services/status/", AiServicesStatusView.as_view(), name="ai-services-status"),
    path(
        "ai/services/tools/call/", AiServicesToolCallView.as_view(), name="ai-services-tools-call"
    ),
    path(
        "runs/<uuid:pk>/artifacts/<path:path>",
        RunArtifactDownloadView.as_view(),
        name="run-artifact-download",
    ),
    path("", include(router.urls)),
]
