"""The tool scope a run's pinned spec grants: what the broker checks the run's calls against."""

from __future__ import annotations

from typing import Any

from playbooks.spec.defaults import spec_effective_approval_policy, spec_effective_max_risk
from tools.scope import ToolScope


def run_tool_scope(run: Any) -> ToolScope:
    """The spec's `tools`, its effective `max_risk` and its effective `approval_policy`."""
    spec = run.version.spec
    return ToolScope(
        run_id=str(run.pk),
        playbook_id=str(run.playbook_id),
        organization_id=str(run.organization_id),
        allowed_tools=frozenset(spec.get("tools") or ()),
        allowed_risk_max=spec_effective_max_risk(spec),
        policy=spec_effective_approval_policy(spec),
    )
