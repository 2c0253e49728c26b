"""Templates are bounded: rendering stops at its time limit (the step's timeout in the
engine), every way of building text or lists is capped in size, and what can be refused
statically (recursion) is refused by the check."""

import threading

import pytest
from jinja2.exceptions import SecurityError

from playbooks.engine.runner import Advance, run_advance
from playbooks.models import Run, RunStep
from playbooks.runs.starting import run_start
from playbooks.spec.checked import spec_check
from playbooks.spec.template_limits import (
    MAX_RENDERED_TEXT,
    TemplateTimeout,
    template_time_limit,
)
from playbooks.spec.templates import template_check, template_render_value
from tests.engine import tools_for_tests  # noqa: F401 - registers tools.test.count

MEGA = "{% set s = 'x' * 1000000 %}"
# Seventeen references to one million-character string: cheap to hold, 17 M to write out.
SEVENTEEN = MEGA + "{% set l = [s, s, s, s, s, s, s, s, s, s, s, s, s, s, s, s, s] %}"
# Doubles its work per level: 2**40 calls (no output, so no size cap stops it).
DOUBLING_MACRO = (
    "{% macro grow(n) %}{% if n > 0 %}{{ grow(n - 1) }}{{ grow(n - 1) }}{% endif %}"
    "{% endmacro %}{{ grow(40) }}"
)
# 10**9 empty iterations over a local list: no call, no attribute, no output.
NESTED_LOOPS = (
    "{% set xs = inputs.rows %}{% for a in xs %}{% for b in xs %}{% for c in xs %}"
    "{% endfor %}{% endfor %}{% endfor %}done"
)
ROWS = {"rows": list(range(1000))}


def render(source, context=None):
    return template_render_value(source, {"inputs": {}, **(context or {})})


# -- time -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "context"),
    [(DOUBLING_MACRO, {}), (NESTED_LOOPS, {"inputs": ROWS})],
    ids=["doubling-macro", "nested-empty-loops"],
)
def test_rendering_stops_at_its_time_limit(source, context):
    with template_time_limit(seconds=0.5), pytest.raises(TemplateTimeout) as stopped:
        render(source, context)
    assert str(stopped.value) == "rendering ran past the 0.5 s time limit"


def test_the_time_limit_holds_in_a_thread_that_is_not_the_main_one():
    caught: list[BaseException] = []

    def work() -> None:
        try:
            with template_time_limit(seconds=0.5):
                render(NESTED_LOOPS, {"inputs": ROWS})
        except BaseException as exc:  # handed to the test thread
            caught.append(exc)

    worker = threading.Thread(target=work)
    worker.start()
    worker.join(timeout=60)
    assert not worker.is_alive()
    assert [type(exc) for exc in caught] == [TemplateTimeout]


def test_an_ordinary_template_renders_well_inside_the_limit():
    with template_time_limit(seconds=5):
        rows = {"inputs": {"rows": [1, 2]}}
        assert render("{% for x in inputs.rows %}{{ x }}{% endfor %}", rows) == "12"


