"""`llm` steps (one model call, optionally JSON-Schema checked) and `agent` steps (an SOP
worked by a tool-calling loop, checkpointed after every model turn)."""

from __future__ import annotations

import json
import re
from typing import Any

from jsonschema import Draft202012Validator

from agentstudio.billing.budgets import BudgetExceeded
from agentstudio.json_encoding import json_dumps
from approvals.models import ApprovalKind
from playbooks.engine.budget import (
    budget_approval_request,
    budget_exceeded_event,
    budgeted_model_call,
    tool_usage_record,
)
from playbooks.engine.outcome import Pause, PauseReason, Result, StepOutcome, Usage
from playbooks.engine.prompts import UNTRUSTED_LIMIT, system_prompt, untrusted_wrap
from playbooks.engine.steps.gates import decided_approval, resolved_outcome
from playbooks.engine.steps.subrun import child_marker, child_outcome
from playbooks.engine.steps.tool import (
    approval_mismatch_event,
    call_key,
    outcome_unknown_pause,
    step_tool_call,
    tool_context,
    tool_events,
)
from playbooks.engine.steps.tool_models import tool_model_usage
from playbooks.engine.view import RunView
from playbooks.models import RunStatus
from playbooks.spec.templates import template_render_value
from tools.broker import ToolOutcomeUnknown
from tools.policy import ToolRefused
from tools.providers.base import RESPONSE_SCHEMA_KEY, ModelReply, ModelRequest
from tools.providers.registry import provider_for
from tools.registry import tool_registry
from tools.skills import skills_prompt


def _model_spec(view: RunView, override: dict[str, Any] | None) -> dict[str, Any]:
    return {**view.spec.get("model", {}), **(override or {})}


def _complete(
    view: RunView, step_id: str, model: dict[str, Any], messages: list, tools: list, turn: int
) -> tuple[ModelReply, Usage, tuple[str, dict[str, Any]]]:
    request = ModelRequest(
        model=model,
        messages=messages,
        tools=tools,
        step_id=step_id,
        turn=turn,
        run_call_index=view.run.model_calls,
    )
    provider = provider_for(model, organization=view.run.organization_id)
    # reserved against the run's budget before, settled (and its usage record written) after
    reply, cost = budgeted_model_call(
        view.run, step_id, request, lambda: provider.complete(request), provider
    )
    view.run.model_calls += 1
    usage = Usage(
        usd=cost.usd,
        input_tokens=reply.input_tokens,
        output_tokens=reply.output_tokens,
        model_calls=1,
    )
    event = (
        "llm.called",
        {
            "step": step_id,
            "model": reply.model,
            "provider": reply.provider,
            "scripted": reply.scripted,
            "input_tokens": reply.input_tokens,
            "output_tokens": reply.output_tokens,
            "cached_input_tokens": reply.cached_input_tokens,
            "usage_estimated": reply.usage_estimated,
            "streamed": reply.streamed,
            "wall_seconds": round(reply.wall_seconds, 3),
            "finish_reason": reply.finish_reason,
            "usd": str(usage.usd),
            "price_fallback": cost.fallback,
            "tool_calls": [call.name for call in reply.tool_calls],
        },
    )
    return reply, usage, event


def _structured(content: Any, schema: dict[str, Any] | None) -> tuple[Any, str]:
    if not schema:
        return content, ""
    value = content
    if isinstance(content, str):
        try:
            value = json.loads(content)
        except json.JSONDecodeError:
            return None, "model output is not JSON, but the step has an output_schema"
    errors = sorted(Draft202012Validator(schema).iter_errors(value), key=lambda e: e.path)
    if errors:
        return None, f"model output does not match output_schema: {errors[0].message}"
    return value, ""


