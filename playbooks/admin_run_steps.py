"""The run page's step table: every step attempt, its input and output (a one-line summary
that unfolds to the pretty JSON, so a long output never widens the page), and a "scripted"
badge on the steps whose output a scripted model wrote (no real model was configured)."""

from __future__ import annotations

import json
from typing import Any

from django.contrib import admin
from django.utils.html import format_html
from django.utils.safestring import SafeString

from agentstudio.accounts.admin import ReadOnlyInlineMixin, pretty_json, status_badge
from playbooks.engine.view import step_output_scripted
from playbooks.models import RunStep

SUMMARY_SHOWN_CHARS = 80
ERROR_SHOWN_CHARS = 500
SCRIPTED_COLOUR = "#8d6e63"
SCRIPTED_TITLE = "Written by the scripted model (model.responses), not by a configured model"


def compact_json(value: Any, limit: int) -> str:
    """One-line JSON, cut to `limit` characters (with an ellipsis) for tables."""
    text = json.dumps(value, separators=(",", ":"), sort_keys=True, ensure_ascii=False, default=str)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def shorten(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def folded_json(value: Any) -> SafeString | str:
    """A one-line summary; the whole value, pretty-printed and wrapped, one click away."""
    if value is None:
        return "—"
    return format_html(
        '<details class="as-fold as-json"><summary><code>{}</code></summary>'
        '<pre class="as-code as-wrap">{}</pre></details>',
        compact_json(value, SUMMARY_SHOWN_CHARS),
        pretty_json(value),
    )


def scripted_badge() -> SafeString:
    return format_html(
        '<span class="as-scripted" title="{}">{}</span>',
        SCRIPTED_TITLE,
        status_badge("scripted", SCRIPTED_COLOUR),
    )


class RunStepInline(ReadOnlyInlineMixin, admin.TabularInline):
    """Every step attempt, in step order."""

    model = RunStep
    fields = (
        "index",
        "step_label",
        "kind",
        "attempt",
        "status",
        "started_at",
        "finished_at",
        "error_short",
        "input_folded",
        "output_folded",
    )
    readonly_fields = fields
    ordering = ("index", "attempt")
    verbose_name = "step"
    verbose_name_plural = "steps"

    @admin.display(description="step")
    def step_label(self, obj: RunStep) -> SafeString:
        if step_output_scripted(obj.state):
            return format_html("{} {}", obj.step_id, scripted_badge())
        return format_html("{}", obj.step_id)

    @admin.display(description="error")
    def error_short(self, obj: RunStep) -> str:
        return shorten(obj.error, ERROR_SHOWN_CHARS) if obj.error else "—"

    @admin.display(description="input")
    def input_folded(self, obj: RunStep) -> SafeString | str:
        return folded_json(obj.input)

    @admin.display(description="output")
    def output_folded(self, obj: RunStep) -> SafeString | str:
        return folded_json(obj.output)
