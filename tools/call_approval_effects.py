"""The inputSchema check of an approver's edited tool-call arguments, registered as an
approvals hook from ToolsConfig.ready() (what a decision on a call does is the run's rule:
playbooks registers it)."""

from __future__ import annotations

from approvals.effects import TOOL_ARGUMENTS_PROBLEMS, approval_hook_register
from tools.broker import tool_arguments_problems


def call_approval_effects_register() -> None:
    approval_hook_register(name=TOOL_ARGUMENTS_PROBLEMS, handler=tool_arguments_problems)
