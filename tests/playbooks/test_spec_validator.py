"""Tests for playbooks.spec.validator: schema and semantic problems, with paths and lines."""

import copy
import math
import random

import pytest
from jsonschema import Draft202012Validator

from playbooks.spec.validator import (
    SpecProblem,
    spec_json_schema,
    spec_validate,
    spec_validate_yaml,
)
from playbooks.spec.yaml_loader import spec_parse_yaml
from tools.registry import ToolDefinition, tool_registry

# The example in DESIGN.md ("Playbook spec"), verbatim.
DESIGN_EXAMPLE_YAML = """\
name: Data cleanup
description: Profile a table, propose entity-resolution rules, apply them after review.
inputs:                      # JSON Schema for run inputs
  type: object
  required: [dataset]
  properties: {dataset: {type: string, format: binary}}   # a file uploaded with the run
model: {provider: default, name: gpt-4o-mini, temperature: 0}
budget: {max_usd: 0.50, max_tokens: 40000, max_wall_seconds: 900, on_breach: pause}
max_risk: write              # highest tool risk this playbook may use
tools: [tools.studio.data.profile, tools.studio.data.resolve_entities, tools.studio.files.write,
        tools.studio.http.fetch]
steps:
  - id: profile
    tool: tools.studio.data.profile
    args: {dataset: "{{ inputs.dataset }}"}
  - id: propose_rules
    llm:
      prompt: "Propose entity-resolution rules for: {{ steps.profile.output | tojson }}"
      output_schema: {type: object, required: [rules]}
  - id: review_rules          # human gate; the approver may edit the payload
    approval: {title: "Approve entity-resolution rules", payload: "{{ steps.propose_rules.output }}"}
  - id: apply
    tool: tools.studio.data.resolve_entities
    args: {dataset: "{{ inputs.dataset }}", rules: "{{ steps.review_rules.output.rules }}"}
  - id: variance
    ask: {question: "Explain the variance above 5%", schema: {type: string, maxLength: 2000}}
  - id: investigate           # an SOP step: the model works the instruction with tools
    agent:
      instruction: "Find the source of each flagged variance"
      allowed_tools: [tools.studio.http.fetch]
      completion_criteria: "every variance has a cause or is marked unknown"
      on_failure: ask_user       # abort | skip | ask_user | call_subagent
      max_turns: 8
approval_policy:               # per risk class: allow | dry_run_then_approve | approve | deny
  external_send: {mode: approve, ttl_seconds: 3600, undo_seconds: 5}
  destructive: {mode: dry_run_then_approve}
"""  # noqa: E501 - kept verbatim

# Line numbers in tests below refer to this text (line 1 is "name: Notes").
BASE_YAML = """\
name: Notes
tools: [tools.studio.files.read, tools.studio.files.write]
steps:
  - id: read
    tool: tools.studio.files.read
    args: {path: notes.txt}
  - id: write
    tool: tools.studio.files.write
    args: {path: out.txt, content: "{{ steps.read.output.content }}"}
"""


def yaml_errors(text: str) -> list[tuple[str, int | None, int | None, str]]:
    _spec, report = spec_validate_yaml(text)
    return [
        (problem.path, problem.line, problem.column, problem.message) for problem in report.errors
    ]


def only_error(text: str) -> tuple[str, int | None, int | None, str]:
    errors = yaml_errors(text)
    assert len(errors) == 1, errors
    return errors[0]


def base_spec() -> dict:
    return spec_parse_yaml(BASE_YAML)[0]


def errors_of(spec) -> list[tuple[str, str]]:
    return [(problem.path, problem.message) for problem in spec_validate(spec).errors]


def test_the_schema_is_a_valid_draft_2020_12_schema():
    schema = spec_json_schema()
    Draft202012Validator.check_schema(schema)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"


def test_the_design_example_is_valid():
    spec, report = spec_validate_yaml(DESIGN_EXAMPLE_YAML)
    assert spec["name"] == "Data cleanup"
    assert report.errors == []
    assert report.valid


