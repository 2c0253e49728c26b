"""Views for /me/, /keys/ and /members/: parse, call one service, render."""

from typing import Any

from drf_spectacular.utils import extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.generics import get_object_or_404
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from agentstudio.accounts import selectors, services
from agentstudio.accounts.api.serializers import (
    ApiKeyCreateSerializer,
    ApiKeySerializer,
    MemberCreateSerializer,
    MembershipSerializer,
    MemberUpdateSerializer,
    MeSerializer,
)
from agentstudio.accounts.models import ApiKey, Membership
from agentstudio.accounts.roles import (
    can_read_org_resources,
    user_organization,
)
from agentstudio.errors import AppError, ErrorCode


class MeView(APIView):
    @extend_schema(responses=MeSerializer)
    def get(self, request: Request) -> Response:
        return Response(MeSerializer(request.user).data)


class ApiKeyViewSet(mixins.ListModelMixin, mixins.DestroyModelMixin, viewsets.GenericViewSet):
    """Your own API keys: list, create (the secret is in this response only), revoke."""

    serializer_class = ApiKeySerializer
    search_fields = ["name", "prefix"]
    ordering_fields = ["created_at", "last_used_at", "name"]

    def get_queryset(self):  # type: ignore[no-untyped-def]
        if getattr(self, "swagger_fake_view", False):  # schema generation has no user
            return ApiKey.objects.none()
        return selectors.api_key_list(user=self.request.user)

    @extend_schema(request=ApiKeyCreateSerializer, responses={201: ApiKeySerializer})
    def create(self, request: Request) -> Response:
        serializer = ApiKeyCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        key, raw = services.api_key_create(user=request.user, name=serializer.data["name"])
        return Response({**ApiKeySerializer(key).data, "key": raw}, status=status.HTTP_201_CREATED)

    def destroy(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        services.api_key_revoke(key=self.get_object(), actor=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


class MemberViewSet(viewsets.GenericViewSet, mixins.ListModelMixin, mixins.RetrieveModelMixin):
    """Members of your organization: admins manage; approvers and authors read."""

    serializer_class = MembershipSerializer
    search_fields = ["user__username", "user__email"]
    ordering_fields = ["created_at", "role", "user__username"]
    filterset_fields = ["role"]

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        super().initial(request, *args, **kwargs)
        if not can_read_org_resources(request.user):  # writes are checked by the services
            raise AppError(ErrorCode.PERMISSION_DENIED, "Your role cannot see the member list.")

    def get_queryset(self):  # type: ignore[no-untyped-def]
        if getattr(self, "swagger_fake_view", False):  # schema generation has no user
            return Membership.objects.none()
        return selectors.membership_list(organization=user_organization(self.request.user))

    @extend_schema(request=MemberCreateSerializer, responses={201: MembershipSerializer})
    def create(self, request: Request) -> Response:
        serializer = MemberCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        user = services.user_create(
            organization=user_organization(request.user),
            actor=request.user,
            **serializer.validated_data,
        )
        return Response(MembershipSerializer(user.membership).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=MemberUpdateSerializer, responses=MembershipSerializer)
    def partial_update(self, request: Request, pk: str) -> Response:
        membership = get_object_or_404(self.get_queryset(), pk=pk)
        serializer = MemberUpdateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        membership = services.membership_change_role(
            membership=membership, role=serializer.validated_data["role"], actor=request.user
        )
        return Response(MembershipSerializer(membership).data)

    def destroy(self, request: Request, pk: str) -> Response:
        membership = get_object_or_404(self.get_queryset(), pk=pk)
        services.membership_remove(membership=membership, actor=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)
