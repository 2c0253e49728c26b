"""Tests for tools.builtin.BUILTIN_IMPLEMENTATIONS: every implementation is a registered tool."""

from tools.builtin import BUILTIN_IMPLEMENTATIONS
from tools.registry import tool_registry


def test_every_implementation_belongs_to_a_registered_tool():
    registered = {definition.name for definition in tool_registry.all()}
    assert sorted(set(BUILTIN_IMPLEMENTATIONS) - registered) == []


def test_the_workspace_and_http_tools_are_implemented():
    assert sorted(BUILTIN_IMPLEMENTATIONS) == [
        "tools.skill.load_reference",
        "tools.studio.ai.draft_playbook",
        "tools.studio.ai.refine_prompt",
        "tools.studio.data.allocate_costs",
        "tools.studio.data.profile",
        "tools.studio.data.resolve_entities",
        "tools.studio.data.variances",
        "tools.studio.files.list",
        "tools.studio.files.read",
        "tools.studio.files.write",
        "tools.studio.http.fetch",
        "tools.studio.http.post",
        "tools.studio.notify.slack",
        "tools.studio.report.lineage",
        "tools.studio.util.echo",
        "tools.studio.xlsx.render",
    ]
