"""The who-decides rules a spec declares for one approval of its runs: a tool call's from
`approval_policy` for its risk class, a gate's from the step's `approval:`."""

from __future__ import annotations

from typing import Any

from approvals.models import ApprovalKind
from approvals.rules import RULE_KEYS


def spec_declared_approval_rules(spec: Any, *, kind: str, step: str, risk: str) -> dict[str, Any]:
    """Only what the spec says; approvals fills in the organization's and built-in defaults."""
    if not isinstance(spec, dict):
        return {}
    declared: Any = None
    if kind == ApprovalKind.TOOL_CALL:
        declared = (spec.get("approval_policy") or {}).get(risk)
    elif kind == ApprovalKind.GATE:
        gate = next(
            (
                body
                for body in spec.get("steps") or []
                if isinstance(body, dict) and body.get("id") == step
            ),
            None,
        )
        declared = gate.get("approval") if gate else None
    if not isinstance(declared, dict):
        return {}
    return {name: value for name, value in declared.items() if name in RULE_KEYS}