# -- size -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "source",
    [
        MEGA + "{% set s = s ~ s %}{% set s = s ~ s %}{% set s = s ~ s %}{% set s = s ~ s %}"
        "{% set s = s ~ s %}{{ s | length }}",  # ~
        MEGA + "{% set s = s + s %}{% set s = s + s %}{% set s = s + s %}{% set s = s + s %}"
        "{% set s = s + s %}{{ s | length }}",  # + on strings
        MEGA + "{% set l = [s] * 17 %}{{ l | length }}",  # * of a list of big strings
        "{% set l = [0] * 600000 %}{% set l = l + l %}{{ l | length }}",  # + on lists
        SEVENTEEN + "{{ l | join }}",
        SEVENTEEN + "{{ l | join(', ') | length }}",
        SEVENTEEN + "{{ l | tojson }}",
        SEVENTEEN + "{{ l | string }}",
        SEVENTEEN + "{{ l | map('upper') | join }}",
        SEVENTEEN + "{{ l }}",  # one expression: its native value
        SEVENTEEN + "x{{ l }}",  # output
        SEVENTEEN + "{% for t in l %}{{ t }}{% endfor %}",  # output built up by a loop
        SEVENTEEN + "{{ 'x' ~ l }}",
        # a block's text, built up inside it: 289 M
        SEVENTEEN + "{% set t %}{% for t in l %}{% for u in l %}{{ t }}{% endfor %}{% endfor %}"
        "{% endset %}{{ t | length }}",
        "{{ inputs.big | upper }}",
        "{{ inputs.half | urlencode | length }}",  # each é is 6 characters in a URL
        "{{ inputs.wide | wordwrap(1) | length }}",  # wordwrap is slow: 100 000 at most
    ],
)
def test_every_way_of_building_text_is_capped(source):
    inputs = {
        "big": "é" * (MAX_RENDERED_TEXT + 1),
        "half": "é" * (MAX_RENDERED_TEXT // 2),
        "wide": "x" * 100_001,
    }
    with pytest.raises(SecurityError, match="too large"):
        render(source, {"inputs": inputs})


def test_text_up_to_the_cap_still_renders():
    assert render(MEGA + "{{ [s, s, s] | join | length }}") == "3000000"
    assert render(MEGA + "{{ (s ~ s) | length }}") == "2000000"
    assert render("{{ inputs.text | upper }}", {"inputs": {"text": "a" * 10_000_000}}) == (
        "A" * 10_000_000
    )


def test_sum_adds_numbers_only():
    assert render("{{ [1, 2, 3] | sum }}") == 6
    for source in ("{{ [[1], [2]] | sum(start=[]) }}", SEVENTEEN + "{{ [l] | sum(start=[]) }}"):
        with pytest.raises(SecurityError, match="sum adds numbers"):
            render(source)


# -- static refusals --------------------------------------------------------------------


@pytest.mark.parametrize(
    "source",
    [
        DOUBLING_MACRO,
        "{% macro a(n) %}{{ b(n) }}{% endmacro %}{% macro b(n) %}{{ a(n) }}{% endmacro %}"
        "{{ a(1) }}",
        "{% macro a(f) %}{{ f(f) }}{% endmacro %}{{ a(a) }}",  # a macro handed on as a value
        "{% macro a() %}{% call a() %}x{% endcall %}{% endmacro %}{{ a() }}",
        "{% for x in [1, 1] recursive %}{{ loop([1, 1]) }}{% endfor %}",
    ],
)
def test_check_refuses_recursion(source):
    assert "recursion" in [problem.kind for problem in template_check(source)]


@pytest.mark.parametrize(
    "source",
    [
        "{% macro row(cell) %}| {{ cell }} |{% endmacro %}{{ row(inputs.name) }}",
        "{% macro a(x) %}[{{ x }}]{% endmacro %}{% macro b(x) %}{{ a(x) }}{{ a(x) }}{% endmacro %}"
        "{{ b(1) }}",
        "{% macro box() %}<{{ caller() }}>{% endmacro %}{% call box() %}in{% endcall %}",
    ],
)
def test_check_accepts_macros_that_do_not_recurse(source):
    assert template_check(source) == []


# -- through the engine -----------------------------------------------------------------


def test_a_step_whose_template_runs_past_its_timeout_fails_clearly(active_playbook, author):
    spec = {
        "name": "Slow template",
        "inputs": {"type": "object", "properties": {"rows": {"type": "array"}}},
        "tools": ["tools.test.count"],
        "steps": [
            {
                "id": "slow",
                "tool": "tools.test.count",
                "timeout_seconds": 2,
                "args": {"value": NESTED_LOOPS},
            }
        ],
    }
    run = run_start(playbook=active_playbook(spec), actor=author, inputs=ROWS)
    assert run_advance(run_id=run.pk) == Advance.FINISHED
    run = Run.objects.get(pk=run.pk)
    assert run.status == "failed"
    step = RunStep.objects.get(run=run, step_id="slow")
    assert step.error == "template error: rendering ran past the step's 2 s timeout"
    assert run.error == f"step slow failed: {step.error}"


def test_validation_refuses_a_spec_whose_template_recurses(author):
    spec = {
        "name": "Recursive",
        "tools": ["tools.test.count"],
        "steps": [{"id": "a", "tool": "tools.test.count", "args": {"value": DOUBLING_MACRO}}],
    }
    checked = spec_check(spec=spec, organization_id=author.membership.organization_id)
    assert not checked.valid
    assert [(problem.path, problem.message) for problem in checked.report.errors] == [
        ("/steps/0/args/value", "macro 'grow' calls itself (directly or through other macros)")
    ]
