"""What the approval pages show beside the raw payload: where a call goes, what an edit
changed, and how long is left to decide. Every value is escaped here."""

from __future__ import annotations

import difflib
from datetime import datetime
from typing import Any

from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

from agentstudio.accounts.admin import pretty_json

TARGET_KEYS = ("url", "channel", "to", "recipient", "path")
DIFF_LINE_CLASSES = {"+": "as-diff-add", "-": "as-diff-del", "@": "as-diff-hunk"}


def approval_target(payload: Any) -> str:
    """Where a payload sends something, so an approver sees the recipient without reading
    the JSON. Rule: look in `arguments` (a tool call's payload) or else the payload itself,
    and take the first of `url`, `channel`, `to`, `recipient`, `path` holding a non-empty
    string (a list of strings is joined with commas). Anything else means no target is shown."""
    if not isinstance(payload, dict):
        return ""
    arguments = payload.get("arguments")
    source = arguments if isinstance(arguments, dict) else payload
    for key in TARGET_KEYS:
        value = source.get(key)
        if isinstance(value, list) and value and all(isinstance(item, str) for item in value):
            value = ", ".join(value)
        if isinstance(value, str) and value.strip():
            return f"{key}: {value}"
    return ""


def payload_diff_lines(
    previous: Any, current: Any, *, labels: tuple[str, str] = ("previous", "current")
) -> list[str]:
    """A unified diff of the two payloads as the page prints them (pretty JSON)."""
    return list(
        difflib.unified_diff(
            pretty_json(previous).splitlines(),
            pretty_json(current).splitlines(),
            fromfile=labels[0],
            tofile=labels[1],
            lineterm="",
        )
    )


def diff_block(lines: list[str]) -> SafeString:
    """Diff lines in an escaped <pre>, added and removed lines marked for colour."""
    if not lines:
        return format_html('<span class="as-note">{}</span>', "No change in the payload.")
    rows = format_html_join(
        "\n",
        '<span class="{}">{}</span>',
        ((DIFF_LINE_CLASSES.get(line[:1], "as-diff-same"), line) for line in lines),
    )
    return format_html('<pre class="as-code as-diff">{}</pre>', rows)


def countdown(deadline: datetime, *, done: str) -> SafeString:
    """A deadline that the page's script counts down every second; the server renders the
    first value, so the page reads right without script too."""
    seconds = int((deadline - timezone.now()).total_seconds())
    return format_html(
        '<time class="as-countdown" datetime="{}" data-countdown-to="{}" data-done="{}">{}</time>',
        deadline.isoformat(),
        deadline.isoformat(),
        done,
        countdown_text(seconds) if seconds > 0 else done,
    )


def countdown_text(seconds: int) -> str:
    """`in 1h 02m 03s`; the template's script formats the same way."""
    hours, rest = divmod(seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    if hours:
        return f"in {hours}h {minutes:02d}m {seconds:02d}s"
    return f"in {minutes}m {seconds:02d}s"
