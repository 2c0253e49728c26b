"""What a decision does is dispatched through approvals.effects: every kind is wired by the
app that owns it, and a kind nobody registered fails loudly (its decision rolls back)
instead of silently doing nothing."""

import pytest

from agentstudio.audit.models import AuditEvent
from approvals.effects import (
    HOOKS,
    ApprovalEffectMissing,
    approval_effect_decided_handler,
    approval_effect_register,
    approval_effect_reopened_handler,
    approval_effect_unregister,
    approval_hook,
)
from approvals.models import Approval, ApprovalDecision, ApprovalKind
from approvals.services import approval_approve, approval_create, approval_reject
from playbooks.approval_effects import run_approval_decided


def test_every_kind_has_a_decided_handler_and_every_hook_is_registered():
    for kind in ApprovalKind.values:
        assert callable(approval_effect_decided_handler(Approval(kind=kind, step="s1")))
    api_call = Approval(kind=ApprovalKind.TOOL_CALL, step="api")
    run_call = Approval(kind=ApprovalKind.TOOL_CALL, step="s1")
    assert approval_effect_decided_handler(api_call) is not (
        approval_effect_decided_handler(run_call)
    )
    for approval in (api_call, run_call):  # only tool calls have an undo window
        assert callable(approval_effect_reopened_handler(approval))
    for name in HOOKS:
        assert callable(approval_hook(name))


@pytest.fixture
def gate_unregistered():
    """Takes the gate kind's effects out of the registry for one test, then puts them back."""
    decided, reopened = approval_effect_unregister(kind=ApprovalKind.GATE)
    assert decided is run_approval_decided
    yield
    approval_effect_register(kinds=(ApprovalKind.GATE,), decided=decided, reopened=reopened)
    assert approval_effect_decided_handler(Approval(kind=ApprovalKind.GATE)) is decided


def _gate(org, author) -> Approval:
    return approval_create(
        organization=org,
        kind=ApprovalKind.GATE,
        title="Ship it?",
        payload={"ship": True},
        requested_by=author,
    )


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("decide", ["approve", "reject"])
def test_deciding_an_unregistered_kind_raises_and_records_nothing(
    decide, gate_unregistered, org, author, approver
):
    gate = _gate(org, author)
    with pytest.raises(ApprovalEffectMissing) as missing:
        if decide == "approve":
            approval_approve(approval=gate, actor=approver, body_hash=gate.body_hash)
        else:
            approval_reject(approval=gate, actor=approver, reason="Not today.")
    assert str(missing.value) == (
        f"No 'decided' effect is registered for approval kind gate (approval {gate.pk}); "
        "the app that owns it registers one in its AppConfig.ready() with "
        "approvals.effects.approval_effect_register."
    )
    gate.refresh_from_db()
    assert (gate.status, gate.decided_by, gate.reason) == ("pending", None, "")
    assert not ApprovalDecision.objects.filter(approval=gate).exists()
    assert list(
        AuditEvent.objects.filter(type__startswith="approval.").values_list("type", flat=True)
    ) == ["approval.requested"]


def test_a_second_handler_for_a_kind_is_refused():
    with pytest.raises(ValueError, match="A 'decided' effect for approval kind gate"):
        approval_effect_register(kinds=(ApprovalKind.GATE,), decided=lambda **_: None)
    with pytest.raises(ValueError, match="Unknown approval kind 'nope'"):
        approval_effect_register(kinds=("nope",), decided=lambda **_: None)
