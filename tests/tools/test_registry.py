"""Tests for tools.registry: risk classes, tool definitions, name rules and the built-ins."""

import pytest
from jsonschema import Draft202012Validator

from approvals.risk import RISK_CLASSES, risk_rank
from tools.registry import (
    ToolDefinition,
    ToolRegistry,
    tool_registry,
    tool_registry_with_builtins,
)

BUILTIN_RISKS = {
    "tools.studio.files.list": "read",
    "tools.studio.files.read": "read",
    "tools.studio.files.write": "write",
    "tools.studio.data.profile": "read",
    "tools.studio.data.resolve_entities": "write",
    "tools.studio.data.allocate_costs": "compute",
    "tools.studio.data.variances": "compute",
    "tools.studio.xlsx.render": "write",
    "tools.studio.report.lineage": "write",
    "tools.studio.http.fetch": "read",
    "tools.studio.http.post": "external_send",
    "tools.studio.notify.slack": "external_send",
    "tools.studio.ai.refine_prompt": "compute",
    "tools.studio.ai.draft_playbook": "compute",
    "tools.skill.load_reference": "read",
    "tools.studio.util.echo": "compute",
}


def make_tool(name: str = "tools.test.thing", *, risk: str = "read", **changes) -> ToolDefinition:
    fields = {
        "name": name,
        "title": "Thing",
        "description": "Does a thing.",
        "input_schema": {"type": "object", "additionalProperties": False},
        "output_schema": None,
        "risk": risk,
        "idempotent": True,
        "untrusted_output": False,
        "open_world": False,
        "has_dry_run": False,
    }
    fields.update(changes)
    return ToolDefinition(**fields)


def arguments_errors(tool_name: str, arguments: dict) -> list[str]:
    schema = tool_registry.get(tool_name).input_schema
    return [error.message for error in Draft202012Validator(schema).iter_errors(arguments)]


def test_risk_classes_are_ordered_from_read_to_secret():
    assert RISK_CLASSES == (
        "read",
        "compute",
        "write",
        "external_send",
        "destructive",
        "admin",
        "secret",
    )
    assert [risk_rank(risk) for risk in RISK_CLASSES] == list(range(7))


def test_risk_rank_refuses_an_unknown_class():
    with pytest.raises(ValueError, match="unknown risk class 'spicy'"):
        risk_rank("spicy")


def test_a_definition_with_an_unknown_risk_cannot_be_built():
    with pytest.raises(ValueError, match="unknown risk class"):
        make_tool(risk="dangerous")


def test_builtin_tools_are_exactly_the_contract_names_and_risks():
    # A fresh registry: the shared one may also hold tools that plugin modules registered.
    builtins = tool_registry_with_builtins()
    assert {tool.name: tool.risk for tool in builtins.all()} == BUILTIN_RISKS


@pytest.mark.parametrize("name", sorted(BUILTIN_RISKS))
def test_builtin_schemas_are_strict_and_valid_json_schemas(name):
    tool = tool_registry.get(name)
    Draft202012Validator.check_schema(tool.input_schema)
    Draft202012Validator.check_schema(tool.output_schema)
    assert tool.input_schema["type"] == "object"
    assert tool.input_schema["additionalProperties"] is False


@pytest.mark.parametrize("name", sorted(BUILTIN_RISKS))
def test_builtin_reads_and_computes_are_idempotent_and_sends_are_not(name):
    tool = tool_registry.get(name)
    if tool.risk == "external_send":
        assert tool.idempotent is False
        assert tool.has_dry_run is True
        assert tool.open_world is True
    elif tool.risk in ("read", "compute"):
        assert tool.idempotent is True


def test_http_fetch_output_is_untrusted_and_open_world():
    fetch = tool_registry.get("tools.studio.http.fetch")
    assert (fetch.untrusted_output, fetch.open_world, fetch.idempotent) == (True, True, True)
    untrusted = [tool.name for tool in tool_registry.all() if tool.untrusted_output]
    assert untrusted == ["tools.studio.http.fetch"]


@pytest.mark.parametrize(
    ("risk", "read_only", "destructive"),
    [
        ("read", True, False),
        ("compute", True, False),
        ("write", False, False),
        ("external_send", False, False),
        ("destructive", False, True),
        ("admin", False, False),
        ("secret", False, False),
    ],
)
def test_annotations_derive_from_the_risk_class(risk, read_only, destructive):
    annotations = make_tool(risk=risk, open_world=True, idempotent=False).annotations
    assert annotations == {
        "title": "Thing",
        "readOnlyHint": read_only,
        "destructiveHint": destructive,
        "idempotentHint": False,
        "openWorldHint": True,
    }


def test_to_mcp_lists_the_mcp_fields_plus_risk():
    listing = tool_registry.get("tools.studio.files.write").to_mcp()
    assert set(listing) == {
        "name",
        "title",
        "description",
        "inputSchema",
        "outputSchema",
        "annotations",
        "risk",
    }
    assert listing["name"] == "tools.studio.files.write"
    assert listing["risk"] == "write"
    assert listing["inputSchema"]["required"] == ["path", "content"]
    assert listing["annotations"]["readOnlyHint"] is False