def execute_llm_step(view: RunView, index: int, step: dict[str, Any], attempt: int) -> StepOutcome:
    spec = step["llm"]
    context = view.template_context()
    prompt = template_render_value(spec["prompt"], context)
    system = template_render_value(spec.get("system"), context) if spec.get("system") else None
    messages = [
        {"role": "system", "content": system_prompt(view.spec.get("system_prompt"), system)},
        {"role": "user", "content": prompt if isinstance(prompt, str) else json.dumps(prompt)},
    ]
    model = _model_spec(view, spec.get("model"))
    if spec.get("output_schema"):
        model[RESPONSE_SCHEMA_KEY] = spec["output_schema"]  # the provider asks for it
    reply, usage, event = _complete(view, step["id"], model, messages, [], 0)
    output, problem = _structured(reply.content, spec.get("output_schema"))
    return StepOutcome(
        result=Result.FAILED if problem else Result.SUCCEEDED,
        input={"prompt": prompt},
        output=output,
        error=problem,
        state={"scripted": True} if reply.scripted else None,
        events=[event],
        usage=usage,
    )


def _untrusted_text(call_name: str, key: str, result: Any, context: Any) -> tuple[str, list]:
    """The model's view of an untrusted result: wrapped, and when longer than the limit,
    cut, with the whole output written to the workspace as an artifact it can read."""
    full = json_dumps(result.structured)
    written = []
    path = None
    if len(full) > UNTRUSTED_LIMIT:
        path = f"untrusted/{re.sub(r'[^A-Za-z0-9_.-]', '_', key)}.json"
        written.append(context.write_file(path, full.encode(), "application/json"))
    return untrusted_wrap(f"{call_name}:{key}", full, full_output_path=path), written


def _agent_start(view: RunView, step: dict[str, Any]) -> dict[str, Any]:
    agent = step["agent"]
    context = view.template_context()
    instruction = template_render_value(agent["instruction"], context)
    criteria = template_render_value(agent.get("completion_criteria", ""), context)
    user = f"Instruction: {instruction}"
    if criteria:
        user += f"\nYou are done when: {criteria}"
    return {
        "turn": 0,
        "messages": [
            {
                "role": "system",
                "content": system_prompt(
                    view.spec.get("system_prompt"),
                    skills_prompt(view.spec.get("skills") or [], agent.get("skills") or []),
                ),
            },
            {"role": "user", "content": user},
        ],
    }


def _agent_call(
    view: RunView, step: dict[str, Any], key: str, call: dict[str, Any], outcome: StepOutcome
) -> tuple[str, dict[str, Any] | None]:
    """One tool call of a turn through the broker: the text the model gets back, or the
    approval to wait for when the call needs a person first (it is not made yet)."""
    allowed = set(step["agent"].get("allowed_tools", []))
    name = call["name"]
    if name not in allowed:
        return f"Tool {name!r} is not allowed in this step; allowed: {sorted(allowed)}.", None
    context = tool_context(
        view,
        step["id"],
        key,
        name,
        model=_model_spec(view, step["agent"].get("model")),
        model_tag=f"{step['id']}:{key.rsplit(':', 1)[-1]}",
    )
    try:
        result = step_tool_call(view, step, key, name, call["arguments"], context)
    except ToolRefused as exc:
        return exc.message, None
    if result.approval_mismatch is not None:
        outcome.events.append(approval_mismatch_event(result))
        return "", result.approval_request
    if result.approval_request is not None or result.approval_pending is not None:
        outcome.events.append(("tool.approval_required", {"tool": name, "key": key}))
        return "", result.approval_request or {"call_key": key}
    model_usage, model_events = tool_model_usage(view, result)
    outcome.usage.add(model_usage)
    outcome.events += model_events + tool_events(result)
    outcome.written += result.written
    if not result.replayed:
        outcome.invocations.append(result.invocation)
        outcome.usage.tool_calls += 1
        outcome.usage_records.append(tool_usage_record(view.run, step["id"], result))
    definition = tool_registry.get(name)
    text = result.text
    if definition is not None and definition.untrusted_output and not result.is_error:
        text, cut_files = _untrusted_text(name, key, result, context)
        outcome.written += cut_files
    return f"ERROR: {text}" if result.is_error else text, None


