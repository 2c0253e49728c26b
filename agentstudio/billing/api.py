"""Views for /credits/ and /credits/ledger/ (admins, approvers and authors read)."""

from typing import Any

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, serializers, viewsets
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from agentstudio.accounts.roles import can_read_org_resources, user_organization
from agentstudio.billing.models import LedgerEntry
from agentstudio.billing.selectors import credit_balance, ledger_list
from agentstudio.errors import AppError, ErrorCode


def _require_reader(user: Any) -> None:
    if not can_read_org_resources(user):
        raise AppError(ErrorCode.PERMISSION_DENIED, "Your role cannot see credits.")


class LedgerEntrySerializer(serializers.ModelSerializer):
    user = serializers.SlugRelatedField(read_only=True, allow_null=True, slug_field="username")
    amount = serializers.DecimalField(max_digits=14, decimal_places=6, read_only=True)
    run = serializers.SerializerMethodField()
    agent = serializers.SerializerMethodField()

    class Meta:
        model = LedgerEntry
        fields = [
            "id",
            "kind",
            "amount",
            "balance_after",
            "run",
            "agent",
            "user",
            "memo",
            "created_at",
        ]
        read_only_fields = fields

    def get_run(self, entry: LedgerEntry) -> str | None:
        return None  # runs arrive with the run engine

    def get_agent(self, entry: LedgerEntry) -> str | None:
        return None  # remote agents arrive with the gateway


class CreditsView(APIView):
    @extend_schema(responses=OpenApiTypes.OBJECT)
    def get(self, request: Request) -> Response:
        _require_reader(request.user)
        balance, reserved = credit_balance(organization=user_organization(request.user))
        return Response({"balance": f"{balance:.6f}", "reserved": f"{reserved:.6f}"})


class LedgerViewSet(mixins.ListModelMixin, viewsets.GenericViewSet):
    serializer_class = LedgerEntrySerializer
    filterset_fields = ["kind"]
    ordering_fields = ["created_at", "amount"]

    def get_queryset(self):  # type: ignore[no-untyped-def]
        if getattr(self, "swagger_fake_view", False):  # schema generation has no user
            return LedgerEntry.objects.none()
        _require_reader(self.request.user)
        return ledger_list(organization=user_organization(self.request.user))