def test_the_design_example_warns_about_its_unused_declared_tool():
    _spec, report = spec_validate_yaml(DESIGN_EXAMPLE_YAML)
    assert report.warnings == [
        SpecProblem(
            path="/tools/2",
            message="tool 'tools.studio.files.write' is declared but no step uses it",
            line=10,
            column=72,
        )
    ]


def test_the_base_spec_is_valid():
    assert yaml_errors(BASE_YAML) == []


def test_a_spec_using_every_feature_is_valid():
    spec = {
        "name": "Everything",
        "description": "Uses every part of the spec.",
        "inputs": {"type": "object", "properties": {"n": {"type": "integer"}}},
        "outputs": {"answer": "{{ steps.ask_it.output }}", "fixed": 3},
        "model": {
            "provider": "scripted",
            "name": "gpt-4o-mini",
            "temperature": 0.2,
            "max_tokens": 500,
            "responses": [
                "plain text",
                {
                    "step": "work",
                    "content": None,
                    "tool_calls": [
                        {"id": "c1", "name": "tools.studio.files.list", "arguments": {}}
                    ],
                    "usage": {"input_tokens": 10, "output_tokens": 5},
                },
            ],
        },
        "system_prompt": "Be brief about {{ inputs.n }}.",
        "budget": {"max_usd": 1, "max_tokens": 1000, "max_wall_seconds": 60, "max_tool_calls": 5},
        "max_risk": "external_send",
        "tools": ["tools.studio.files.list", "tools.studio.http.post"],
        "skills": ["spreadsheets"],
        "steps": [
            {"id": "list", "tool": "tools.studio.files.list", "args": {}, "when": "{{ inputs.n }}"},
            {"id": "think", "llm": {"prompt": "Go", "system": "S", "output_schema": {}}},
            {
                "id": "work",
                "agent": {
                    "instruction": "Use {{ steps.list.output }}",
                    "allowed_tools": ["tools.studio.files.list"],
                    "on_failure": "call_subagent",
                    "subagent": "helper-playbook",
                    "max_turns": 3,
                    "skills": ["spreadsheets"],
                    "model": {"name": "gpt-4o"},
                },
                "retry": {"attempts": 3, "backoff_seconds": 1, "backoff_multiplier": 2},
                "timeout_seconds": 30,
            },
            {"id": "gate", "approval": {"title": "OK?", "payload": {"a": 1}, "ttl_seconds": 60}},
            {"id": "ask_it", "ask": {"question": "Which?", "schema": {"enum": ["a", "b"]}}},
            {"id": "sub", "playbook": {"slug": "other", "inputs": {"x": "{{ inputs.n }}"}}},
            {"id": "remote", "remote_agent": {"agent": "summariser", "input": {}, "stream": True}},
            {
                "id": "send",
                "tool": "tools.studio.http.post",
                "args": {"url": "https://example.com", "json": "{{ steps.remote.output }}"},
                "dry_run": True,
            },
        ],
        "approval_policy": {
            "external_send": {"mode": "dry_run_then_approve", "ttl_seconds": 60},
            "admin": {"mode": "deny"},
            "write": {"mode": "approve", "approver_role": "admin"},
        },
        "on_expire": "reject",
        "review": {"title": "Accept the answer", "ttl_seconds": 600},
        "triggers": [
            {"type": "manual"},
            {"type": "cron", "schedule": "0 6 * * 1", "inputs": {"n": 1}},
            {"type": "http_webhook"},
        ],
    }
    report = spec_validate(spec)
    assert report.errors == []
    assert report.warnings == []


def test_a_missing_required_property_is_reported_on_its_parent():
    assert only_error(BASE_YAML.replace("name: Notes\n", "")) == (
        "",
        1,
        1,
        "missing required property 'name'",
    )


def test_an_unknown_property_is_reported_at_itself_with_a_suggestion():
    text = BASE_YAML.replace("name: Notes", "name: Notes\nnmae: typo")
    assert only_error(text) == ("/nmae", 2, 7, "unknown property 'nmae' (did you mean 'name'?)")


def test_a_wrong_type_is_one_error():
    text = BASE_YAML.replace("  - id: read\n", "  - just text\n  - id: read\n")
    assert only_error(text)[:3] == ("/steps/0", 4, 5)
    assert only_error(text)[3] == "must be an object, not a string"


