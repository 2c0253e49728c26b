"""What executing a step returns to the runner, which commits it as one checkpoint."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from playbooks.engine.events import EventSpec
from tools.context import WrittenFile


class Result(enum.StrEnum):
    SUCCEEDED = "succeeded"
    FAILED = "failed"  # for good: the run fails
    RETRY = "retry"  # this attempt failed; another starts at `retry_at`
    SKIPPED = "skipped"  # `when` was false
    PROGRESS = "progress"  # an agent turn: the step goes on, its state is checkpointed
    PAUSED = "paused"  # waiting for a person or a sub-run; the worker lets go


class PauseReason:
    """Why a paused run waits (its `paused_reason`): for a person's decision, a sub-run, or
    a review of its outputs."""

    GATE = "gate"
    QUESTION = "question"
    TOOL_CALL = "tool_call"
    APPROVAL_MISMATCH = "approval_mismatch"
    OUTCOME_UNKNOWN = "outcome_unknown"
    SUB_RUN = "sub_run"
    REVIEW = "review"
    BUDGET = "budget"


@dataclass
class Usage:
    usd: Decimal = Decimal("0")
    input_tokens: int = 0
    output_tokens: int = 0
    tool_calls: int = 0
    model_calls: int = 0
    wall_seconds: float = 0.0  # the step's active time (what max_wall_seconds counts)

    def add(self, other: Usage) -> None:
        self.usd += other.usd
        self.input_tokens += other.input_tokens
        self.output_tokens += other.output_tokens
        self.tool_calls += other.tool_calls
        self.model_calls += other.model_calls
        self.wall_seconds += other.wall_seconds


@dataclass
class Pause:
    """How the run waits. `approval` holds the fields of an Approval to create in the same
    checkpoint (`more_approvals` those of further ones: one per call of an agent's turn that
    needs a person); `child` the fields of a sub-run to create."""

    status: str  # RunStatus.WAITING_FOR_APPROVAL or RunStatus.BLOCKED
    reason: str  # a PauseReason
    approval: dict[str, Any] | None = None
    child: dict[str, Any] | None = None
    more_approvals: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class StepOutcome:
    result: Result
    input: Any = None
    output: Any = None
    error: str = ""
    state: Any = None
    events: list[EventSpec] = field(default_factory=list)
    usage: Usage = field(default_factory=Usage)
    invocations: list[Any] = field(default_factory=list)
    # the tool calls' usage records (billing.UsageRecord, unsaved), written with the step
    usage_records: list[Any] = field(default_factory=list)
    # tool calls of a pure tool charged to the budget by the checkpoint that records them
    # (`charge_at_commit`): if the budget has no room then, the call's result is dropped
    # (it had no effect) and the step pauses or fails as for any call that does not fit
    deferred_tool_charges: int = 0
    written: list[WrittenFile] = field(default_factory=list)
    pause: Pause | None = None
    retry_at: datetime | None = None
    started_at: datetime | None = None  # when execution began (the checkpoint comes after)
