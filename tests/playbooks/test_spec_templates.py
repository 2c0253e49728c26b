"""Tests for playbooks.spec.templates: native rendering, the sandbox, and static checks."""

import pytest
from jinja2.exceptions import SecurityError, UndefinedError

from playbooks.spec.templates import (
    VaultHandle,
    template_check,
    template_environment,
    template_render_value,
    template_step_references,
)

CONTEXT = {
    "inputs": {"n": 3, "name": "Ada", "numbers": [3, 1, 2], "text": "<b>é</b>"},
    "steps": {"a": {"output": {"rules": [{"id": "email"}], "count": 2}}},
    "run": {"id": "run-1"},
}


def render(value):
    return template_render_value(value, CONTEXT)


def problem_kinds(source: str) -> list[str]:
    return [problem.kind for problem in template_check(source)]


def test_a_single_expression_keeps_a_dict():
    assert render("{{ steps.a.output }}") == {"rules": [{"id": "email"}], "count": 2}


def test_a_single_expression_keeps_an_int():
    assert render("{{ inputs.n }}") == 3


def test_a_single_expression_keeps_its_type_with_whitespace_around():
    assert render("  {{ inputs.numbers | sort }}\n") == [1, 2, 3]


def test_a_plain_string_that_looks_like_a_number_stays_a_string():
    assert render("123") == "123"


def test_text_around_an_expression_renders_to_a_string():
    assert render("x {{ 1 }}") == "x 1"


def test_two_expressions_render_to_a_string():
    assert render("{{ inputs.n }}{{ inputs.n }}") == "33"


def test_a_filter_that_yields_a_generator_gives_a_list():
    assert render("{{ inputs.numbers | map('string') }}") == ["3", "1", "2"]


def test_dicts_and_lists_render_recursively_and_keys_stay_as_they_are():
    value = {"{{ run.id }}": ["{{ inputs.n }}", {"who": "Hi {{ inputs.name }}"}], "k": 5}
    assert render(value) == {"{{ run.id }}": [3, {"who": "Hi Ada"}], "k": 5}


@pytest.mark.parametrize("source", ["{{ inputs.missing }}", "x {{ nope }}", "{{ steps.b.output }}"])
def test_strict_undefined_raises(source):
    with pytest.raises(UndefinedError):
        render(source)


def test_vault_gives_an_opaque_handle():
    handle = render("{{ vault('slack.token') }}")
    assert handle == VaultHandle("slack.token")
    assert str(handle) == "vault:slack.token"
    assert render("Bearer {{ vault('api') }}") == "Bearer vault:api"


def test_tojson_writes_json_without_html_escaping():
    assert render("{{ inputs.text | tojson }}") == '"<b>é</b>"'
    assert render("{{ steps.a.output | tojson }}") == '{"rules": [{"id": "email"}], "count": 2}'
    assert render("{{ {'secret': vault('x')} | tojson }}") == '{"secret": "vault:x"}'


@pytest.mark.parametrize(
    "source",
    [
        "{{ ''.__class__ }}",
        "{{ 'a' * 10000000 }}",
        "{{ 2 ** 10000000 }}",
        "{{ '%s' % inputs.n }}",
        "{{ inputs.name | replace('', inputs.name * 400000) }}",
    ],
)
def test_the_sandbox_refuses_escapes_and_runaway_sizes(source):
    with pytest.raises(SecurityError):
        render(source)


@pytest.mark.parametrize("name", ["range", "cycler", "joiner", "namespace", "lipsum", "dict"])
def test_jinja_default_globals_are_not_available(name):
    with pytest.raises(UndefinedError):
        render(f"{{{{ {name} }}}}")


def test_the_environment_is_built_once():
    assert template_environment() is template_environment()


