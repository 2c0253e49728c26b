"""What a valid prompt template is (tools.ai_services.prompt_templates), rule by rule."""

import pytest

from tools.ai_services.prompt_templates import (
    messages_problems,
    refined_problems,
    template_parse,
    template_placeholders,
)
from tools.context import ToolExecutionError

VALID = [
    {"role": "system", "content": "You are terse."},
    {"role": "developer", "content": "Answer in English."},
    {"role": "user", "content": "Summarise {{ document }}."},
    {"role": "assistant", "content": "Summary:"},
]


def test_a_list_of_role_content_messages_is_a_valid_template():
    assert messages_problems(VALID, placeholders=["{{ document }}"]) == []


@pytest.mark.parametrize(
    ("messages", "path", "message"),
    [
        ({"role": "user"}, "", "must be a list of {role, content} messages"),
        ([], "", "must hold 1 to 100 messages"),
        ([{"role": "user", "content": "x"}] * 101, "", "must hold 1 to 100 messages"),
        (["hello"], "/0", "must be an object {role, content}"),
        ([{"role": "tool", "content": "x"}], "/0/role", "must be one of"),
        ([{"role": "user", "content": ""}], "/0/content", "must be a non-empty string"),
        ([{"role": "user", "content": 3}], "/0/content", "must be a non-empty string"),
        ([{"role": "user", "content": "x", "name": "n"}], "/0", "unknown keys ['name']"),
        (
            [{"role": "user", "content": "a"}, {"role": "system", "content": "b"}],
            "/1/role",
            "a system message must come before every user and assistant message",
        ),
        ([{"role": "assistant", "content": "a"}], "", "needs a system, developer or user"),
        ([{"role": "user", "content": "x" * 100_001}], "/0/content", "over 100000 characters"),
    ],
)
def test_each_rule_is_reported_with_its_path(messages, path, message):
    problems = messages_problems(messages)
    assert any(p["path"] == path and p["message"].startswith(message) for p in problems), problems


def test_a_placeholder_of_the_template_must_survive_the_refinement():
    template = template_parse('{"user": "Hello {{name}}, about {{ topic.title }}"}')
    placeholders = template_placeholders(template)
    assert placeholders == ["{{ name }}", "{{ topic.title }}"]
    kept = [{"role": "user", "content": "Hi {{ name }}: {{topic.title}}"}]
    assert messages_problems(kept, placeholders=placeholders) == []
    dropped = [{"role": "user", "content": "Hi {{ name }}"}]
    assert messages_problems(dropped, placeholders=placeholders) == [
        {"path": "", "message": "the template's placeholder {{ topic.title }} is missing"}
    ]


def test_the_refined_answer_is_messages_and_a_summary_and_nothing_else():
    assert refined_problems({"messages": VALID[:1], "summary": "Shorter."}, placeholders=[]) == []
    assert refined_problems([], placeholders=[]) == [
        {"path": "", "message": "must be a JSON object {messages, summary}"}
    ]
    problems = refined_problems(
        {"messages": [{"role": "bot", "content": "x"}], "extra": 1}, placeholders=[]
    )
    assert {"path": "", "message": "unknown keys ['extra']: only messages, summary"} in problems
    assert {"path": "/summary", "message": "must be a non-empty string"} in problems
    assert any(p["path"] == "/messages/0/role" for p in problems)
    assert refined_problems({"summary": "s"}, placeholders=[]) == [
        {"path": "/messages", "message": "is required"}
    ]


def test_a_template_that_is_not_json_is_refused_saying_where():
    with pytest.raises(ToolExecutionError, match="not JSON: Expecting value at line 1, column 1"):
        template_parse("not json")
