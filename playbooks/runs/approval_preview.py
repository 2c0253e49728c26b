"""What a gate's approval would lead to, shown before it is decided: the dry run of the
next step's tool (where the tool has one) with the gate's payload as the gate's output,
on the run's workspace (data-cleanup's rules: which rows would merge). A dry run writes
nothing and calls nothing outside."""

from __future__ import annotations

from typing import Any

from approvals.models import Approval, ApprovalKind
from playbooks.engine.workspace import run_workspace
from playbooks.models import Run
from playbooks.spec.templates import template_render_value
from tools.context import ToolContext
from tools.registry import tool_registry
from tools.tool_execution import tool_dry_run


def gate_next_step_preview(
    approval: Approval, run: Run, following: dict[str, Any] | None, outputs: dict[str, Any]
) -> dict[str, Any] | None:
    """{step, tool, result} for a gate whose next step's tool has a dry run, else None."""
    if approval.kind != ApprovalKind.GATE or not following or not following.get("tool"):
        return None
    definition = tool_registry.get(following["tool"])
    if definition is None or not definition.has_dry_run:
        return None
    context = {
        "inputs": run.inputs,
        "steps": {
            step_id: {"output": output}
            for step_id, output in {**outputs, approval.step: approval.payload}.items()
        },
        "run": {"id": str(run.pk)},
    }
    preview = {"step": following.get("title") or following.get("id"), "tool": definition.name}
    try:
        arguments = template_render_value(following.get("args") or {}, context)
    except Exception as exc:  # a template the gate's payload cannot fill is shown, not raised
        return {**preview, "result": {"dry_run": True, "error": f"{type(exc).__name__}: {exc}"}}
    tool_context = ToolContext(
        run_id=str(run.pk),
        step_id=following.get("id", ""),
        call_key=f"{run.pk}:{following.get('id', '')}:preview",
        workspace=run_workspace(run.pk),
    )
    return {**preview, "result": tool_dry_run(definition, tool_context, arguments)}
