"""The engine's message list in each API's terms, and tool names both ways.

The engine keeps a conversation as
`{"role": "system"|"user", "content"}`,
`{"role": "assistant", "content", "tool_calls": [{"id", "name", "arguments"}]}` and
`{"role": "tool", "tool_call_id", "name", "content"}`; tools are MCP listings
(`name`, `description`, `inputSchema`). Our tool names have dots (`tools.studio.files.read`),
which neither API allows in a function name: they travel as `tools__studio__files__read`.
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any

_UNSAFE = re.compile(r"[^A-Za-z0-9_-]")
_NAME_LIMIT = 64  # OpenAI's limit for function names (Anthropic allows more)


def tool_name_safe(name: str) -> str:
    """A function name both APIs accept, unique for distinct tool names in practice."""
    safe = _UNSAFE.sub("_", name.replace(".", "__"))
    if len(safe) > _NAME_LIMIT:
        digest = hashlib.sha256(name.encode()).hexdigest()[:10]
        safe = f"{safe[: _NAME_LIMIT - 11]}_{digest}"
    return safe


class ToolNames:
    """The safe name of each offered tool, and back."""

    def __init__(self, tools: list[dict[str, Any]]) -> None:
        self._back = {tool_name_safe(tool["name"]): tool["name"] for tool in tools}

    def original(self, safe: str) -> str:
        """The tool the model named; a name we did not offer is undone as best we can (the
        engine then refuses it as not allowed, naming it)."""
        return self._back.get(safe) or safe.replace("__", ".")


def _text(content: Any) -> str:
    if content is None:
        return ""
    return content if isinstance(content, str) else json.dumps(content, default=str)


def openai_tools(tools: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        {
            "type": "function",
            "function": {
                "name": tool_name_safe(tool["name"]),
                "description": tool.get("description") or tool.get("title") or tool["name"],
                "parameters": tool.get("inputSchema") or {"type": "object", "properties": {}},
            },
        }
        for tool in tools
    ]


def openai_messages(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    converted: list[dict[str, Any]] = []
    for message in messages:
        role = message["role"]
        if role == "assistant":
            item: dict[str, Any] = {"role": "assistant", "content": _text(message.get("content"))}
            calls = message.get("tool_calls") or []
            if calls:
                item["content"] = item["content"] or None
                item["tool_calls"] = [
                    {
                        "id": call["id"],
                        "type": "function",
                        "function": {
                            "name": tool_name_safe(call["name"]),
                            "arguments": json.dumps(call.get("arguments") or {}),
                        },
                    }
                    for call in calls
                ]
            converted.append(item)
        elif role == "tool":
            converted.append(
                {
                    "role": "tool",
                    "tool_call_id": message["tool_call_id"],
                    "content": _text(message.get("content")),
                }
            )
        else:
            converted.append({"role": role, "content": _text(message.get("content"))})
    return converted


def anthropic_tools(tools: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        {
            "name": tool_name_safe(tool["name"]),
            "description": tool.get("description") or tool.get("title") or tool["name"],
            "input_schema": tool.get("inputSchema") or {"type": "object", "properties": {}},
        }
        for tool in tools
    ]


def anthropic_messages(messages: list[dict[str, Any]]) -> tuple[str, list[dict[str, Any]]]:
    """The `system` parameter (every system message, joined) and the turns, where
    consecutive messages of one role (the tool results of a turn) share one turn."""
    system: list[str] = []
    turns: list[dict[str, Any]] = []

    def add(role: str, blocks: list[dict[str, Any]]) -> None:
        if turns and turns[-1]["role"] == role:
            turns[-1]["content"].extend(blocks)
        else:
            turns.append({"role": role, "content": blocks})

    for message in messages:
        role = message["role"]
        text = _text(message.get("content"))
        if role == "system":
            if text:
                system.append(text)
        elif role == "assistant":
            blocks: list[dict[str, Any]] = [{"type": "text", "text": text}] if text else []
            blocks += [
                {
                    "type": "tool_use",
                    "id": call["id"],
                    "name": tool_name_safe(call["name"]),
                    "input": call.get("arguments") or {},
                }
                for call in message.get("tool_calls") or []
            ]
            add("assistant", blocks or [{"type": "text", "text": "(no reply)"}])
        elif role == "tool":
            add(
                "user",
                [
                    {
                        "type": "tool_result",
                        "tool_use_id": message["tool_call_id"],
                        "content": text,
                        "is_error": text.startswith("ERROR: "),
                    }
                ],
            )
        else:
            add("user", [{"type": "text", "text": text}])
    return "\n\n".join(system), turns
