"""DRF throttles over the limiter, keyed by user and organization (or run and organization).

Each throttle counts before the view does any work (DRF checks throttles after
authentication and permissions, before the handler). A refusal is DRF's `Throttled`, which
the API's exception handler renders as `rate_limited` 429 with `Retry-After`; the decision
is kept on the request so `RateLimitHeadersMiddleware` adds `X-RateLimit-*` to the answer,
allowed or refused.

When Redis is configured but does not answer:
- AI services fail closed with 503 `feature_disabled`: the model work behind them costs
  money and the limit is what API.md promises for them. 503 rather than 429, since nothing
  the caller did exceeded a limit; the service is unavailable, which is what 503 says (and
  what AI services already answer when they are not configured). Logged as an error.
- Run starts and tool calls fail open, logged as a warning: money is guarded elsewhere
  (credit is reserved at start, budgets before each call, both in PostgreSQL), and a
  running playbook's tool calls must not fail because the limiter's store is away.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from rest_framework.exceptions import Throttled
from rest_framework.throttling import BaseThrottle

from agentstudio.accounts.roles import user_membership
from agentstudio.errors import AppError, ErrorCode
from agentstudio.ratelimits.limiter import (
    Decision,
    RateLimiterUnavailable,
    Subject,
    limit_check,
    log_unavailable,
    parse_limits,
)

REQUEST_ATTRIBUTE = "rate_limit_decision"
UNAVAILABLE_RETRY_SECONDS = 5


def subject(kind: str, ident: Any, setting: str) -> Subject:
    return Subject(kind=kind, ident=str(ident), limits=parse_limits(getattr(settings, setting)))


def decision_keep(request: Any, decision: Decision) -> None:
    """Keeps the tightest decision of the request (a view may have several throttles)."""
    django_request = getattr(request, "_request", request)
    kept = getattr(django_request, REQUEST_ATTRIBUTE, None)
    tighter = kept is not None and kept.allowed and decision.remaining < kept.remaining
    if kept is None or not decision.allowed or tighter:
        setattr(django_request, REQUEST_ATTRIBUTE, decision)


def refused_message(label: str, decision: Decision) -> str:
    assert decision.subject is not None and decision.item is not None
    return f"Too many {label} for this {decision.subject.kind} (at most {window(decision.item)})."


def window(item: Any) -> str:
    """`10 per 10 seconds`, `30 per minute`."""
    unit = item.GRANULARITY.name
    if item.multiples == 1:
        return f"{item.amount} per {unit}"
    return f"{item.amount} per {item.multiples} {unit}s"


class ScopedThrottle(BaseThrottle):
    """One scope of limits; subclasses say which keys a request counts against."""

    scope = ""
    label = ""
    fail_open = True
    user_setting = ""
    organization_setting = ""

    def subjects(self, request: Any, view: Any) -> list[Subject]:
        membership = user_membership(request.user)
        if membership is None:  # not a member: the permission check answers, not us
            return []
        return [
            subject("user", request.user.pk, self.user_setting),
            subject("organization", membership.organization_id, self.organization_setting),
        ]

    def allow_request(self, request: Any, view: Any) -> bool:
        subjects = self.subjects(request, view)
        try:
            decision = limit_check(scope=self.scope, subjects=subjects)
        except RateLimiterUnavailable as exc:
            log_unavailable(scope=self.scope, fail_open=self.fail_open, error=exc)
            if self.fail_open:
                return True
            raise AppError(
                ErrorCode.FEATURE_DISABLED,
                f"{self.label.capitalize()} are unavailable: their rate limiter cannot reach "
                "its store. Try again shortly.",
                headers={"Retry-After": str(UNAVAILABLE_RETRY_SECONDS)},
            ) from exc
        if decision.limit:
            decision_keep(request, decision)
        if not decision.allowed:
            raise Throttled(wait=decision.retry_after, detail=refused_message(self.label, decision))
        return True


class AIServicesThrottle(ScopedThrottle):
    """`POST /ai/services/tools/call/`: burst 10, 30 per minute, per user and organization."""

    scope = "ai_services"
    label = "AI service calls"
    fail_open = False
    user_setting = "AGENTSTUDIO_RATE_LIMIT_AI_SERVICES"
    organization_setting = "AGENTSTUDIO_RATE_LIMIT_AI_SERVICES_ORG"


class RunStartThrottle(ScopedThrottle):
    """`POST /playbooks/{id}/runs/`, per user and organization."""

    scope = "run_starts"
    label = "run starts"
    user_setting = "AGENTSTUDIO_RATE_LIMIT_RUN_STARTS"
    organization_setting = "AGENTSTUDIO_RATE_LIMIT_RUN_STARTS_ORG"


def tool_call_subjects(*, run_id: Any, organization_id: Any) -> list[Subject]:
    return [
        subject("run", run_id, "AGENTSTUDIO_RATE_LIMIT_TOOL_CALLS"),
        subject("organization", organization_id, "AGENTSTUDIO_RATE_LIMIT_TOOL_CALLS_ORG"),
    ]


def tool_call_limit_check(*, run_id: Any, organization_id: Any) -> Decision | None:
    """The tool-call limit for callers outside DRF (the MCP server): the decision, or None
    when the store is unreachable (tool calls fail open, logged)."""
    try:
        return limit_check(
            scope=ToolCallThrottle.scope,
            subjects=tool_call_subjects(run_id=run_id, organization_id=organization_id),
        )
    except RateLimiterUnavailable as exc:
        log_unavailable(scope=ToolCallThrottle.scope, fail_open=True, error=exc)
        return None


class ToolCallThrottle(ScopedThrottle):
    """`POST /tools/call/`, per run and organization of the scope token. The view names the
    run: `view.throttle_run(request)` returns it, or None when the request will be refused
    anyway (unknown tool, bad token), which is then not counted."""

    scope = "tool_calls"
    label = "tool calls"

    def subjects(self, request: Any, view: Any) -> list[Subject]:
        run = view.throttle_run(request)
        if run is None:
            return []
        return tool_call_subjects(run_id=run.pk, organization_id=run.organization_id)
