"""`GET /tools/` and `POST /tools/call/` (with a run scope token): the broker's REST surface
(API.md, Tools). The token itself is issued by a run endpoint (playbooks.api.run_scope_tokens)."""

from __future__ import annotations

from typing import Any

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from agentstudio.accounts.bearer import bearer_token
from agentstudio.accounts.permissions import IsOrganizationMember
from agentstudio.accounts.roles import user_membership
from agentstudio.api.fields import JSONObjectField, StrictCharField
from agentstudio.errors import AppError, ErrorCode
from agentstudio.ratelimits import ToolCallThrottle
from tools.policy import ToolRefused
from tools.registry import tool_registry
from tools.scope import ScopeTokenInvalid, scope_token_verify
from tools.selectors import tool_list_in_scope, tool_list_visible
from tools.services import tool_call_external


class ToolCallSerializer(serializers.Serializer):
    name = StrictCharField(max_length=200)
    arguments = JSONObjectField(required=False, default=dict)


class ToolListView(APIView):
    """The tools the caller may see, as MCP listing entries plus their risk class: with an
    API key or a session, everyone's tools and the organization's connection tools; with a
    run scope token (an agent), the tools that token may call."""

    permission_classes: list[Any] = []  # a member, or a scope token: checked in get()

    @extend_schema(responses={200: OpenApiTypes.OBJECT})
    def get(self, request: Request) -> Response:
        if request.user and request.user.is_authenticated:
            membership = user_membership(request.user)
            if membership is None:
                raise AppError(ErrorCode.PERMISSION_DENIED, IsOrganizationMember.message)
            tools = tool_list_visible(organization_id=membership.organization_id)
        else:
            try:
                scope, _run = scope_token_verify(_bearer(request))
            except ScopeTokenInvalid as exc:
                raise AppError(ErrorCode.NOT_AUTHENTICATED, str(exc)) from exc
            tools = tool_list_in_scope(scope=scope)
        return Response({"tools": [definition.to_mcp() for definition in tools]})


def _bearer(request: Request) -> str:
    token = bearer_token(request.headers.get("Authorization"))
    if not token:
        raise AppError(
            ErrorCode.NOT_AUTHENTICATED,
            "Send the run's scope token: Authorization: Bearer <token>.",
        )
    return token


class ToolCallView(APIView):
    """One call through the broker's gates, authorised by a run scope token (not an API
    key): unknown tool 404 (checked first), bad token 401, outside the scope 403; invalid
    arguments and tool failures are 200 with `isError: true`. Rate-limited per run and
    organization (ToolCallThrottle); a call that is 404 or 401 is not counted."""

    authentication_classes: list[Any] = []
    permission_classes: list[Any] = []
    throttle_classes = [ToolCallThrottle]

    def _verified(self, request: Request) -> tuple[Any, Any]:
        """The token's (scope, run), verified once per request (the throttle asks first)."""
        if not hasattr(self, "_scope_and_run"):
            try:
                self._scope_and_run = scope_token_verify(_bearer(request))
            except AppError as exc:
                self._scope_and_run = exc
            except ScopeTokenInvalid as exc:
                self._scope_and_run = AppError(ErrorCode.NOT_AUTHENTICATED, str(exc))
        if isinstance(self._scope_and_run, AppError):
            raise self._scope_and_run
        return self._scope_and_run

    def throttle_run(self, request: Request) -> Any:
        """The run the call counts against, or None for a call that will be refused anyway."""
        name = request.data.get("name") if isinstance(request.data, dict) else None
        if not isinstance(name, str) or tool_registry.get(name) is None:
            return None
        try:
            return self._verified(request)[1]
        except AppError:
            return None

    @extend_schema(
        request=ToolCallSerializer,
        responses={
            200: OpenApiResponse(OpenApiTypes.OBJECT, description="MCP tool result"),
            401: OpenApiResponse(description="missing, tampered, expired or finished token"),
            403: OpenApiResponse(description="outside the token's scope, or denied by policy"),
            404: OpenApiResponse(description="unknown tool"),
        },
    )
    def post(self, request: Request) -> Response:
        body = ToolCallSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        name, arguments = body.validated_data["name"], body.validated_data["arguments"]
        if tool_registry.get(name) is None:
            raise AppError(ErrorCode.NOT_FOUND, f"There is no tool {name!r}.")
        scope, run = self._verified(request)
        try:
            result = tool_call_external(
                scope=scope,
                run=run,
                name=name,
                arguments=arguments,
                idempotency_key=request.headers.get("Idempotency-Key"),
            )
        except ToolRefused as exc:
            raise AppError(ErrorCode(exc.code), exc.message) from exc
        answer = result.as_mcp()
        answer["_meta"] = {
            "trace_id": getattr(request._request, "request_id", ""),
            "call": result.key,
        }
        if result.model_usage:  # a model-backed tool's model calls (tools.studio.ai.*)
            answer["_meta"]["usage"] = result.model_usage
        return Response(answer)
