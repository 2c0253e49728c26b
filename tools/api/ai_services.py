"""`GET /ai/services/status/` and `POST /ai/services/tools/call/` (API.md, AI services):
the studio's model-backed tools called directly by people who author playbooks, with the
organization's AI-services provider."""

from __future__ import annotations

from typing import Any

from drf_spectacular.openapi import AutoSchema
from drf_spectacular.utils import OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.permissions import BasePermission
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from agentstudio.accounts.permissions import IsOrganizationMember
from agentstudio.accounts.roles import can_author, user_organization
from agentstudio.api.fields import JSONObjectField, StrictCharField
from agentstudio.ratelimits import AIServicesThrottle
from tools.ai_services.service import ai_services_call, ai_services_enabled, ai_services_listing

# The throttles of the call endpoint (burst 10, 30 per minute per user and organization,
# counted before any model work: DRF runs throttles before the view's handler; with Redis
# configured but away they fail closed with 503).
AI_SERVICES_THROTTLES: list[Any] = [AIServicesThrottle]


class AiServicesCallSerializer(serializers.Serializer):
    name = StrictCharField(max_length=200)
    arguments = JSONObjectField()

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        unknown = sorted(set(self.initial_data) - {"name", "arguments"})
        if unknown:
            raise serializers.ValidationError(
                {name: "Unknown field: the body is {name, arguments}." for name in unknown}
            )
        return attrs


class AiServicesToolSerializer(serializers.Serializer):
    name = serializers.CharField()
    title = serializers.CharField()
    description = serializers.CharField()
    inputSchema = serializers.DictField()
    outputSchema = serializers.DictField()


class AiServicesStatusSerializer(serializers.Serializer):
    enabled = serializers.BooleanField()
    tools = AiServicesToolSerializer(many=True)


_RESULT = inline_serializer(
    "AiServicesToolResult",
    {
        "content": serializers.ListField(child=serializers.DictField()),
        "structuredContent": serializers.JSONField(),
        "isError": serializers.BooleanField(),
        "_meta": serializers.DictField(),
    },
)


def _call_body_schema() -> dict[str, Any]:
    """The body as OpenAPI: one variant per tool, its name and its own inputSchema."""
    variants = [
        {
            "type": "object",
            "properties": {
                "name": {"type": "string", "enum": [tool["name"]]},
                "arguments": tool["inputSchema"],
            },
            "required": ["name", "arguments"],
            "additionalProperties": False,
        }
        for tool in ai_services_listing()
    ]
    return {"oneOf": variants}


class _CallSchema(AutoSchema):
    """The call's body is required (a raw request schema is optional by default)."""

    def _get_request_body(self, direction: str = "request") -> Any:
        body = super()._get_request_body(direction)
        if body:
            body["required"] = True
        return body


class CanChangePlaybooks(BasePermission):
    """Admins and authors (API.md roles: AI services tools/call)."""

    message = "The AI services need the permission to change playbooks (admin or author)."

    def has_permission(self, request: Any, view: Any) -> bool:
        return can_author(request.user)


class AiServicesStatusView(APIView):
    """Whether the AI services are on for the caller's organization, and their tools."""

    permission_classes = [IsOrganizationMember]

    @extend_schema(responses={200: AiServicesStatusSerializer})
    def get(self, request: Request) -> Response:
        organization = user_organization(request.user)
        return Response(
            {
                "enabled": ai_services_enabled(organization=organization),
                "tools": ai_services_listing(),
            }
        )


class AiServicesToolCallView(APIView):
    """One call of an AI services tool: 403 without the permission to change playbooks,
    429 past the rate limit, 400 for an unknown tool or bad arguments, 503 when the
    organization has no provider for the AI services; else the tool result (`isError: true`
    when the model's answer stayed invalid), with the request's trace id in `_meta`."""

    permission_classes = [IsOrganizationMember, CanChangePlaybooks]
    throttle_classes = AI_SERVICES_THROTTLES
    schema = _CallSchema()

    @extend_schema(
        request={"application/json": _call_body_schema()},
        responses={
            200: OpenApiResponse(_RESULT, description="MCP tool result"),
        },
    )
    def post(self, request: Request) -> Response:
        body = AiServicesCallSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        answer = ai_services_call(
            user=request.user,
            organization=user_organization(request.user),
            name=body.validated_data["name"],
            arguments=body.validated_data["arguments"],
            trace_id=getattr(request._request, "request_id", ""),
        )
        return Response(answer)
