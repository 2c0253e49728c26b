"""Reading a model's answer and asking once more when it is wrong: the answer is checked,
and on problems the model gets them back for one repair round; still wrong → the tool
fails (`isError: true`) naming every problem."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

from tools.ai_services.model_access import ToolModel
from tools.context import ToolExecutionError

_FENCE = re.compile(r"^\s*```[A-Za-z0-9_-]*[ \t]*\n(?P<body>.*?)\n?```\s*$", re.DOTALL)

# check(content) -> (value, problems): the accepted value, or the problems as
# {"path", "message"} (path a JSON Pointer into the answer; "" for the whole answer).
AnswerCheck = Callable[[Any], tuple[Any, list[dict[str, Any]]]]


class ModelOutputInvalid(ToolExecutionError):
    """The model's answer stayed unusable: the result is `isError: true` with `details`."""

    def __init__(self, message: str, details: list[dict[str, Any]]) -> None:
        super().__init__(message)
        self.details = details


def unfenced(text: str) -> str:
    """The text inside one Markdown code fence (```json … ```), or the text itself."""
    match = _FENCE.match(text)
    return match.group("body") if match else text


def answer_json(content: Any) -> tuple[Any, list[dict[str, Any]]]:
    """A JSON value from the answer (a scripted answer may already be one)."""
    if not isinstance(content, str):
        return content, []
    try:
        return json.loads(unfenced(content)), []
    except json.JSONDecodeError as exc:
        return None, [
            {
                "path": "",
                "message": f"the answer is not JSON ({exc.msg} at line {exc.lineno}, "
                f"column {exc.colno})",
            }
        ]


def problems_text(problems: list[dict[str, Any]], *, limit: int = 50) -> str:
    lines = []
    for problem in problems[:limit]:
        where = problem.get("path") or "(the whole answer)"
        if problem.get("line"):
            where += f" (line {problem['line']}, column {problem.get('column')})"
        lines.append(f"- {where}: {problem['message']}")
    if len(problems) > limit:
        lines.append(f"- … and {len(problems) - limit} more")
    return "\n".join(lines)


def ask_checked(
    model: ToolModel,
    messages: list[dict[str, Any]],
    check: AnswerCheck,
    *,
    what: str,
    response_schema: dict[str, Any] | None = None,
) -> Any:
    """The checked answer, after at most one repair round; ModelOutputInvalid otherwise."""
    content = model.complete(messages, response_schema=response_schema)
    value, problems = check(content)
    if not problems:
        return value
    repair = [
        *messages,
        {"role": "assistant", "content": _as_text(content)},
        {
            "role": "user",
            "content": f"That answer is not {what}. Its problems:\n{problems_text(problems)}\n"
            "Answer again with the whole corrected answer only, in the same format.",
        },
    ]
    content = model.complete(repair, response_schema=response_schema)
    value, problems = check(content)
    if not problems:
        return value
    count = len(problems)
    raise ModelOutputInvalid(
        f"The model's answer is not {what} after one repair round "
        f"({count} problem{'s' if count != 1 else ''}):\n{problems_text(problems)}",
        problems,
    )


def _as_text(content: Any) -> str:
    return content if isinstance(content, str) else json.dumps(content, ensure_ascii=False)
