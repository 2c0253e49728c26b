"""Utility tools: `echo` hands its value back, after an optional pause (tests make a step
slow with it)."""

from __future__ import annotations

import time
from typing import Any

from tools.context import ToolContext


def util_echo(ctx: ToolContext, arguments: dict[str, Any]) -> dict[str, Any]:
    """Returns `{value}` (null when none was given) after sleeping `sleep_ms` milliseconds."""
    sleep_ms = arguments.get("sleep_ms", 0)
    if sleep_ms:
        time.sleep(sleep_ms / 1000)
    return {"value": arguments.get("value")}
