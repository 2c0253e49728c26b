"""Views for /credits/, /credits/ledger/ and /usage/ (admins, approvers and authors read;
runners and viewers are refused)."""

from typing import Any

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import generics, mixins, serializers, viewsets
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from agentstudio.accounts.roles import can_read_org_resources, user_organization
from agentstudio.billing.models import LedgerEntry
from agentstudio.billing.selectors import credit_balance, ledger_list
from agentstudio.billing.usage_report import usage_summary, usage_window_bound
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
        return str(entry.run_id) if entry.run_id else None

    def get_agent(self, entry: LedgerEntry) -> str | None:
        return str(entry.agent_id) if entry.agent_id else None


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


class UsageRowSerializer(serializers.Serializer):
    key = serializers.SerializerMethodField()
    usd = serializers.DecimalField(max_digits=14, decimal_places=6)
    input_tokens = serializers.IntegerField()
    output_tokens = serializers.IntegerField()
    tool_calls = serializers.IntegerField()
    runs = serializers.IntegerField()

    def get_key(self, row: dict[str, Any]) -> str | None:
        key = row["key"]
        if key in (None, ""):
            return None
        return key.isoformat() if hasattr(key, "isoformat") else str(key)


class UsageView(generics.GenericAPIView):
    """`GET /usage/?group_by=playbook|user|model|day&from=&to=`: the organization's usage
    records summed per key, paginated, with `group_by` beside the page."""

    serializer_class = UsageRowSerializer
    filter_backends: list[Any] = []

    @extend_schema(
        responses=UsageRowSerializer(many=True),
        parameters=[
            OpenApiParameter(
                "group_by",
                str,
                enum=["playbook", "user", "model", "day"],
                description="default playbook",
            ),
            OpenApiParameter(
                "from", OpenApiTypes.DATE, description="ISO date or datetime (naive = UTC)"
            ),
            OpenApiParameter(
                "to", OpenApiTypes.DATE, description="ISO date (inclusive) or datetime"
            ),
        ],
    )
    def get(self, request: Request) -> Response:
        _require_reader(request.user)
        params = request.query_params
        group_by = params.get("group_by") or "playbook"  # unset or empty: per playbook
        rows = usage_summary(
            organization=user_organization(request.user),
            group_by=group_by,
            start=usage_window_bound("from", params.get("from"), end=False),
            end=usage_window_bound("to", params.get("to"), end=True),
        )
        page = self.paginate_queryset(rows)
        response = self.get_paginated_response(UsageRowSerializer(page, many=True).data)
        response.data = {"group_by": group_by, **response.data}
        return response
