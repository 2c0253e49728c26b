"""Registers the end-to-end test tools on import: worker processes load it through
AGENTSTUDIO_TOOL_MODULES=tests.support.tools (see tests.support.tool_definitions)."""

from tests.support.tool_definitions import e2e_tools_register

e2e_tools_register()
