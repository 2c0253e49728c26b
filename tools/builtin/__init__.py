"""Implementations of the studio's built-in tools, by tool name, for the broker to call.

Each takes the call's ToolContext and arguments already valid against the tool's
inputSchema, returns a JSON-serialisable result valid against its outputSchema, and raises
ToolExecutionError for a failure the caller can fix (a missing file, a bad CSV, an unknown
column). Files are read and written only through the context.
"""

from collections.abc import Callable
from typing import Any

from tools.ai_services.draft import draft_playbook, draft_playbook_text
from tools.ai_services.refine import refine_prompt, refine_prompt_text
from tools.builtin.costs import costs_allocate, data_variances
from tools.builtin.data import data_profile, data_resolve_entities
from tools.builtin.entity_preview import data_resolve_entities_dry_run
from tools.builtin.files import files_list, files_read, files_write
from tools.builtin.http import (
    http_fetch,
    http_post,
    http_post_dry_run,
    notify_slack,
    notify_slack_dry_run,
)
from tools.builtin.lineage import report_lineage
from tools.builtin.util import util_echo
from tools.builtin.xlsx import xlsx_render
from tools.context import ToolContext
from tools.skills import skill_load_reference

ToolImplementation = Callable[[ToolContext, dict[str, Any]], dict[str, Any]]

BUILTIN_IMPLEMENTATIONS: dict[str, ToolImplementation] = {
    "tools.studio.files.list": files_list,
    "tools.studio.files.read": files_read,
    "tools.studio.files.write": files_write,
    "tools.studio.data.profile": data_profile,
    "tools.studio.data.resolve_entities": data_resolve_entities,
    "tools.studio.data.allocate_costs": costs_allocate,
    "tools.studio.data.variances": data_variances,
    "tools.studio.xlsx.render": xlsx_render,
    "tools.studio.report.lineage": report_lineage,
    "tools.studio.util.echo": util_echo,
    "tools.studio.http.fetch": http_fetch,
    "tools.studio.http.post": http_post,
    "tools.studio.notify.slack": notify_slack,
    "tools.skill.load_reference": skill_load_reference,
    "tools.studio.ai.refine_prompt": refine_prompt,
    "tools.studio.ai.draft_playbook": draft_playbook,
}

# The text content of a successful result, where it is not the structured result as JSON.
BUILTIN_RESULT_TEXTS: dict[str, Callable[[Any], str]] = {
    "tools.studio.ai.refine_prompt": refine_prompt_text,
    "tools.studio.ai.draft_playbook": draft_playbook_text,
}

# Dry runs: what the call would do, rendered without doing it (shown beside an approval).
BUILTIN_DRY_RUNS: dict[str, ToolImplementation] = {
    "tools.studio.http.post": http_post_dry_run,
    "tools.studio.notify.slack": notify_slack_dry_run,
    "tools.studio.data.resolve_entities": data_resolve_entities_dry_run,
}

__all__ = [
    "BUILTIN_DRY_RUNS",
    "BUILTIN_IMPLEMENTATIONS",
    "BUILTIN_RESULT_TEXTS",
    "ToolImplementation",
]
