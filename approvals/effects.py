"""What a decision does, registered by the app that owns the rule (like Wagtail's
`Task.on_action`): approvals records decisions; playbooks and tools say what follows, from
their `AppConfig.ready()`, so approvals imports neither."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from approvals.models import Approval, ApprovalKind

# The step of a tool call an agent made through POST /tools/call/: no run step waits for it.
API_CALL_STEP = "api"

DECIDED = "decided"
REOPENED = "reopened"

# decided(approval=, actor=, window_closed=): inside the decision's transaction, after the
# decision row and audit row are written.
DecidedHandler = Callable[..., None]
# reopened(undone=, reopened=, actor=): an approval taken back inside its undo window.
ReopenedHandler = Callable[..., None]


class ApprovalEffectMissing(LookupError):
    """No app registered what this decision does: a wiring fault, never silently a no-op."""


@dataclass(frozen=True)
class EffectKey:
    """A handler is chosen by kind, and for tool calls by whether a run step or the API made
    the call (their effects belong to different apps)."""

    kind: str
    api_call: bool = False

    def __str__(self) -> str:
        return f"{self.kind} (made through the API)" if self.api_call else self.kind


_handlers: dict[str, dict[EffectKey, Callable[..., Any]]] = {DECIDED: {}, REOPENED: {}}
_hooks: dict[str, Callable[..., Any]] = {}

# The single-function hooks: the approval policy of a run's spec (undo windows), what an
# unanswered call of a run counts as (its spec's `on_expire`), the check of edited tool-call
# arguments against the tool's inputSchema, answering a question with a file, which approved
# approvals a run still waits to see released once their undo window closed (a filter).
RUN_APPROVAL_POLICY = "run_approval_policy"
# run_approval_rules(run=, kind=, step=, risk=): the who-decides rules the run's spec
# declares for an approval about to be created (approval_policy, or a gate's `approval:`).
RUN_APPROVAL_RULES = "run_approval_rules"
RUN_ON_EXPIRE = "run_on_expire"
TOOL_ARGUMENTS_PROBLEMS = "tool_arguments_problems"
QUESTION_ANSWER_WITH_FILE = "question_answer_with_file"
RUNS_AWAITING_RELEASE = "runs_awaiting_release"
HOOKS = frozenset(
    {
        RUN_APPROVAL_POLICY,
        RUN_APPROVAL_RULES,
        RUN_ON_EXPIRE,
        TOOL_ARGUMENTS_PROBLEMS,
        QUESTION_ANSWER_WITH_FILE,
        RUNS_AWAITING_RELEASE,
    }
)


def approval_effect_key(approval: Approval) -> EffectKey:
    """The key of the handlers an approval's decision dispatches to."""
    api_call = approval.kind == ApprovalKind.TOOL_CALL and approval.step == API_CALL_STEP
    return EffectKey(kind=approval.kind, api_call=api_call)


def approval_effect_register(
    *,
    kinds: list[str] | tuple[str, ...],
    api_call: bool = False,
    decided: DecidedHandler | None = None,
    reopened: ReopenedHandler | None = None,
) -> None:
    """Registers what a decision (and an undo's reopening) of these kinds does. Registering
    a second, different handler for the same key is refused: one obvious home per rule."""
    for kind in kinds:
        if kind not in ApprovalKind.values:
            raise ValueError(f"Unknown approval kind {kind!r}.")
        key = EffectKey(kind=kind, api_call=api_call)
        for event, handler in ((DECIDED, decided), (REOPENED, reopened)):
            if handler is None:
                continue
            existing = _handlers[event].get(key)
            if existing is not None and existing is not handler:
                raise ValueError(f"A {event!r} effect for approval kind {key} is registered.")
            _handlers[event][key] = handler


def approval_effect_unregister(
    *, kind: str, api_call: bool = False
) -> tuple[DecidedHandler | None, ReopenedHandler | None]:
    """Removes what a kind's decisions do (like admin.site.unregister); returns the removed
    (decided, reopened) handlers so they can be registered again."""
    key = EffectKey(kind=kind, api_call=api_call)
    return _handlers[DECIDED].pop(key, None), _handlers[REOPENED].pop(key, None)


def approval_hook_register(*, name: str, handler: Callable[..., Any]) -> None:
    """Registers one of the single-function hooks (HOOKS) an approval needs from its owner."""
    if name not in HOOKS:
        raise ValueError(f"Unknown approval hook {name!r}.")
    existing = _hooks.get(name)
    if existing is not None and existing is not handler:
        raise ValueError(f"The approval hook {name!r} is registered.")
    _hooks[name] = handler


def _handler(event: str, approval: Approval) -> Callable[..., Any]:
    key = approval_effect_key(approval)
    handler = _handlers[event].get(key)
    if handler is None:
        raise ApprovalEffectMissing(
            f"No {event!r} effect is registered for approval kind {key} "
            f"(approval {approval.pk}); the app that owns it registers one in its "
            "AppConfig.ready() with approvals.effects.approval_effect_register."
        )
    return handler


def approval_effect_decided_handler(approval: Approval) -> DecidedHandler:
    """The decided handler for this approval; ApprovalEffectMissing when none is registered."""
    return _handler(DECIDED, approval)


def approval_effect_reopened_handler(approval: Approval) -> ReopenedHandler:
    """The reopened handler for this approval; ApprovalEffectMissing when none is registered."""
    return _handler(REOPENED, approval)


def approval_hook(name: str) -> Callable[..., Any]:
    """A registered hook; ApprovalEffectMissing when its owner did not register it."""
    handler = _hooks.get(name)
    if handler is None:
        raise ApprovalEffectMissing(
            f"No approval hook {name!r} is registered; the app that owns it registers one in "
            "its AppConfig.ready() with approvals.effects.approval_hook_register."
        )
    return handler
