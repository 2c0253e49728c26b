"""What a valid prompt template is, for `tools.studio.ai.refine_prompt`.

A prompt template is a JSON list of 1 to 100 chat messages, each exactly `{role, content}`:
`role` one of system, developer, user, assistant; `content` a non-empty string (at most
100,000 characters, 200,000 in all). System and developer messages come first (none after
the first user or assistant message), and at least one message is not the assistant's.
Placeholders (`{{ name }}`) of the template being refined are variables its user fills
in: every one must still be in the refined messages.

The template being refined may be given in that form, as `{"messages": [...]}`, or as an
object of role keys (`system`, `developer`, `user`, `assistant`) to strings plus anything
else (a name, notes), which the model reads as context."""

from __future__ import annotations

import json
import re
from typing import Any

from tools.context import ToolExecutionError

ROLES = ("system", "developer", "user", "assistant")
MAX_MESSAGES = 100
MAX_CONTENT_CHARS = 100_000
MAX_TOTAL_CHARS = 200_000
MAX_SUMMARY_CHARS = 4_000
_PLACEHOLDER = re.compile(r"\{\{\s*[A-Za-z_][A-Za-z0-9_.]*\s*\}\}")
_LEADING = ("system", "developer")


def template_parse(text: str) -> Any:
    """The template's JSON value; ToolExecutionError naming where it is not JSON."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ToolExecutionError(
            f"prompt_template_json is not JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}."
        ) from None


def _strings(value: Any) -> list[str]:
    found: list[str] = []
    pending = [value]
    while pending:
        item = pending.pop()
        if isinstance(item, str):
            found.append(item)
        elif isinstance(item, dict):
            pending.extend(item.values())
        elif isinstance(item, list):
            pending.extend(item)
    return found


def template_placeholders(template: Any) -> list[str]:
    """The placeholders in the template, normalised (`{{ name }}`), in first-seen order."""
    seen: dict[str, None] = {}
    for text in _strings(template):
        for match in _PLACEHOLDER.findall(text):
            seen[_normal(match)] = None
    return list(seen)


def _normal(placeholder: str) -> str:
    return "{{ " + placeholder.strip("{} \t\n") + " }}"


def messages_problems(messages: Any, *, placeholders: list[str] = ()) -> list[dict[str, Any]]:
    """Why `messages` is not a valid prompt template (JSON Pointers into it); [] when it is."""
    if not isinstance(messages, list):
        return [{"path": "", "message": "must be a list of {role, content} messages"}]
    if not 1 <= len(messages) <= MAX_MESSAGES:
        return [{"path": "", "message": f"must hold 1 to {MAX_MESSAGES} messages"}]
    problems: list[dict[str, Any]] = []
    conversation_started = False
    total = 0
    for index, message in enumerate(messages):
        path = f"/{index}"
        if not isinstance(message, dict):
            problems.append({"path": path, "message": "must be an object {role, content}"})
            continue
        extra = sorted(set(message) - {"role", "content"})
        if extra:
            problems.append({"path": path, "message": f"unknown keys {extra}: only role, content"})
        role, content = message.get("role"), message.get("content")
        if role not in ROLES:
            problems.append({"path": f"{path}/role", "message": f"must be one of {list(ROLES)}"})
        elif role in _LEADING and conversation_started:
            problems.append(
                {
                    "path": f"{path}/role",
                    "message": f"a {role} message must come before every user and assistant "
                    "message",
                }
            )
        elif role not in _LEADING:
            conversation_started = True
        if not isinstance(content, str) or not content.strip():
            problems.append({"path": f"{path}/content", "message": "must be a non-empty string"})
        elif len(content) > MAX_CONTENT_CHARS:
            problems.append(
                {"path": f"{path}/content", "message": f"over {MAX_CONTENT_CHARS} characters"}
            )
        else:
            total += len(content)
    if total > MAX_TOTAL_CHARS:
        problems.append({"path": "", "message": f"over {MAX_TOTAL_CHARS} characters in all"})
    roles = [m.get("role") for m in messages if isinstance(m, dict)]
    if roles and all(role == "assistant" for role in roles):
        problems.append({"path": "", "message": "needs a system, developer or user message"})
    text = "\n".join(m["content"] for m in messages if isinstance(m, dict) and _is_text(m))
    kept = {_normal(match) for match in _PLACEHOLDER.findall(text)}
    for placeholder in placeholders:
        if placeholder not in kept:
            problems.append(
                {"path": "", "message": f"the template's placeholder {placeholder} is missing"}
            )
    return problems


def _is_text(message: dict[str, Any]) -> bool:
    return isinstance(message.get("content"), str)


def refined_problems(answer: Any, *, placeholders: list[str]) -> list[dict[str, Any]]:
    """Why a refine answer is not `{messages, summary}` with valid messages; [] when it is."""
    if not isinstance(answer, dict):
        return [{"path": "", "message": "must be a JSON object {messages, summary}"}]
    problems: list[dict[str, Any]] = []
    extra = sorted(set(answer) - {"messages", "summary"})
    if extra:
        problems.append({"path": "", "message": f"unknown keys {extra}: only messages, summary"})
    summary = answer.get("summary")
    if not isinstance(summary, str) or not summary.strip():
        problems.append({"path": "/summary", "message": "must be a non-empty string"})
    elif len(summary) > MAX_SUMMARY_CHARS:
        problems.append({"path": "/summary", "message": f"over {MAX_SUMMARY_CHARS} characters"})
    if "messages" not in answer:
        problems.append({"path": "/messages", "message": "is required"})
    else:
        for problem in messages_problems(answer["messages"], placeholders=placeholders):
            problems.append({**problem, "path": "/messages" + problem["path"]})
    return problems