@pytest.mark.parametrize(
    ("source", "attribute"),
    [
        ("{{ ''.__class__ }}", "__class__"),
        ("{{ x.__globals__ }}", "__globals__"),
        ("{{ steps['__class__'] }}", "__class__"),
        ("{{ cycler.__init__ }}", "__init__"),
        ("{{ inputs.mro }}", "mro"),
        ("{{ inputs.name.format }}", "format"),
        ("{{ inputs['format_map'] }}", "format_map"),
        ("{{ steps.a._private }}", "_private"),
        ("{{ inputs.gi_frame }}", "gi_frame"),
    ],
)
def test_check_refuses_dangerous_attributes(source, attribute):
    problems = [problem for problem in template_check(source) if problem.kind == "attribute"]
    assert [problem.message for problem in problems] == [
        f"attribute {attribute!r} is not allowed in templates"
    ]


@pytest.mark.parametrize("name", ["x", "cycler", "range", "config", "self"])
def test_check_refuses_names_templates_do_not_see(name):
    problems = template_check(f"{{{{ {name} }}}}")
    assert [(problem.kind, problem.line) for problem in problems] == [("name", 1)]
    assert f"unknown name {name!r}" in problems[0].message


@pytest.mark.parametrize(
    "source",
    ["{{ inputs.items() }}", "{{ steps.a.output.get('x') }}", "{{ (inputs.name)() }}"],
)
def test_check_refuses_calls_other_than_vault(source):
    assert problem_kinds(source) == ["call"]


@pytest.mark.parametrize("name", ["attr", "format", "random", "center", "xmlattr", "nope"])
def test_check_refuses_filters_outside_the_safe_list(name):
    problems = template_check(f"{{{{ inputs.name | {name} }}}}")
    assert [problem.message for problem in problems] == [
        f"filter {name!r} is not available in templates"
    ]


def test_check_refuses_unknown_tests():
    assert problem_kinds("{% if inputs.n is weird %}x{% endif %}") == ["test"]


@pytest.mark.parametrize(
    "source", ["{% include 'x.txt' %}", "{% extends 'base' %}", "{% import 'm' as m %}"]
)
def test_check_refuses_loading_other_templates(source):
    assert "statement" in problem_kinds(source)


@pytest.mark.parametrize(
    "source",
    [
        "plain text, no template",
        "{{ steps.a.output | tojson }}",
        "{% for rule in steps.a.output.rules %}{{ loop.index }}. {{ rule.id }}{% endfor %}",
        "{% for key, value in inputs | items %}{{ key }}={{ value }}{% endfor %}",
        "{% set total = inputs.n + 1 %}{{ total }}",
        "{% macro row(cell) %}| {{ cell }} |{% endmacro %}{{ row(inputs.name) }}",
        "{{ vault('slack.webhook') }}",
        "{{ inputs.numbers | join(', ') | default('none') | upper }}",
        "{{ 'yes' if inputs.n is number and inputs.n > 2 else 'no' }}",
        "{{ steps.a.output.rules | selectattr('id', 'equalto', 'email') | list | length }}",
    ],
)
def test_check_accepts_ordinary_templates(source):
    assert template_check(source) == []


def test_a_syntax_error_names_the_templates_own_line():
    problems = template_check("first line\n{% for %}")
    assert [(problem.kind, problem.line) for problem in problems] == [("syntax", 2)]
    assert problems[0].message.startswith("template syntax error on line 2:")


def test_problems_carry_the_line_inside_the_template():
    problems = template_check("a\nb\n{{ inputs.__dict__ }}")
    assert [(problem.kind, problem.line) for problem in problems] == [("attribute", 3)]


def test_absurdly_nested_expressions_are_a_problem_not_a_crash():
    source = "{{ " + "(" * 3000 + "1" + ")" * 3000 + " }}"
    assert problem_kinds(source) == ["syntax"]


def test_step_references_by_attribute_and_by_key():
    source = "{{ steps.profile.output }} {{ steps['review'].output }} {{ inputs.steps }}"
    assert template_step_references(source) == {"profile", "review"}


def test_step_references_ignore_dynamic_keys_and_broken_templates():
    assert template_step_references("{{ steps[inputs.which] }}") == set()
    assert template_step_references("{{ steps.a ") == set()
