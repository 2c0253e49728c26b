"""Tests for playbooks.spec.promotion: what promoting a spec needs, and the spec defaults."""

import pytest

from playbooks.spec import promotion as policy_module
from playbooks.spec.defaults import (
    APPROVAL_MODE_STRICTNESS,
    DEFAULT_APPROVAL_POLICY,
    DEFAULT_BUDGET,
    spec_effective_approval_policy,
    spec_effective_budget,
    spec_effective_max_risk,
)
from playbooks.spec.promotion import PromotionPolicy, promotion_policy


def read_only_spec(step_count: int = 1) -> dict:
    return {
        "name": "Read",
        "tools": ["tools.studio.files.read"],
        "steps": [
            {"id": f"read_{n}", "tool": "tools.studio.files.read", "args": {"path": "a.txt"}}
            for n in range(step_count)
        ],
    }


def test_a_short_read_only_spec_promotes_automatically():
    assert promotion_policy(read_only_spec(), max_auto_steps=10) == PromotionPolicy(
        requires_approval=False, reasons=[], risk_max="read"
    )


def test_a_write_tool_needs_a_person_and_says_which():
    spec = read_only_spec()
    spec["tools"].append("tools.studio.files.write")
    result = promotion_policy(spec, max_auto_steps=10)
    assert result.requires_approval is True
    assert result.reasons == ["tool tools.studio.files.write has risk write (write or above)"]
    assert result.risk_max == "write"


def test_a_tool_used_by_a_step_counts_even_when_not_declared():
    spec = read_only_spec()
    spec["steps"].append({"id": "post", "tool": "tools.studio.http.post", "args": {}})
    result = promotion_policy(spec, max_auto_steps=10)
    assert result.reasons == ["tool tools.studio.http.post has risk external_send (write or above)"]
    assert result.risk_max == "external_send"


def test_agent_allowed_tools_count_towards_the_highest_risk():
    spec = {
        "name": "Agent",
        "steps": [
            {
                "id": "look",
                "agent": {"instruction": "i", "allowed_tools": ["tools.studio.ai.draft_playbook"]},
            }
        ],
    }
    assert promotion_policy(spec, max_auto_steps=10).risk_max == "compute"


@pytest.mark.parametrize(
    ("kind", "body", "description"),
    [
        ("agent", {"instruction": "i", "allowed_tools": []}, "an agent step"),
        ("playbook", {"slug": "other"}, "a playbook step"),
        ("remote_agent", {"agent": "a", "input": {}}, "a remote_agent step"),
    ],
)
def test_agent_playbook_and_remote_agent_steps_need_a_person(kind, body, description):
    spec = read_only_spec()
    spec["steps"].append({"id": "special", kind: body})
    result = promotion_policy(spec, max_auto_steps=10)
    assert result.requires_approval is True
    assert len(result.reasons) == 1
    assert result.reasons[0].startswith(f"step 'special' is {description}")


def test_more_steps_than_allowed_need_a_person():
    result = promotion_policy(read_only_spec(step_count=4), max_auto_steps=3)
    assert result.requires_approval is True
    assert result.reasons == ["4 steps, more than the 3 that promote automatically"]


def test_exactly_the_allowed_number_of_steps_promotes_automatically():
    assert (
        promotion_policy(read_only_spec(step_count=3), max_auto_steps=3).requires_approval is False
    )


def test_every_reason_is_listed():
    spec = read_only_spec(step_count=2)
    spec["tools"].append("tools.studio.files.write")
    spec["steps"].append({"id": "ask_agent", "agent": {"instruction": "i", "allowed_tools": []}})
    assert promotion_policy(spec, max_auto_steps=2).reasons == [
        "tool tools.studio.files.write has risk write (write or above)",
        "step 'ask_agent' is an agent step (the model chooses its tool calls)",
        "3 steps, more than the 2 that promote automatically",
    ]


def test_no_tools_means_no_risk_max():
    spec = {"name": "Ask", "steps": [{"id": "q", "ask": {"question": "?", "schema": {}}}]}
    assert promotion_policy(spec, max_auto_steps=10).risk_max is None


def test_unknown_tools_are_left_to_the_validator():
    spec = {"name": "X", "tools": ["tools.nope.x"], "steps": [{"id": "a", "tool": "tools.nope.x"}]}
    assert promotion_policy(spec, max_auto_steps=10) == PromotionPolicy(
        requires_approval=False, reasons=[], risk_max=None
    )


@pytest.mark.parametrize(
    "spec", [None, [], "x", {"steps": None}, {"steps": [None, 1]}, {"tools": [[1], None]}]
)
def test_an_invalid_spec_gets_an_answer_not_an_exception(spec):
    assert promotion_policy(spec, max_auto_steps=10).requires_approval is False


def test_as_dict():
    spec = read_only_spec()
    spec["tools"].append("tools.studio.files.write")
    assert promotion_policy(spec, max_auto_steps=10).as_dict() == {
        "requires_approval": True,
        "reasons": ["tool tools.studio.files.write has risk write (write or above)"],
        "risk_max": "write",
    }


def test_the_configured_step_limit_applies_when_none_is_given(monkeypatch):
    monkeypatch.setattr(policy_module, "configured_max_auto_steps", lambda: 1)
    assert promotion_policy(read_only_spec(step_count=2)).requires_approval is True


def test_effective_budget_fills_in_the_defaults():
    spec = {"budget": {"max_usd": 0.5, "on_breach": "fail"}}
    assert spec_effective_budget(spec) == {**DEFAULT_BUDGET, "max_usd": 0.5, "on_breach": "fail"}
    assert spec_effective_budget({}) == DEFAULT_BUDGET
    assert DEFAULT_BUDGET == {
        "max_usd": 5,
        "max_tokens": 1_000_000,
        "max_wall_seconds": 3600,
        "max_tool_calls": 1000,
        "on_breach": "pause",
    }


def test_effective_budget_is_a_copy():
    spec_effective_budget({})["max_usd"] = 999
    assert DEFAULT_BUDGET["max_usd"] == 5


def test_effective_approval_policy_merges_rules_over_the_defaults():
    spec = {"approval_policy": {"external_send": {"mode": "approve", "undo_seconds": 5}}}
    policy = spec_effective_approval_policy(spec)
    assert policy["external_send"] == {"mode": "approve", "undo_seconds": 5}
    assert policy["admin"] == {"mode": "approve", "approver_role": "admin"}
    assert policy["secret"] == {"mode": "deny"}
    assert spec_effective_approval_policy(None) == DEFAULT_APPROVAL_POLICY


def test_approval_modes_are_ordered_by_strictness():
    assert sorted(APPROVAL_MODE_STRICTNESS, key=APPROVAL_MODE_STRICTNESS.get) == [
        "allow",
        "approve",
        "dry_run_then_approve",
        "deny",
    ]


def test_effective_max_risk_defaults_to_write():
    assert spec_effective_max_risk({}) == "write"
    assert spec_effective_max_risk({"max_risk": "read"}) == "read"
    assert spec_effective_max_risk({"max_risk": "bogus"}) == "write"
