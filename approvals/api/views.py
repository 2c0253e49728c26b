"""Views for /approvals/: the queue, and deciding with the hash you saw."""

import django_filters
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from agentstudio.api.request_checks import CheckedJSONParser, CheckedMultiPartParser
from approvals import selectors, services
from approvals.api.serializers import (
    AnswerFileSerializer,
    AnswerSerializer,
    ApprovalSerializer,
    ApproveSerializer,
    EditSerializer,
    RejectSerializer,
)
from approvals.models import Approval, ApprovalKind, ApprovalStatus


class ApprovalFilter(django_filters.FilterSet):
    status = django_filters.ChoiceFilter(choices=ApprovalStatus.choices)
    kind = django_filters.ChoiceFilter(choices=ApprovalKind.choices)
    risk = django_filters.CharFilter()
    # by id, so an unknown object and another organization's look the same: no rows (a
    # model-choice filter would answer 400 for the one and an empty list for the other)
    run = django_filters.UUIDFilter(field_name="run_id")
    playbook = django_filters.UUIDFilter(field_name="playbook_id")

    class Meta:
        model = Approval
        fields = ["status", "kind", "playbook", "risk", "run"]


class ApprovalViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    http_method_names = ["get", "post", "patch", "head", "options"]
    serializer_class = ApprovalSerializer
    filterset_class = ApprovalFilter
    search_fields = ["title", "tool", "step"]
    ordering_fields = ["created_at", "expires_at", "status", "kind"]

    def get_queryset(self):  # type: ignore[no-untyped-def]
        queryset = selectors.approval_list_visible(user=self.request.user)
        if "ordering" not in self.request.query_params:
            queryset = selectors.approval_queue_ordering(queryset)
        return queryset

    @extend_schema(request=EditSerializer, responses=ApprovalSerializer)
    def partial_update(self, request: Request, pk: str) -> Response:
        """Edits a pending payload without deciding: a new `body_hash`; the old one is stale."""
        serializer = EditSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        approval = services.approval_edit(
            approval=self.get_object(),
            actor=request.user,
            payload=serializer.validated_data["payload"],
        )
        return Response(ApprovalSerializer(approval).data)

    @extend_schema(request=ApproveSerializer, responses=ApprovalSerializer)
    @action(detail=True, methods=["post"])
    def approve(self, request: Request, pk: str) -> Response:
        serializer = ApproveSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        approval = services.approval_approve(
            approval=self.get_object(), actor=request.user, **serializer.validated_data
        )
        return Response(ApprovalSerializer(approval).data)

    @extend_schema(request=RejectSerializer, responses=ApprovalSerializer)
    @action(detail=True, methods=["post"])
    def reject(self, request: Request, pk: str) -> Response:
        serializer = RejectSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        approval = services.approval_reject(
            approval=self.get_object(),
            actor=request.user,
            reason=serializer.validated_data["reason"],
        )
        return Response(ApprovalSerializer(approval).data)

    @extend_schema(request=None, responses=ApprovalSerializer)
    @action(detail=True, methods=["post"])
    def undo(self, request: Request, pk: str) -> Response:
        """Takes an approval back inside its undo window (409 after it): answers the new
        pending approval opened for the same call."""
        reopened = services.approval_undo(approval=self.get_object(), actor=request.user)
        return Response(ApprovalSerializer(reopened).data)

    @extend_schema(
        request={"application/json": AnswerSerializer, "multipart/form-data": AnswerFileSerializer},
        responses=ApprovalSerializer,
    )
    @action(
        detail=True, methods=["post"], parser_classes=[CheckedJSONParser, CheckedMultiPartParser]
    )
    def answer(self, request: Request, pk: str) -> Response:
        """Answers a question; 400 when the answer does not fit its schema. A question that
        asks for a file takes it as the multipart part `answer`."""
        uploaded = request.FILES.get("answer")
        if uploaded is not None:
            approval = services.approval_answer_with_file(
                approval=self.get_object(), actor=request.user, uploaded=uploaded
            )
            return Response(ApprovalSerializer(approval).data)
        serializer = AnswerSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        approval = services.approval_answer(
            approval=self.get_object(),
            actor=request.user,
            answer=serializer.validated_data["answer"],
        )
        return Response(ApprovalSerializer(approval).data)