def _agent_tool_results(
    view: RunView,
    step: dict[str, Any],
    attempt: int,
    turn: int,
    calls: list[dict[str, Any]],
    outcome: StepOutcome,
    settled: list[dict[str, Any] | None] | None = None,
) -> tuple[list[dict[str, Any] | None], list[dict[str, Any]]]:
    """The tool message of each call of the turn (None where a person must decide first)
    and the approvals to wait for. `settled` holds the messages of calls already answered
    when the turn paused: those are not made again. Each call is decided on its own."""
    messages: list[dict[str, Any] | None] = []
    requests: list[dict[str, Any]] = []
    breached = False
    for number, call in enumerate(calls):
        if settled is not None and settled[number] is not None:
            messages.append(settled[number])
            continue
        if breached:  # the budget refused a call of this turn: the rest wait with it
            messages.append(None)
            continue
        key = call_key(view, step["id"], attempt, f"t{turn}.{number}")
        try:
            text, request = _agent_call(view, step, key, call, outcome)
        except BudgetExceeded as exc:
            if exc.on_breach == "fail":
                raise
            # the model's turn and the calls made so far are kept: after a raise, the turn
            # goes on from this call
            outcome.events.append(budget_exceeded_event(exc))
            text, request = "", budget_approval_request(view.run, step["id"], exc)
            breached = True
        if request is not None:
            requests.append(request)
            messages.append(None)
            continue
        messages.append(
            {"role": "tool", "tool_call_id": call["id"], "name": call["name"], "content": text}
        )
    return messages, requests


def _agent_turn_paused(
    outcome: StepOutcome,
    state: dict[str, Any],
    assistant: dict[str, Any],
    messages: list[dict[str, Any] | None],
    requests: list[dict[str, Any]],
) -> StepOutcome:
    """The turn waits for people: the calls already made keep their answers in the step's
    state, and one approval per waiting call is created with the pause."""
    outcome.result = Result.PAUSED
    outcome.state = {**state, "turn_pending": {"assistant": assistant, "results": messages}}
    changed = any(kind == "tool.approval_mismatch" for kind, _data in outcome.events)
    budget = any(request.get("kind") == ApprovalKind.BUDGET for request in requests)
    reason = PauseReason.BUDGET if budget else PauseReason.TOOL_CALL
    outcome.pause = Pause(
        status=RunStatus.BLOCKED if changed else RunStatus.WAITING_FOR_APPROVAL,
        reason=PauseReason.APPROVAL_MISMATCH if changed else reason,
        approval=requests[0],
        more_approvals=requests[1:],
    )
    return outcome


def _agent_turn_finish(
    view: RunView,
    step: dict[str, Any],
    attempt: int,
    outcome: StepOutcome,
    state: dict[str, Any],
    assistant: dict[str, Any],
    messages: list[dict[str, Any]],
) -> StepOutcome:
    turn = int(state["turn"])
    outcome.state = {"turn": turn + 1, "messages": [*state["messages"], assistant, *messages]}
    if turn + 1 >= int(step["agent"].get("max_turns", 8)):
        _agent_out_of_turns(view, outcome, step, attempt)
    return outcome


def _agent_turn_resume(
    view: RunView, step: dict[str, Any], attempt: int, state: dict[str, Any]
) -> StepOutcome:
    """After people decided on a paused turn's calls: approved calls are made as approved,
    rejected ones answer the model with the rejection and its reason; still-pending ones
    keep the run waiting. No model call happens until every call of the turn has its answer."""
    pending = state["turn_pending"]
    base = {key: value for key, value in state.items() if key != "turn_pending"}
    outcome = StepOutcome(result=Result.PROGRESS, input={"instruction": state["messages"][1]})
    calls = pending["assistant"]["tool_calls"]
    try:
        messages, requests = _agent_tool_results(
            view, step, attempt, int(state["turn"]), calls, outcome, settled=pending["results"]
        )
    except ToolOutcomeUnknown as exc:
        return outcome_unknown_pause(exc, step["id"])
    if requests:
        return _agent_turn_paused(outcome, base, pending["assistant"], messages, requests)
    return _agent_turn_finish(
        view, step, attempt, outcome, base, pending["assistant"], [m for m in messages if m]
    )