def test_a_step_with_two_kinds_gets_one_readable_error():
    text = BASE_YAML.replace(
        "    args: {path: notes.txt}", "    args: {path: a}\n    llm: {prompt: x}"
    )
    assert only_error(text) == (
        "/steps/0",
        4,
        5,
        "step must have exactly one of: tool, llm, agent, approval, ask, playbook, remote_agent",
    )


def test_a_step_without_a_kind_gets_one_readable_error():
    text = BASE_YAML + "  - id: nothing\n"
    assert only_error(text)[:2] == ("/steps/2", 10)
    assert only_error(text)[3].startswith("step must have exactly one of: tool, llm")


def test_args_without_a_tool_are_refused_at_args():
    text = BASE_YAML + "  - id: gate\n    approval: {title: t, payload: 1}\n    args: {a: 1}\n"
    assert only_error(text) == (
        "/steps/2/args",
        12,
        11,
        "'args' is only allowed together with 'tool'",
    )


def test_a_malformed_step_id_is_reported_at_the_id():
    text = BASE_YAML.replace("id: read", "id: Read-It").replace("steps.read.", "steps['Read-It'].")
    assert only_error(text) == (
        "/steps/0/id",
        4,
        9,
        "must be a step id: a lowercase letter, then up to 63 of a-z, 0-9 and _",
    )


def test_a_malformed_tool_name_gets_a_readable_message():
    text = BASE_YAML.replace("tools: [tools.studio.files.read,", "tools: [files.read,")
    path, line, column, message = yaml_errors(text)[0]
    assert (path, line, column) == ("/tools/0", 2, 9)
    assert message.startswith("must be a tool name such as tools.studio.files.write")


def test_an_enum_lists_the_allowed_values():
    assert only_error(BASE_YAML + "max_risk: medium\n") == (
        "/max_risk",
        10,
        11,
        'must be one of: "read", "compute", "write", "external_send", "destructive", "admin", '
        '"secret"',
    )


def test_duplicate_step_ids_are_reported_at_the_second_id():
    text = BASE_YAML.replace("id: write", "id: read")
    assert only_error(text) == ("/steps/1/id", 7, 9, "duplicate step id 'read' (step 0 has it too)")


def test_a_reference_to_an_unknown_step_is_an_error():
    text = BASE_YAML.replace("steps.read.output", "steps.reed.output")
    assert only_error(text) == (
        "/steps/1/args/content",
        9,
        36,
        "unknown step 'reed' (steps.reed)",
    )


def test_a_forward_reference_is_an_error():
    text = BASE_YAML.replace("args: {path: notes.txt}", 'args: {path: "{{ steps.write.output }}"}')
    assert only_error(text) == (
        "/steps/0/args/path",
        6,
        18,
        "forward reference: step 'write' runs after this step",
    )


def test_a_step_may_not_use_its_own_output():
    text = BASE_YAML.replace("    args: {path: notes.txt}", "    args: {path: a}\n    when: x")
    text = text.replace("when: x", 'when: "{{ steps.read.output }}"')
    assert only_error(text) == (
        "/steps/0/when",
        7,
        11,
        "a step cannot use its own output (steps.read)",
    )


