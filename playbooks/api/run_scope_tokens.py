"""`POST /runs/{id}/scope-token/`: a scope token for the agent working a running run, to call
the broker's tools with (REST `/tools/call/` or MCP; API.md, Tools)."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.generics import get_object_or_404
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from playbooks.runs import selectors as run_selectors
from playbooks.runs.tool_calls import run_scope_token_issue


class RunScopeTokenView(APIView):
    """A scope token for a running run, for the agent that works it (REST or MCP)."""

    @extend_schema(
        request=None,
        responses={
            201: inline_serializer(
                "ScopeToken",
                {"token": serializers.CharField(), "expires_at": serializers.DateTimeField()},
            )
        },
    )
    def post(self, request: Request, pk: str) -> Response:
        run = get_object_or_404(run_selectors.run_list_visible(user=request.user), pk=pk)
        token, expires_at = run_scope_token_issue(run=run, actor=request.user)
        return Response({"token": token, "expires_at": expires_at}, status=201)
