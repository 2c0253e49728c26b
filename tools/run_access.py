"""What the broker needs from a run, defined here and implemented by playbooks: tools sits
below playbooks and imports nothing of it, so playbooks registers a RunAccess from its
`AppConfig.ready()` (as approvals.effects takes the handlers of its decisions)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tools.call_results import ToolCallResult
    from tools.scope import ToolScope


class RunAccessMissing(LookupError):
    """Nothing registered a RunAccess: a wiring fault, never silently a call with no run."""


@dataclass(frozen=True)
class RunAccess:
    """A run, as the broker sees it. Each callable takes the run object it was handed (by a
    scope token, or by the engine), never a module of playbooks."""

    # The scope the run's pinned spec grants (its tools, max_risk, approval policy).
    tool_scope: Callable[[Any], ToolScope]
    # The run a scope token's `run_id` claim names (whatever JSON value it holds), with what
    # tool_scope reads loaded; None when it names no run.
    run_find: Callable[[Any], Any | None]
    # Whether the run is running (scope tokens die with the run).
    run_is_running: Callable[[Any], bool]
    # The run's workspace folder (the files its tools read and write).
    run_workspace: Callable[[Any], Path]
    # Records a call made through the API on its run: the invocation, its artifacts, usage,
    # events and audit row, in one transaction under the run's row lock.
    call_record: Callable[[Any, ToolCallResult], None]
    # Creates the approval a call made through the API waits for (from the broker's
    # `approval_request` fields) and records it on the run; returns the approval.
    call_approval_request: Callable[[Any, dict[str, Any]], Any]
    # The budget the run's calls draw on (its root run's: `agentstudio.billing.budgets`
    # BudgetRef), None for a call that draws on none.
    run_budget: Callable[[Any], Any | None] = lambda run: None
    # The run's model spec (its pinned spec's `model:`), which the model-backed tools
    # (tools.studio.ai.*) ask when an agent calls them with the run's scope token.
    run_model_spec: Callable[[Any], dict[str, Any]] | None = None


_registered: list[RunAccess] = []


def run_access_register(access: RunAccess) -> None:
    """Registers how tools reach runs (playbooks does, once). A second, different one is
    refused: one obvious home per rule."""
    if _registered and _registered[0] != access:
        raise ValueError("A RunAccess is registered already (playbooks registers one).")
    _registered[:] = [access]


def run_access() -> RunAccess:
    """The registered RunAccess; RunAccessMissing when nothing registered one."""
    if not _registered:
        raise RunAccessMissing(
            "No RunAccess is registered: the broker reaches runs through the one that "
            "playbooks registers in PlaybooksConfig.ready() with "
            "tools.run_access.run_access_register (is 'playbooks' in INSTALLED_APPS?)."
        )
    return _registered[0]