@pytest.mark.parametrize(
    ("step", "path"),
    [
        ({"llm": {"prompt": "{{ steps.later.output }}"}}, "/steps/0/llm/prompt"),
        ({"llm": {"prompt": "p", "system": "{{ steps.later }}"}}, "/steps/0/llm/system"),
        ({"approval": {"title": "{{ steps.later }}", "payload": 1}}, "/steps/0/approval/title"),
        (
            {"approval": {"title": "t", "payload": ["{{ steps.later }}"]}},
            "/steps/0/approval/payload/0",
        ),
        ({"ask": {"question": "{{ steps.later }}", "schema": {}}}, "/steps/0/ask/question"),
        (
            {"playbook": {"slug": "p", "inputs": {"a": "{{ steps.later }}"}}},
            "/steps/0/playbook/inputs/a",
        ),
        (
            {"remote_agent": {"agent": "a", "input": "{{ steps.later }}"}},
            "/steps/0/remote_agent/input",
        ),
        (
            {"agent": {"instruction": "{{ steps.later }}", "allowed_tools": []}},
            "/steps/0/agent/instruction",
        ),
        (
            {
                "agent": {
                    "instruction": "i",
                    "allowed_tools": [],
                    "completion_criteria": "{{ steps.later }}",
                }
            },
            "/steps/0/agent/completion_criteria",
        ),
    ],
)
def test_forward_references_are_found_in_every_templated_field(step, path):
    spec = {
        "name": "N",
        "steps": [{"id": "first", **step}, {"id": "later", "llm": {"prompt": "p"}}],
    }
    assert errors_of(spec) == [(path, "forward reference: step 'later' runs after this step")]


def test_outputs_may_reference_any_step_but_not_an_unknown_one():
    spec = base_spec()
    spec["outputs"] = {"last": "{{ steps.write.output }}", "typo": "{{ steps.wirte.output }}"}
    assert errors_of(spec) == [("/outputs/typo", "unknown step 'wirte' (steps.wirte)")]


def test_an_unknown_declared_tool_is_an_error():
    text = BASE_YAML.replace("tools.studio.files.write]", "tools.studio.files.write, tools.nope.x]")
    assert only_error(text) == ("/tools/2", 2, 60, "unknown tool 'tools.nope.x'")


def test_an_unknown_step_tool_is_an_error():
    text = BASE_YAML.replace("tool: tools.studio.files.read", "tool: tools.studio.files.rread")
    assert only_error(text) == ("/steps/0/tool", 5, 11, "unknown tool 'tools.studio.files.rread'")


def test_a_step_tool_must_be_declared():
    text = BASE_YAML.replace("tools: [tools.studio.files.read, ", "tools: [")
    assert only_error(text) == (
        "/steps/0/tool",
        5,
        11,
        "tool 'tools.studio.files.read' is not declared in tools; add it there",
    )


def test_agent_allowed_tools_must_be_known_and_declared():
    text = BASE_YAML + (
        "  - id: look\n"
        "    agent:\n"
        "      instruction: look around\n"
        "      allowed_tools: [tools.studio.files.read, tools.studio.files.list, tools.x.y]\n"
    )
    assert yaml_errors(text) == [
        (
            "/steps/2/agent/allowed_tools/1",
            13,
            48,
            "tool 'tools.studio.files.list' is not declared in tools; add it there",
        ),
        ("/steps/2/agent/allowed_tools/2", 13, 73, "unknown tool 'tools.x.y'"),
    ]


def test_a_declared_tool_above_max_risk_is_an_error():
    text = BASE_YAML + "max_risk: read\n"
    assert only_error(text) == (
        "/tools/1",
        2,
        34,
        "tool 'tools.studio.files.write' has risk 'write', above max_risk 'read'",
    )


def test_max_risk_defaults_to_write():
    spec = base_spec()
    spec["tools"].append("tools.studio.http.post")
    assert errors_of(spec) == [
        (
            "/tools/2",
            "tool 'tools.studio.http.post' has risk 'external_send', above max_risk 'write'",
        )
    ]


def test_a_custom_tool_lookup_is_used():
    wipe = ToolDefinition(
        name="tools.test.wipe",
        title="Wipe",
        description="Deletes everything.",
        input_schema={"type": "object"},
        output_schema=None,
        risk="destructive",
        idempotent=True,
        untrusted_output=False,
        open_world=False,
        has_dry_run=True,
    )
    spec = {
        "name": "Wipe",
        "max_risk": "destructive",
        "tools": ["tools.test.wipe"],
        "steps": [{"id": "wipe", "tool": "tools.test.wipe", "dry_run": True}],
    }
    lookup = {"tools.test.wipe": wipe}.get
    assert spec_validate(spec, tool_lookup=lookup).errors == []
    assert errors_of(spec) == [("/tools/0", "unknown tool 'tools.test.wipe'")]


