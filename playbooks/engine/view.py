"""What a worker knows about a run while it holds the lease: spec, step outputs, lineage."""

from __future__ import annotations

import collections
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from playbooks.engine.workspace import run_workspace
from playbooks.models import Run, RunStep, StepStatus
from playbooks.runs.tool_scope import run_tool_scope
from playbooks.spec.defaults import StepKind
from tools.models import ToolInvocation
from tools.registry import tool_registry


def step_is_pure(step: dict[str, Any]) -> bool:
    """Whether running `step` before the previous checkpoint is known to be committed is
    harmless: a tool step whose tool is idempotent, at most `compute`, and not open-world
    (see `engine.store.writer`)."""
    if "tool" not in step:
        return False
    definition = tool_registry.get(step["tool"])
    return bool(definition is not None and definition.pure)


def step_output_scripted(state: Any) -> bool:
    """Whether a step row's state says a scripted model (no real one configured) wrote its
    output: `llm` and `agent` steps set `state["scripted"]` when the reply that became the
    output was scripted."""
    return isinstance(state, dict) and state.get("scripted") is True


@dataclass
class RunView:
    run: Run
    spec: dict[str, Any]
    outputs: dict[str, Any] = field(default_factory=dict)  # step id → output
    # ids of finished steps whose output a scripted model wrote (`step_output_scripted`)
    scripted_steps: set[str] = field(default_factory=set)
    lineage: list[dict[str, Any]] = field(default_factory=list)
    step_attempts: dict[int, int] = field(default_factory=dict)  # index → latest attempt
    open_steps: dict[int, RunStep] = field(default_factory=dict)  # index → unfinished row
    invocation_keys: set[str] = field(default_factory=set)  # tool calls recorded so far
    # checkpoints in flight on the writer, oldest first (engine.store.checkpoint)
    pending: collections.deque = field(default_factory=collections.deque)
    # What the checkpoint may use, worked out once per slice (engine.runner)
    on_postgresql: bool = False
    may_overlap: bool = False
    _workspace: Path | None = None
    _pure: dict[int, bool] = field(default_factory=dict)
    _in_tree: bool | None = None
    _scope: Any = None

    @classmethod
    def load(cls, run: Run) -> RunView:
        """One query for every step row: outputs of finished steps, the latest attempt of
        each, and the unfinished row (an agent mid-conversation, a waiting gate)."""
        view = cls(run=run, spec=run.version.spec)
        artifacts: dict[str, list[str]] = {}
        for path, step_id in run.artifacts.order_by().values_list("path", "step_id"):
            artifacts.setdefault(step_id, []).append(path)
        view.invocation_keys.update(
            ToolInvocation.objects.filter(run=run).order_by().values_list("key", flat=True)
        )
        for row in RunStep.objects.filter(run=run).order_by("index", "attempt"):
            view.step_attempts[row.index] = row.attempt
            view.open_steps.pop(row.index, None)
            if row.status in (StepStatus.SUCCEEDED, StepStatus.SKIPPED):
                view.outputs[row.step_id] = row.output
                view.mark_scripted(row.step_id, row.state)
                view.record_lineage(row, artifacts.get(row.step_id, []))
            elif row.status in (StepStatus.RUNNING, StepStatus.WAITING):
                view.open_steps[row.index] = row
        return view

    def workspace(self) -> Path:
        """The run's working directory, created once per slice rather than once per call."""
        if self._workspace is None:
            self._workspace = run_workspace(self.run.pk)
        return self._workspace

    def scope(self) -> Any:
        """The tool scope the run's pinned spec grants (runs.tool_scope), built once per slice."""
        if self._scope is None:
            self._scope = run_tool_scope(self.run)
        return self._scope

    def step_is_pure(self, index: int) -> bool:
        """`step_is_pure` of step `index`, looked up once per slice."""
        pure = self._pure.get(index)
        if pure is None:
            pure = self._pure[index] = step_is_pure(self.steps[index])
        return pure

    @property
    def steps(self) -> list[dict[str, Any]]:
        return self.spec.get("steps", [])

    @property
    def in_run_tree(self) -> bool:
        """Whether the run shares its budget with other runs: it is a sub-run, or it has
        sub-run steps (looked up once per slice)."""
        if self._in_tree is None:
            self._in_tree = self.run.parent_run_id is not None or any(
                StepKind.PLAYBOOK in step for step in self.steps
            )
        return self._in_tree

    def mark_scripted(self, step_id: str, state: Any) -> None:
        """Remembers whether the finished step's output came from a scripted model."""
        if step_output_scripted(state):
            self.scripted_steps.add(step_id)
        else:
            self.scripted_steps.discard(step_id)

    def scripted_step_ids(self) -> list[str]:
        """The finished steps whose output a scripted model wrote, in step order."""
        return [step["id"] for step in self.steps if step.get("id") in self.scripted_steps]

    def template_context(self) -> dict[str, Any]:
        return {
            "inputs": self.run.inputs,
            "steps": {step_id: {"output": output} for step_id, output in self.outputs.items()},
            "run": {
                "id": str(self.run.pk),
                "playbook": str(self.run.playbook_id),
                "version": self.run.version.number,
                "attempt": self.run.attempt,
                "scripted_steps": self.scripted_step_ids(),
            },
        }

    def attempt_for(self, index: int) -> int:
        """The attempt a fresh execution of step `index` uses (an open row keeps its own)."""
        if index in self.open_steps:
            return self.open_steps[index].attempt
        return self.step_attempts.get(index, 0) + 1

    def record_lineage(self, row: RunStep, artifacts: list[str]) -> None:
        tool = None
        step = self.steps[row.index] if row.index < len(self.steps) else {}
        if "tool" in step:
            tool = step["tool"]
        entry = {
            "step": row.step_id,
            "kind": row.kind,
            "tool": tool,
            "inputs": row.input,
            "artifacts": sorted(artifacts),
            "started_at": row.started_at.isoformat() if row.started_at else None,
            "finished_at": row.finished_at.isoformat() if row.finished_at else None,
        }
        decision = (row.state or {}).get("decision") if isinstance(row.state, dict) else None
        if decision is not None:
            # A gate's inputs are what the person approved (after any edit), not the proposal;
            # a question's answer is its output.
            if row.kind == "approval" and isinstance(row.input, dict):
                entry["inputs"] = {**row.input, "payload": row.output}
            entry["decision"] = decision
        self.lineage.append(entry)
