"""Tools: registry, broker, built-ins, skills, MCP, vault. May import the core and approvals."""

import importlib

from django.apps import AppConfig
from django.conf import settings


class ToolsConfig(AppConfig):
    name = "tools"
    verbose_name = "Tools"

    def ready(self) -> None:
        # Operators (and the test suite) add tools from their own modules: each module named
        # in AGENTSTUDIO_TOOL_MODULES registers its definitions and implementations on import.
        for module in settings.AGENTSTUDIO_TOOL_MODULES:
            importlib.import_module(module)
        from tools.skills import skill_registry

        skill_registry.load(settings.AGENTSTUDIO_SKILL_DIRS)
        from tools.connections import connection_tool_definition
        from tools.registry import tool_registry

        tool_registry.add_resolver(connection_tool_definition)
        # Checking an approver's edited arguments against the tool's inputSchema is this
        # app's rule; approvals reaches it through a hook and imports nothing of tools.
        from tools.call_approval_effects import call_approval_effects_register

        call_approval_effects_register()