def test_a_looser_approval_policy_is_an_error():
    text = BASE_YAML + "approval_policy:\n  external_send: {mode: allow}\n"
    assert only_error(text) == (
        "/approval_policy/external_send/mode",
        11,
        25,
        "approval_policy may only tighten the defaults: external_send is 'approve' by default, "
        "'allow' is looser",
    )


def test_admin_approvals_may_not_be_handed_to_approvers():
    spec = base_spec()
    spec["approval_policy"] = {"admin": {"mode": "approve", "approver_role": "approver"}}
    assert errors_of(spec) == [
        (
            "/approval_policy/admin/approver_role",
            "approval_policy may only tighten the defaults: admin needs approver_role 'admin' "
            "by default, 'approver' is looser",
        )
    ]


def test_a_tighter_approval_policy_is_fine():
    spec = base_spec()
    spec["approval_policy"] = {
        "read": {"mode": "approve"},
        "external_send": {"mode": "deny"},
        "destructive": {"mode": "deny"},
        "secret": {"mode": "deny"},
    }
    assert errors_of(spec) == []


def test_an_unknown_risk_class_in_approval_policy_is_an_error():
    spec = base_spec()
    spec["approval_policy"] = {"spicy": {"mode": "deny"}}
    assert errors_of(spec) == [("/approval_policy/spicy", "unknown property 'spicy'")]


def test_a_template_trick_is_refused_at_its_string():
    text = BASE_YAML.replace("{{ steps.read.output.content }}", "{{ ''.__class__.__mro__ }}")
    assert sorted(yaml_errors(text)) == [
        ("/steps/1/args/content", 9, 36, "attribute '__class__' is not allowed in templates"),
        ("/steps/1/args/content", 9, 36, "attribute '__mro__' is not allowed in templates"),
    ]


def test_a_template_that_does_not_parse_is_an_error():
    text = BASE_YAML.replace("{{ steps.read.output.content }}", "{% for x in %}")
    path, line, column, message = only_error(text)
    assert (path, line, column) == ("/steps/1/args/content", 9, 36)
    assert message.startswith("template syntax error on line 1:")


def test_problems_in_multi_line_templates_name_the_template_line():
    spec = base_spec()
    spec["steps"][1]["args"]["content"] = "# Report\n\n{{ inputs.__dict__ }}"
    assert errors_of(spec) == [
        (
            "/steps/1/args/content",
            "attribute '__dict__' is not allowed in templates (template line 3)",
        )
    ]


@pytest.mark.parametrize("field", ["max_usd", "max_tokens", "max_wall_seconds", "max_tool_calls"])
@pytest.mark.parametrize("value", [0, -1])
def test_a_budget_value_that_is_not_positive_is_one_error(field, value):
    text = BASE_YAML + f"budget:\n  {field}: {value}\n"
    assert only_error(text) == (
        f"/budget/{field}",
        11,
        len(field) + 5,
        f"budget.{field} must be positive",
    )


def test_a_budget_of_the_wrong_type_is_a_type_error_only():
    text = BASE_YAML + "budget: {max_tokens: 1.5}\n"
    assert only_error(text) == ("/budget/max_tokens", 10, 22, "must be an integer, not a number")


def test_invalid_inputs_schema_is_reported_inside_it():
    text = BASE_YAML + "inputs:\n  type: object\n  properties: {n: {type: integr}}\n"
    path, line, column, message = only_error(text)
    assert (path, line, column) == ("/inputs/properties/n/type", 12, 26)
    assert message.startswith("not a valid JSON Schema: must be one of:")


def test_run_inputs_must_be_an_object_schema():
    assert only_error(BASE_YAML + "inputs: {type: string}\n") == (
        "/inputs/type",
        10,
        16,
        "run inputs are an object: use type: object",
    )


def test_invalid_output_schema_is_reported_inside_it():
    spec = base_spec()
    spec["steps"].append(
        {
            "id": "think",
            "llm": {"prompt": "p", "output_schema": {"type": "object", "minProperties": -1}},
        }
    )
    assert errors_of(spec) == [
        ("/steps/2/llm/output_schema/minProperties", "not a valid JSON Schema: must be at least 0")
    ]


