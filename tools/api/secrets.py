"""`/secrets/`: the vault by name. Values are write-only: no response ever carries one.
Admins manage; approvers and authors see the names; runners and viewers see nothing."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.request import Request
from rest_framework.response import Response

from agentstudio.accounts.roles import user_membership
from agentstudio.api.fields import StrictCharField, StrictRegexField
from agentstudio.errors import AppError, ErrorCode
from tools.models import VAULT_NAME_VALIDATOR, Secret
from tools.selectors import secret_list_visible
from tools.vault import secret_delete, secret_set


class SecretSerializer(serializers.ModelSerializer):
    created_by = serializers.SlugRelatedField(slug_field="username", read_only=True)

    class Meta:
        model = Secret
        fields = ["name", "created_by", "created_at", "updated_at"]


class SecretWriteSerializer(serializers.Serializer):
    name = StrictRegexField(VAULT_NAME_VALIDATOR.regex, max_length=200)
    value = StrictCharField(max_length=65_536, trim_whitespace=False, write_only=True)


class SecretViewSet(mixins.ListModelMixin, viewsets.GenericViewSet):
    serializer_class = SecretSerializer
    lookup_field = "name"
    lookup_value_regex = r"[A-Za-z0-9_.-]{1,200}"
    search_fields = ["name"]
    ordering_fields = ["name", "created_at", "updated_at"]

    def get_queryset(self):  # type: ignore[no-untyped-def]
        if getattr(self, "swagger_fake_view", False):  # schema generation: no request user
            return Secret.objects.none()
        return secret_list_visible(user=self.request.user)

    def _organization(self):  # type: ignore[no-untyped-def]
        membership = user_membership(self.request.user)
        if membership is None:
            raise AppError(ErrorCode.PERMISSION_DENIED, "You belong to no organization.")
        return membership.organization

    @extend_schema(request=SecretWriteSerializer, responses={201: SecretSerializer})
    def create(self, request: Request) -> Response:
        body = SecretWriteSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        secret = secret_set(
            organization=self._organization(),
            actor=request.user,
            name=body.validated_data["name"],
            value=body.validated_data["value"],
        )
        return Response(SecretSerializer(secret).data, status=status.HTTP_201_CREATED)

    @extend_schema(responses={204: None})
    def destroy(self, request: Request, name: str) -> Response:
        secret_delete(organization=self._organization(), actor=request.user, name=name)
        return Response(status=status.HTTP_204_NO_CONTENT)
