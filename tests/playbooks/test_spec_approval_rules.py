"""The validator on who-decides rules in approval_policy and on a gate's `approval:`."""

import pytest

from playbooks.spec.validator import spec_validate
from tests.playbooks.test_spec_validator import base_spec


def _errors_with(policy=None, gate=None) -> list[tuple[str, str]]:
    spec = base_spec()
    if policy is not None:
        spec["approval_policy"] = {"external_send": {"mode": "approve", **policy}}
    if gate is not None:
        spec["steps"].append(
            {"id": "check", "approval": {"title": "Check", "payload": {"a": 1}, **gate}}
        )
    return [(problem.path, problem.message) for problem in spec_validate(spec).errors]


def test_every_rule_key_is_accepted():
    rules = {
        "approvers": ["admin", "alice"],
        "exclude_requester": True,
        "required_approvals": 2,
        "escalate_after_seconds": 600,
        "escalate_to": ["approver"],
    }
    assert _errors_with(policy=rules) == []
    assert _errors_with(gate=rules) == []


@pytest.mark.parametrize("value", [0, 11, "2", 1.5])
def test_required_approvals_is_an_integer_from_1_to_10(value):
    errors = _errors_with(policy={"required_approvals": value})
    assert [path for path, _ in errors] == ["/approval_policy/external_send/required_approvals"]


@pytest.mark.parametrize("value", ["admin", [""], [3], ["has space"]])
def test_approvers_is_a_list_of_role_names_or_usernames(value):
    errors = _errors_with(policy={"approvers": value})
    assert errors and all(
        path.startswith("/approval_policy/external_send/approvers") for path, _ in errors
    )


def test_self_approval_of_an_external_send_cannot_be_allowed():
    errors = _errors_with(policy={"exclude_requester": False})
    assert errors == [
        (
            "/approval_policy/external_send/exclude_requester",
            "approval_policy may only tighten the defaults: nobody approves their own "
            "external_send call, so exclude_requester cannot be false",
        )
    ]


def test_escalation_needs_both_a_wait_and_a_backup():
    assert [path for path, _ in _errors_with(gate={"escalate_to": ["admin"]})] == [
        "/steps/2/approval/escalate_after_seconds"
    ]
    assert [path for path, _ in _errors_with(policy={"escalate_after_seconds": 60})] == [
        "/approval_policy/external_send/escalate_to"
    ]