def test_invalid_ask_schema_is_reported_inside_it():
    spec = base_spec()
    spec["steps"].append({"id": "q", "ask": {"question": "?", "schema": {"pattern": "(unclosed"}}})
    assert errors_of(spec) == [
        ("/steps/2/ask/schema/pattern", "not a valid JSON Schema: '(unclosed' is not a 'regex'")
    ]


def test_json_schemas_may_only_reference_themselves():
    spec = base_spec()
    spec["inputs"] = {
        "type": "object",
        "$defs": {"n": {"type": "integer"}},
        "properties": {"a": {"$ref": "#/$defs/n"}, "b": {"$ref": "https://example.com/s.json"}},
    }
    assert errors_of(spec) == [
        ("/inputs/properties/b/$ref", "only references inside the schema ('#/...') are allowed")
    ]


def test_call_subagent_needs_a_subagent():
    text = BASE_YAML + (
        "  - id: look\n"
        "    agent:\n"
        "      instruction: look around\n"
        "      allowed_tools: [tools.studio.files.read]\n"
        "      on_failure: call_subagent\n"
    )
    assert only_error(text) == (
        "/steps/2/agent/on_failure",
        14,
        19,
        "on_failure: call_subagent needs subagent (the slug of the playbook to call)",
    )


def test_every_problem_is_reported_at_once():
    text = (
        BASE_YAML.replace("id: write", "id: read")
        .replace("tools.studio.files.write]", "tools.studio.files.write, tools.nope.x]")
        .replace("args: {path: notes.txt}", 'args: {path: "{{ steps.ghost.output }}"}')
        + "budget: {max_usd: 0}\n"
        + "approval_policy: {secret: {mode: approve}}\n"
    )
    assert [(path, line) for path, line, _column, _message in yaml_errors(text)] == [
        ("/tools/2", 2),
        ("/steps/0/args/path", 6),
        ("/steps/1/id", 7),
        ("/budget/max_usd", 10),
        ("/approval_policy/secret/mode", 11),
    ]


def test_a_problem_without_its_own_position_takes_its_nearest_ancestors():
    text = BASE_YAML + "review: {}\n"
    assert only_error(text) == ("/review", 10, 9, "missing required property 'title'")


def test_malformed_yaml_gives_one_error_with_line_and_column():
    spec, report = spec_validate_yaml("name: x\nsteps: [\n  - a\n")
    assert spec is None
    assert [problem.as_dict() for problem in report.errors] == [
        {
            "path": "",
            "message": "expected the node content, but found '-' (while parsing a flow node)",
            "line": 3,
            "column": 3,
        }
    ]


def test_as_dict_leaves_out_an_unknown_position():
    assert SpecProblem(path="/name", message="m").as_dict() == {"path": "/name", "message": "m"}


def test_report_as_dict():
    _spec, report = spec_validate_yaml(BASE_YAML + "budget: {max_usd: -2}\n")
    assert report.as_dict() == {
        "valid": False,
        "errors": [
            {
                "path": "/budget/max_usd",
                "message": "budget.max_usd must be positive",
                "line": 10,
                "column": 19,
            }
        ],
        "warnings": [],
    }


def test_unused_declared_tools_are_a_warning_and_agent_use_counts():
    spec = base_spec()
    spec["tools"].append("tools.studio.files.list")
    report = spec_validate(spec)
    assert report.errors == []
    assert [(problem.path, problem.message) for problem in report.warnings] == [
        ("/tools/2", "tool 'tools.studio.files.list' is declared but no step uses it")
    ]
    spec["steps"].append(
        {"id": "look", "agent": {"instruction": "i", "allowed_tools": ["tools.studio.files.list"]}}
    )
    assert spec_validate(spec).warnings == []


def test_dry_run_on_a_tool_without_one_is_a_warning():
    spec = base_spec()
    spec["steps"][0]["dry_run"] = True
    assert [(problem.path, problem.message) for problem in spec_validate(spec).warnings] == [
        ("/steps/0/dry_run", "tool 'tools.studio.files.read' has no dry run")
    ]


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (math.nan, "must be a finite number"),
        (math.inf, "must be a finite number"),
        (b"bytes", "must be a JSON value, not bytes"),
        ({1, 2}, "must be a JSON value, not set"),
    ],
)
def test_values_that_are_not_json_are_errors(value, message):
    spec = base_spec()
    spec["outputs"] = {"x": value}
    assert errors_of(spec) == [("/outputs/x", message)]