def execute_agent_step(
    view: RunView, index: int, step: dict[str, Any], attempt: int
) -> StepOutcome:
    agent = step["agent"]
    open_row = view.open_steps.get(index)
    state = open_row.state if open_row is not None and open_row.state else _agent_start(view, step)
    if state.get("awaiting"):
        return _agent_awaited(view, step, attempt, state)
    if state.get("turn_pending"):
        return _agent_turn_resume(view, step, attempt, state)
    turn = int(state["turn"])
    tools = [
        tool_registry.get(name).to_mcp()
        for name in agent.get("allowed_tools", [])
        if tool_registry.get(name) is not None
    ]
    reply, usage, event = _complete(
        view, step["id"], _model_spec(view, agent.get("model")), state["messages"], tools, turn
    )
    outcome = StepOutcome(
        result=Result.PROGRESS,
        input={"instruction": state["messages"][1]},
        events=[event],
        usage=usage,
    )
    assistant = {
        "role": "assistant",
        "content": reply.content,
        "tool_calls": [
            {"id": c.id, "name": c.name, "arguments": c.arguments} for c in reply.tool_calls
        ],
    }
    if not reply.tool_calls:
        outcome.result, outcome.output = Result.SUCCEEDED, reply.content
        outcome.state = {"turn": turn + 1, "messages": [*state["messages"], assistant]}
        if reply.scripted:  # the answer is the scripted model's (RunView.scripted_steps)
            outcome.state["scripted"] = True
        return outcome
    try:
        messages, requests = _agent_tool_results(
            view, step, attempt, turn, assistant["tool_calls"], outcome
        )
    except ToolOutcomeUnknown as exc:
        return outcome_unknown_pause(exc, step["id"])
    if requests:
        return _agent_turn_paused(outcome, state, assistant, messages, requests)
    return _agent_turn_finish(view, step, attempt, outcome, state, assistant, messages)


def _agent_awaited(view: RunView, step: dict[str, Any], attempt: int, state: dict) -> StepOutcome:
    """The agent ran out of turns and asked a person or a sub-agent; use their result."""
    if state["awaiting"] == PauseReason.QUESTION:
        approval = decided_approval(view, call_key(view, step["id"], attempt, "ask"))
        resolved = None if approval is None else resolved_outcome(approval)
    else:
        resolved = child_outcome(view, step["id"], attempt)
    if resolved is None or resolved.result == Result.PAUSED:
        return StepOutcome(
            result=Result.PAUSED,
            state=state,
            pause=Pause(status=RunStatus.BLOCKED, reason=state["awaiting"]),
        )
    # The result is a person's or a sub-run's, not the (possibly scripted) model's.
    resolved.state = {key: value for key, value in state.items() if key != "scripted"}
    return resolved


def _agent_out_of_turns(
    view: RunView, outcome: StepOutcome, step: dict[str, Any], attempt: int
) -> None:
    agent = step["agent"]
    policy = agent.get("on_failure", "abort")
    reason = f"the agent did not finish within max_turns ({agent.get('max_turns', 8)})"
    if policy == "skip":
        outcome.result, outcome.error = Result.SKIPPED, reason
    elif policy == "ask_user":
        outcome.result = Result.PAUSED
        outcome.state["awaiting"] = PauseReason.QUESTION
        outcome.pause = Pause(
            status=RunStatus.BLOCKED,
            reason=PauseReason.QUESTION,
            approval={
                "call_key": call_key(view, step["id"], attempt, "ask"),
                "kind": ApprovalKind.QUESTION,
                "title": f"Step {step['id']}: {reason}. What is the answer?",
                "payload": {
                    "question": f"{reason}. Instruction: {agent['instruction']}. "
                    "Give the step's result.",
                    "schema": {"type": "string", "maxLength": 10000},
                },
                "step": step["id"],
            },
        )
    elif policy == "call_subagent":
        outcome.result = Result.PAUSED
        outcome.state["awaiting"] = PauseReason.SUB_RUN
        outcome.pause = Pause(
            status=RunStatus.BLOCKED,
            reason=PauseReason.SUB_RUN,
            child={
                "slug": agent["subagent"],
                "inputs": {"instruction": agent["instruction"]},
                "marker": child_marker(step["id"], attempt),
            },
        )
    else:
        outcome.result, outcome.error = Result.FAILED, reason
