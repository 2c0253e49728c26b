"""What a tool call is checked against: the run's scope, and the signed token that carries it.

A run's scope is its pinned spec's `tools`, `max_risk` and effective `approval_policy`
(playbooks builds it: `run_access().tool_scope`). The engine builds it once per slice; an
agent outside the worker (REST `/tools/call/`, MCP) presents it as a JWT
(`scope_token_issue`). Tokens are stateless: they name their run and its attempt, and die
with the run, since `scope_token_verify` checks that run is running.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import jwt
from django.conf import settings
from django.utils import timezone

from approvals.risk import RISK_CLASSES, risk_rank
from tools.run_access import run_access

_ALGORITHM = "HS256"
_AUDIENCE = "agentstudio:tools"


class ScopeTokenInvalid(Exception):
    """Tampered, expired, for another run or attempt, or its run is not running (401)."""


@dataclass(frozen=True)
class ToolScope:
    run_id: str
    playbook_id: str
    organization_id: str
    allowed_tools: frozenset[str]
    allowed_risk_max: str
    policy: dict[str, dict[str, Any]]  # risk class → {mode, approver_role?, ttl_seconds?}

    def allows_tool(self, name: str) -> bool:
        return name in self.allowed_tools

    def allows_risk(self, risk: str) -> bool:
        return risk_rank(risk) <= risk_rank(self.allowed_risk_max)


def _signing_key() -> str:
    return settings.AGENTSTUDIO_SCOPE_TOKEN_KEY or settings.SECRET_KEY


def scope_token_issue(run: Any, *, ttl_seconds: int | None = None) -> tuple[str, Any]:
    """A token for the run's current attempt; (token, expires_at)."""
    scope = run_access().tool_scope(run)
    now = timezone.now()
    expires = now + timedelta(seconds=ttl_seconds or settings.AGENTSTUDIO_SCOPE_TOKEN_TTL_SECONDS)
    claims = {
        "run_id": scope.run_id,
        "playbook_id": scope.playbook_id,
        "attempt": run.attempt,
        "allowed_tools": sorted(scope.allowed_tools),
        "allowed_risk_max": scope.allowed_risk_max,
        "iat": int(now.timestamp()),
        "exp": int(expires.timestamp()),
        "jti": uuid.uuid4().hex,
        "aud": _AUDIENCE,
    }
    return jwt.encode(claims, _signing_key(), algorithm=_ALGORITHM), expires


def scope_token_verify(token: str) -> tuple[ToolScope, Any]:
    """The scope and run a token grants, or ScopeTokenInvalid saying why not."""
    try:
        claims = jwt.decode(
            token,
            _signing_key(),
            algorithms=[_ALGORITHM],
            audience=_AUDIENCE,
            options={"require": ["exp", "jti", "run_id", "attempt"]},
        )
    except jwt.ExpiredSignatureError as exc:
        raise ScopeTokenInvalid("The scope token has expired.") from exc
    except jwt.InvalidTokenError as exc:
        raise ScopeTokenInvalid(f"The scope token is not valid: {exc}.") from exc
    runs = run_access()
    run = runs.run_find(claims["run_id"])
    if run is None:
        raise ScopeTokenInvalid("The scope token names no run.")
    if run.attempt != claims["attempt"] or str(run.playbook_id) != claims.get("playbook_id"):
        raise ScopeTokenInvalid("The scope token belongs to another attempt of this run.")
    if not runs.run_is_running(run):
        raise ScopeTokenInvalid(f"The scope token's run is {run.status}, not running.")
    granted = runs.tool_scope(run)
    risk_max = claims.get("allowed_risk_max")
    if risk_max not in RISK_CLASSES:
        raise ScopeTokenInvalid("The scope token has no valid allowed_risk_max.")
    # The token may narrow the run's scope, never widen it.
    tools = frozenset(claims.get("allowed_tools") or ()) & granted.allowed_tools
    if risk_rank(risk_max) > risk_rank(granted.allowed_risk_max):
        risk_max = granted.allowed_risk_max
    scope = ToolScope(
        run_id=granted.run_id,
        playbook_id=granted.playbook_id,
        organization_id=granted.organization_id,
        allowed_tools=tools,
        allowed_risk_max=risk_max,
        policy=granted.policy,
    )
    return scope, run
