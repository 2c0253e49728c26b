"""refine_prompt and draft_playbook as the broker executes them, answered by the scripted
provider: checked answers, the repair round, `isError` with every problem, usage counted."""

import json

import yaml

from tests.tools.ai_services.conftest import VALID_DRAFT, scripted_model
from tools.spec_validation import spec_validate

REFINE = "tools.studio.ai.refine_prompt"
DRAFT = "tools.studio.ai.draft_playbook"
TEMPLATE = json.dumps({"system": "be nice", "user": "Help {{ customer }} with {{ topic }}"})
GOOD = {
    "messages": [
        {"role": "system", "content": "You are a courteous support agent."},
        {"role": "user", "content": "Help {{ customer }} with {{ topic }}. Be brief."},
    ],
    "summary": "Made the system role specific and asked for brevity.",
}


def test_refine_returns_the_checked_messages_and_the_summary_as_text(call_ai_tool):
    model = scripted_model([{"step": "s", "content": json.dumps(GOOD)}])
    result = call_ai_tool(REFINE, {"prompt_template_json": TEMPLATE, "guidelines": "brief"}, model)
    assert result.is_error is False
    assert result.structured == GOOD
    assert result.text == GOOD["summary"]
    assert result.model_usage["model_calls"] == 1
    assert result.model_usage["calls"][0]["scripted"] is True
    assert result.model_usage["input_tokens"] > 0


def test_refine_accepts_an_answer_in_a_code_fence(call_ai_tool):
    fenced = "```json\n" + json.dumps(GOOD) + "\n```"
    model = scripted_model([{"step": "s", "content": fenced}])
    assert call_ai_tool(REFINE, {"prompt_template_json": TEMPLATE}, model).structured == GOOD


def test_refine_repairs_once_then_succeeds(call_ai_tool):
    model = scripted_model(
        [{"step": "s", "content": "Sure! Here it is."}, {"step": "s", "content": GOOD}]
    )
    result = call_ai_tool(REFINE, {"prompt_template_json": TEMPLATE}, model)
    assert result.is_error is False
    assert result.structured == GOOD
    assert result.model_usage["model_calls"] == 2


def test_refine_that_stays_invalid_is_an_error_saying_why(call_ai_tool):
    dropped = {
        "messages": [{"role": "user", "content": "Help {{ customer }}."}, {"role": "bot"}],
        "summary": "",
    }
    model = scripted_model(
        [{"step": "s", "content": "not json"}, {"step": "s", "content": json.dumps(dropped)}]
    )
    result = call_ai_tool(REFINE, {"prompt_template_json": TEMPLATE}, model)
    assert result.is_error is True
    assert "not a valid prompt template with a summary after one repair round" in result.text
    assert result.structured["errors"] == [
        {"path": "/summary", "message": "must be a non-empty string"},
        {
            "path": "/messages/1/role",
            "message": "must be one of ['system', 'developer', 'user', 'assistant']",
        },
        {"path": "/messages/1/content", "message": "must be a non-empty string"},
        {"path": "/messages", "message": "the template's placeholder {{ topic }} is missing"},
    ]
    assert result.model_usage["model_calls"] == 2  # the failed calls still count


def test_refine_of_a_template_that_is_not_json_asks_no_model(call_ai_tool):
    model = scripted_model([])
    result = call_ai_tool(REFINE, {"prompt_template_json": "{oops"}, model)
    assert result.is_error is True
    assert result.text.startswith("prompt_template_json is not JSON")
    assert model.calls == [] and result.model_usage is None


def test_draft_returns_a_spec_that_passes_the_validator(call_ai_tool, org):
    model = scripted_model([{"step": "s", "content": "```yaml\n" + VALID_DRAFT + "```"}])
    result = call_ai_tool(DRAFT, {"description": "List late supplier orders weekly."}, model)
    assert result.is_error is False, result.text
    assert result.structured["spec"] == yaml.safe_load(VALID_DRAFT)
    assert yaml.safe_load(result.structured["spec_yaml"]) == result.structured["spec"]
    assert spec_validate(result.structured["spec_yaml"], organization_id=org.pk).valid
    assert result.text == result.structured["spec_yaml"]


def test_draft_sends_the_validation_errors_back_once(call_ai_tool):
    invalid = VALID_DRAFT.replace("tools.studio.data.profile]", "tools.studio.nope]")
    model = scripted_model(
        [{"step": "s", "content": invalid}, {"step": "s", "content": VALID_DRAFT}]
    )
    result = call_ai_tool(DRAFT, {"description": "List late supplier orders weekly."}, model)
    assert result.is_error is False
    assert result.model_usage["model_calls"] == 2


def test_draft_still_invalid_after_the_repair_is_an_error_with_the_errors(call_ai_tool):
    model = scripted_model(
        [{"step": "s", "content": "name: [unclosed"}, {"step": "s", "content": {"steps": 3}}]
    )
    result = call_ai_tool(DRAFT, {"description": "Anything at all, really."}, model)
    assert result.is_error is True
    assert "not a valid playbook spec after one repair round" in result.text
    paths = [error["path"] for error in result.structured["errors"]]
    assert "" in paths and "/steps" in paths  # name missing at the root; steps not a list


def test_without_a_model_the_tools_say_so(call_ai_tool):
    result = call_ai_tool(DRAFT, {"description": "x" * 30}, None)
    assert result.is_error is True
    assert result.text.startswith("No model is available to this tool call")


def test_budget_hooks_reserve_before_each_call_and_settle_after(call_ai_tool):
    seen = []
    model = scripted_model([{"step": "s", "content": "nope"}, {"step": "s", "content": GOOD}])
    model.reserve = lambda request, provider: seen.append(("reserve", request.turn)) or request.turn
    model.settle = lambda reservation, usage: seen.append(("settle", reservation, usage.model))
    assert not call_ai_tool(REFINE, {"prompt_template_json": TEMPLATE}, model).is_error
    assert seen == [
        ("reserve", 0),
        ("settle", 0, "gpt-4o-mini"),
        ("reserve", 1),
        ("settle", 1, "gpt-4o-mini"),
    ]


def test_a_refused_reservation_stops_the_call_before_the_model(call_ai_tool):
    from tools.context import ToolExecutionError

    def refuse(request, provider):
        raise ToolExecutionError("budget: max_usd would be exceeded")

    model = scripted_model([{"step": "s", "content": GOOD}])
    model.reserve = refuse
    result = call_ai_tool(REFINE, {"prompt_template_json": TEMPLATE}, model)
    assert (result.is_error, result.text) == (True, "budget: max_usd would be exceeded")
    assert model.calls == []


def test_a_failed_call_settles_its_reservation_with_nothing_used(call_ai_tool):
    settled = []
    model = scripted_model([])  # the scripted provider has no reply: the call fails
    model.reserve = lambda request, provider: "held"
    model.settle = lambda reservation, usage: settled.append((reservation, usage))
    result = call_ai_tool(REFINE, {"prompt_template_json": TEMPLATE}, model)
    assert result.is_error is True and "no response" in result.text
    assert settled == [("held", None)]


def test_the_ai_tools_are_open_world_so_never_run_ahead_of_a_checkpoint():
    from playbooks.engine.view import step_is_pure

    for name in (REFINE, DRAFT):
        assert step_is_pure({"id": "a", "tool": name}) is False