def test_keys_that_are_not_strings_are_errors():
    spec = base_spec()
    spec["outputs"] = {1: "one"}
    assert errors_of(spec) == [("/outputs", "keys must be strings, not int")]


def test_an_absurdly_deep_spec_is_one_error():
    spec = base_spec()
    deep: dict = {}
    spec["outputs"] = {"x": deep}
    for _ in range(10_000):
        deep["a"] = {}
        deep = deep["a"]
    errors = errors_of(spec)
    assert len(errors) == 1
    assert errors[0][1] == "the spec is nested more than 64 levels deep"


@pytest.mark.parametrize("spec", [None, 0, "spec", [], [{"name": "x"}], True, 1.5])
def test_a_spec_that_is_not_a_mapping_is_one_error(spec):
    assert len(errors_of(spec)) == 1
    assert errors_of(spec)[0][0] == ""


def _random_json(rng: random.Random, depth: int = 0):
    scalars = [
        None,
        0,
        -1,
        2.5,
        True,
        "",
        "x",
        "{{ steps.a }}",
        "{% for %}",
        "tools.studio.files.read",
    ]
    scalars += ["call_subagent", "allow", "object", "{{ ''.__class__ }}", math.nan, 10**40]
    roll = rng.random()
    if depth < 4 and roll < 0.2:
        keys = [
            "id",
            "tool",
            "llm",
            "agent",
            "type",
            "mode",
            "steps",
            "$ref",
            "args",
            "schema",
            "x",
        ]
        return {rng.choice(keys): _random_json(rng, depth + 1) for _ in range(rng.randint(0, 4))}
    if depth < 4 and roll < 0.35:
        return [_random_json(rng, depth + 1) for _ in range(rng.randint(0, 4))]
    return rng.choice(scalars)


def _random_mutation(rng: random.Random, spec):
    target = spec
    for _ in range(rng.randint(0, 4)):
        if isinstance(target, dict) and target:
            key = rng.choice(list(target))
            if rng.random() < 0.5 or not isinstance(target[key], dict | list):
                target[key] = _random_json(rng)
                return spec
            target = target[key]
        elif isinstance(target, list) and target:
            index = rng.randrange(len(target))
            if rng.random() < 0.5 or not isinstance(target[index], dict | list):
                target[index] = _random_json(rng)
                return spec
            target = target[index]
    return _random_json(rng) if rng.random() < 0.3 else spec


def test_random_structures_give_errors_never_exceptions():
    rng = random.Random(1234)
    design_spec = spec_parse_yaml(DESIGN_EXAMPLE_YAML)[0]
    for _ in range(300):
        spec = _random_mutation(rng, copy.deepcopy(design_spec))
        report = spec_validate(spec)
        assert not any("could not be checked" in problem.message for problem in report.errors)
        assert all(isinstance(problem.path, str) for problem in report.errors)


def test_the_shared_registry_is_the_default_lookup():
    assert tool_registry.get("tools.studio.files.read") is not None
    assert spec_validate(base_spec()).errors == []


@pytest.mark.parametrize(
    ("field", "value", "most"),
    [
        ("max_usd", 10**9, "1000000"),
        ("max_tokens", 10**16, "1000000000000"),
        ("max_wall_seconds", 10**9, "31536000"),
        ("max_tool_calls", 10**12, "1000000000"),
    ],
)
def test_a_budget_value_past_what_a_budget_can_hold_is_an_error(field, value, most):
    # found: max_tool_calls 10**12 passed the validator and its run's start was a 500 (the
    # budget row's column cannot hold it)
    text = BASE_YAML + f"budget:\n  {field}: {value}\n"
    path, _line, _column, message = only_error(text)
    assert (path, message) == (f"/budget/{field}", f"must be at most {most}")
