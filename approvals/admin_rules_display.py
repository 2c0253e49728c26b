"""Who decides, on the approval page (one read-only line), and the organization's default
rules, which its admins edit and its approvers may read."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.http import HttpRequest

from agentstudio.accounts.admin import STAFF, OrganizationScopedAdminMixin
from agentstudio.accounts.models import Role
from agentstudio.accounts.roles import user_membership
from approvals.models import Approval, ApprovalRuleDefault
from approvals.rules import approval_escalation_due_at, approval_required_approvals
from approvals.services.rule_defaults import RULE_DEFAULT_TARGETS, approval_rule_default_save

ADMINS = frozenset({Role.ADMIN})
RULE_VALUE_FIELDS = (
    "approvers",
    "exclude_requester",
    "required_approvals",
    "escalate_after_seconds",
    "escalate_to",
)


def approval_rules_summary(approval: Approval) -> str:
    """The rules in one sentence, e.g. "admin, alice decide; not the requester; 2 approvals
    of the same payload (1 so far); escalates to approver after 600 s"."""
    rules = approval.rules or {}
    parts = [
        f"{', '.join(rules['approvers'])} decide"
        if rules.get("approvers")
        else ("approvers and admins decide")
    ]
    if rules.get("exclude_requester"):
        parts.append("not the requester")
    required = approval_required_approvals(approval)
    if required > 1:
        so_far = approval.votes.filter(body_hash=approval.body_hash).count()
        parts.append(f"{required} approvals of the same payload ({so_far} so far)")
    due_at = approval_escalation_due_at(approval)
    if due_at is not None:
        to = ", ".join(rules.get("escalate_to") or [])
        when = approval.escalated_at or due_at
        verb = "escalated" if approval.escalated_at else "escalates"
        parts.append(f"{verb} to {to} at {when:%Y-%m-%d %H:%M %Z}")
    return "; ".join(parts)


@admin.display(description="who decides")
def decision_rules_field(model_admin: Any, approval: Approval) -> str:
    """A read-only field for the approval page: `decision_rules = decision_rules_field`."""
    return approval_rules_summary(approval)


class ApprovalRuleDefaultForm(forms.ModelForm):
    applies_to = forms.ChoiceField(choices=[(t, t) for t in RULE_DEFAULT_TARGETS])

    class Meta:
        model = ApprovalRuleDefault
        fields = ["applies_to", *RULE_VALUE_FIELDS]


@admin.register(ApprovalRuleDefault)
class ApprovalRuleDefaultAdmin(OrganizationScopedAdminMixin, admin.ModelAdmin):
    """The organization's default rules per risk class or kind: admins edit, approvers read.
    Saving goes through approval_rule_default_save, which checks the values."""

    form = ApprovalRuleDefaultForm
    view_roles = STAFF
    add_roles = ADMINS
    change_roles = ADMINS
    delete_roles = ADMINS
    list_display = ("applies_to", *RULE_VALUE_FIELDS)
    fields = ("applies_to", *RULE_VALUE_FIELDS)

    def save_model(
        self, request: HttpRequest, obj: ApprovalRuleDefault, form: Any, change: bool
    ) -> None:
        membership = user_membership(request.user)
        organization = obj.organization if change else membership.organization
        values = {name: form.cleaned_data.get(name) for name in RULE_VALUE_FIELDS}
        values["approvers"] = values["approvers"] or []
        values["escalate_to"] = values["escalate_to"] or []
        ok, saved = self.run_service(
            request,
            lambda: approval_rule_default_save(
                organization=organization,
                actor=request.user,
                applies_to=form.cleaned_data["applies_to"],
                **values,
            ),
            success=f"Default rules for {form.cleaned_data['applies_to']} saved.",
        )
        if ok:
            obj.pk = saved.pk
