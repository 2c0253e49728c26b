"""Executing one step: `when`, the kind's handler, retries with exponential backoff."""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any

import structlog
from django.utils import timezone
from jinja2 import TemplateError

from agentstudio.billing.budgets import BudgetExceeded
from playbooks.engine.budget import (
    budget_breach_outcome,
    budget_wall_check,
    budget_wall_step_begin,
    budget_wall_step_end,
)
from playbooks.engine.outcome import Result, StepOutcome
from playbooks.engine.steps import gates, model, subrun, tool
from playbooks.engine.view import RunView
from playbooks.spec.defaults import StepKind, step_kind
from playbooks.spec.template_limits import template_time_limit
from playbooks.spec.templates import template_render_value
from tools.context import ToolExecutionError

_log = structlog.get_logger("agentstudio.engine")

HANDLERS = {
    StepKind.TOOL: tool.execute_tool_step,
    StepKind.LLM: model.execute_llm_step,
    StepKind.AGENT: model.execute_agent_step,
    StepKind.APPROVAL: gates.execute_approval_step,
    StepKind.ASK: gates.execute_ask_step,
    StepKind.PLAYBOOK: subrun.execute_playbook_step,
    StepKind.REMOTE_AGENT: subrun.execute_remote_agent_step,
}


def step_execute(view: RunView, index: int) -> StepOutcome:
    step = view.steps[index]
    attempt = view.attempt_for(index)
    started_at, started = timezone.now(), time.monotonic()
    budget_wall_step_begin(view.run, in_tree=view.in_run_tree)
    try:
        outcome = _step_outcome(view, index, step, attempt)
    finally:
        budget_wall_step_end(view.run)
    outcome.started_at = started_at
    outcome.usage.wall_seconds = time.monotonic() - started  # the run's active time
    return outcome


def _step_outcome(view: RunView, index: int, step: dict[str, Any], attempt: int) -> StepOutcome:
    # Templates render before the step's work starts; the step's timeout bounds them too
    # (checked as they run, so it holds in any worker thread).
    seconds = tool.step_timeout(step)
    try:
        with template_time_limit(seconds=seconds, label=f"the step's {seconds:g} s timeout"):
            if "when" in step and index not in view.open_steps:
                condition = template_render_value(step["when"], view.template_context())
                if not condition:
                    return StepOutcome(result=Result.SKIPPED, input={"when": condition})
            budget_wall_check(view.run)
            outcome = HANDLERS[step_kind(step)](view, index, step, attempt)
    except BudgetExceeded as exc:  # a call that did not fit: pause or fail, never retried
        return budget_breach_outcome(view.run, step["id"], exc)
    except TemplateError as exc:
        outcome = StepOutcome(result=Result.FAILED, error=f"template error: {exc}")
    except ToolExecutionError as exc:
        outcome = StepOutcome(result=Result.FAILED, error=str(exc))
    except Exception as exc:  # a bug in a handler must fail the step, not loop the run
        _log.exception("step crashed", run=str(view.run.pk), step=step.get("id"))
        outcome = StepOutcome(result=Result.FAILED, error=f"internal error: {type(exc).__name__}")
    if outcome.result == Result.FAILED:
        _schedule_retry(outcome, step.get("retry"), attempt)
    return outcome


def _schedule_retry(outcome: StepOutcome, retry: dict[str, Any] | None, attempt: int) -> None:
    if not retry or attempt >= int(retry.get("attempts", 1)):
        return
    base = float(retry.get("backoff_seconds", 0))
    delay = base * float(retry.get("backoff_multiplier", 2)) ** (attempt - 1)
    if "max_backoff_seconds" in retry:
        delay = min(delay, float(retry["max_backoff_seconds"]))
    outcome.result = Result.RETRY
    outcome.retry_at = timezone.now() + timedelta(seconds=delay)