def test_to_mcp_leaves_out_a_missing_output_schema():
    assert "outputSchema" not in make_tool(output_schema=None).to_mcp()


def test_to_mcp_returns_a_copy_the_caller_may_change():
    listing = tool_registry.get("tools.studio.files.read").to_mcp()
    listing["inputSchema"]["properties"].clear()
    assert tool_registry.get("tools.studio.files.read").input_schema["properties"]


@pytest.mark.parametrize(
    "name",
    [
        "studio.files.write",
        "tools.files",
        "tools",
        "tools.Studio.files",
        "tools..files",
        "tools.studio.files ",
        "tools.studio.fi/les",
        "tool.studio.files",
        "tools.studio." + "x" * 200,
    ],
)
def test_register_refuses_a_malformed_name(name):
    with pytest.raises(ValueError, match="invalid tool name"):
        ToolRegistry().register(make_tool(name))


def test_register_accepts_connection_style_names():
    registry = ToolRegistry()
    registry.register(make_tool("tools.crm-prod.search_contacts"))
    assert "tools.crm-prod.search_contacts" in registry


def test_register_refuses_a_duplicate_name():
    registry = ToolRegistry()
    registry.register(make_tool("tools.test.thing"))
    with pytest.raises(ValueError, match="already registered"):
        registry.register(make_tool("tools.test.thing", title="Other"))


def test_get_all_and_contains():
    registry = ToolRegistry()
    registry.register(make_tool("tools.test.zeta"))
    registry.register(make_tool("tools.test.alpha"))
    assert [tool.name for tool in registry.all()] == ["tools.test.alpha", "tools.test.zeta"]
    assert registry.get("tools.test.alpha").name == "tools.test.alpha"
    assert registry.get("tools.test.missing") is None
    assert "tools.test.zeta" in registry
    assert "tools.test.missing" not in registry
    assert ["unhashable"] not in registry


def test_unregister_removes_a_dynamically_added_tool():
    registry = tool_registry_with_builtins()
    registry.register(make_tool("tools.crm.search"))
    registry.unregister("tools.crm.search")
    assert registry.get("tools.crm.search") is None
    assert len(registry) == len(BUILTIN_RISKS)


def test_the_shared_registry_accepts_new_tools_like_any_registry():
    assert isinstance(tool_registry, ToolRegistry)


def test_files_write_accepts_its_documented_arguments():
    arguments = {"path": "out/report.md", "content": "# Hi", "content_type": "text/markdown"}
    assert arguments_errors("tools.studio.files.write", arguments) == []


@pytest.mark.parametrize("path", ["../secrets.txt", "/etc/passwd", "a/../../b", "\\\\share\\x", ""])
def test_workspace_paths_may_not_leave_the_workspace(path):
    assert arguments_errors("tools.studio.files.read", {"path": path})


def test_unknown_arguments_are_refused():
    errors = arguments_errors("tools.studio.files.read", {"path": "a.txt", "mode": "rb"})
    assert errors == ["Additional properties are not allowed ('mode' was unexpected)"]


def test_refine_prompt_limits_argument_lengths():
    tool = "tools.studio.ai.refine_prompt"
    assert arguments_errors(tool, {"prompt_template_json": "{}", "guidelines": "g" * 10_000}) == []
    assert arguments_errors(tool, {"prompt_template_json": "x" * 100_001})
    assert arguments_errors(tool, {"prompt_template_json": ""})
    assert arguments_errors(tool, {"prompt_template_json": "{}", "context": "c" * 10_001})


def test_resolve_entities_rules_are_checked():
    tool = "tools.studio.data.resolve_entities"
    rule = {
        "id": "email",
        "fields": ["email"],
        "normalize": ["strip", "lowercase"],
        "keep": "first",
    }
    assert arguments_errors(tool, {"dataset": "inputs/dataset/c.csv", "rules": [rule]}) == []
    assert arguments_errors(tool, {"dataset": "c.csv", "rules": [{"fields": []}]})
    assert arguments_errors(tool, {"dataset": "c.csv", "rules": [{"fields": ["a"], "x": 1}]})
    bad_normalize = {"fields": ["a"], "normalize": ["uppercase"]}
    assert arguments_errors(tool, {"dataset": "c.csv", "rules": [bad_normalize]})


def test_http_tools_take_only_http_urls():
    assert arguments_errors("tools.studio.http.fetch", {"url": "https://example.com/a"}) == []
    assert arguments_errors("tools.studio.http.fetch", {"url": "file:///etc/passwd"})
    post = {"url": "http://example.com", "json": {"a": [1]}, "headers": {"X-Key": "v"}}
    assert arguments_errors("tools.studio.http.post", post) == []
    bad_header = {"url": "http://example.com", "json": None, "headers": {"Bad Header": "v"}}
    assert arguments_errors("tools.studio.http.post", bad_header)
