"""The run context of an approval for the approval page (approvals.context), registered
from PlaybooksConfig.ready(): the run, its inputs, the steps before the one waiting with
their outputs, in a sentence what approving and rejecting do next, from the run's pinned
spec, and the next step's dry run where it has one (approval_preview)."""

from __future__ import annotations

import re
from typing import Any

from approvals.context import approval_context_register
from approvals.models import Approval, ApprovalKind
from playbooks.models import Run, RunStep
from playbooks.models.runs import StepStatus
from playbooks.runs.approval_preview import gate_next_step_preview
from playbooks.spec.defaults import spec_effective_approval_policy

INPUT_REFERENCE = re.compile(r"^\{\{\s*inputs\.(\w+)\s*\}\}$")
# Arguments that name the files a step reads and writes, for the sentence about what follows.
READ_ARGUMENTS = ("dataset", "path", "input_path", "source")
WRITE_ARGUMENTS = ("output_path",)


def _argument_text(value: Any, inputs: dict[str, Any]) -> str:
    """An argument as the run will see it: `{{ inputs.x }}` resolved, other templates left
    out (they need the steps' outputs)."""
    if not isinstance(value, str):
        return ""
    match = INPUT_REFERENCE.match(value.strip())
    if match:
        resolved = inputs.get(match.group(1))
        return resolved if isinstance(resolved, str) else ""
    return "" if "{{" in value else value


def _step_effect(step: dict[str, Any], inputs: dict[str, Any]) -> str:
    """What a step does, said shortly: “Apply the approved rules” (tools.x on a.csv,
    writing b.csv)."""
    title = step.get("title") or step.get("id", "")
    tool = step.get("tool")
    if not tool:
        return f"“{title}”"
    args = step.get("args") or {}
    reads = [_argument_text(args.get(name), inputs) for name in READ_ARGUMENTS]
    writes = [_argument_text(args.get(name), inputs) for name in WRITE_ARGUMENTS]
    detail = tool
    if any(reads):
        detail += " on " + ", ".join(text for text in reads if text)
    if any(writes):
        detail += ", writing " + ", ".join(text for text in writes if text)
    return f"“{title}” ({detail})"


def _outcomes(approval: Approval, run: Run, position: int | None) -> tuple[str, str]:
    """The sentences for approving and rejecting."""
    spec = run.version.spec or {}
    steps = spec.get("steps") or []
    inputs = run.inputs if isinstance(run.inputs, dict) else {}
    if approval.kind == ApprovalKind.TOOL_CALL:
        undo = (spec_effective_approval_policy(spec).get(approval.risk) or {}).get("undo_seconds")
        approve = f"Approving makes the call to {approval.tool} with this payload"
        approve += f" once its {undo}-second undo window closes." if undo else "."
        step = steps[position] if position is not None else {}
        reject = (
            "Rejecting tells the agent the call was refused, with your reason."
            if "agent" in step
            else "Rejecting fails the run with your reason."
        )
        return approve, reject
    following = steps[position + 1] if position is not None and position + 1 < len(steps) else None
    approve = "Approving passes this payload on as the step's output"
    approve += (
        f"; next, {_step_effect(following, inputs)} runs with it."
        if following
        else "; it is the run's last step."
    )
    return approve, "Rejecting fails the run with your reason."


def run_approval_context(approval: Approval) -> dict[str, Any] | None:
    if approval.run_id is None:
        return None
    run = Run.objects.select_related("playbook", "version").get(pk=approval.run_id)
    spec_steps = (run.version.spec or {}).get("steps") or []
    ids = [step.get("id") for step in spec_steps]
    position = ids.index(approval.step) if approval.step in ids else None
    before = ids[:position] if position is not None else ids
    latest: dict[str, RunStep] = {}
    for row in RunStep.objects.filter(run=run, step_id__in=before).order_by("index", "attempt"):
        latest[row.step_id] = row
    titles = {step.get("id"): step.get("title") or step.get("id") for step in spec_steps}
    previous = [
        {
            "id": step_id,
            "title": titles.get(step_id, step_id),
            "status": row.status,
            "output": row.output if row.status == StepStatus.SUCCEEDED else row.error,
        }
        for step_id, row in latest.items()
    ]
    on_approve, on_reject = _outcomes(approval, run, position)
    after = spec_steps[position + 1 :] if position is not None else []
    following = after[0] if after else None
    outputs = {
        step_id: row.output for step_id, row in latest.items() if row.status == StepStatus.SUCCEEDED
    }
    return {
        "run": {
            "id": str(run.pk),
            "playbook": run.playbook.name,
            "started_at": run.started_at,
            "status": run.get_status_display(),
        },
        "inputs": run.inputs,
        "previous_steps": previous,
        "on_approve": on_approve,
        "on_reject": on_reject,
        "preview": gate_next_step_preview(approval, run, following, outputs),
    }


def run_approval_context_register() -> None:
    approval_context_register(run_approval_context)
