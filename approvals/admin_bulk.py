"""Bulk decisions from the queue. Selecting rows and choosing an action approves or rejects
nothing: it opens a confirmation page listing each selected approval with its payload and
full hash. Only that page's POST decides, each row through approval_approve with the hash
the page showed (a payload changed since is refused for that row, the others go on), or
through approval_reject with the one reason typed there."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.utils import timezone

from agentstudio.accounts.admin import app_error_message, pretty_json
from agentstudio.errors import AppError, ErrorCode
from approvals.models import Approval, ApprovalStatus
from approvals.services import approval_approve, approval_reject
from approvals.services.checks import dry_run_blocker

BULK_LIMIT = 100
CONFIRM_FIELD = "confirm"
HASH_FIELD = "body_hash_{}"
CONFIRM_TEMPLATE = "admin/approvals/approval/bulk_confirm.html"


def bulk_skip_reason(approval: Approval, *, approving: bool = False) -> str:
    """Why a selected row is not offered for the decision; empty when it is. A call whose
    dry run says it cannot succeed is not approved in bulk either (its page refuses it too)."""
    if approval.status != ApprovalStatus.PENDING:
        return f"already {approval.get_status_display().lower()}"
    if approval.expires_at <= timezone.now():
        return "expired"
    blocked = dry_run_blocker(approval.dry_run) if approving else ""
    if blocked:
        return f"its dry run says the call cannot succeed ({blocked})"
    return ""


class BulkDecisionViews:
    """Mixed into ApprovalAdmin, whose `decide` permission offers these actions to deciders;
    whether a row may be decided is still each service call's check."""

    @admin.action(description="Approve selected approvals (review first)", permissions=["decide"])
    def approve_selected(self, request: HttpRequest, queryset: QuerySet[Approval]) -> Any:
        if request.POST.get(CONFIRM_FIELD) != "yes":
            return self.bulk_confirmation(request, queryset, "approve_selected", "approve")

        def approve(approval: Approval) -> Approval:
            return approval_approve(
                approval=approval,
                actor=request.user,
                body_hash=request.POST.get(HASH_FIELD.format(approval.pk), ""),
            )

        self.bulk_decide(request, queryset, approve, "Approved", approving=True)
        return None

    @admin.action(description="Reject selected approvals (one reason)", permissions=["decide"])
    def reject_selected(self, request: HttpRequest, queryset: QuerySet[Approval]) -> Any:
        if request.POST.get(CONFIRM_FIELD) != "yes":
            return self.bulk_confirmation(request, queryset, "reject_selected", "reject")
        reason = request.POST.get("reason", "")

        def reject(approval: Approval) -> Approval:
            return approval_reject(approval=approval, actor=request.user, reason=reason)

        refused = self.bulk_decide(request, queryset, reject, "Rejected", stop_on_reason=True)
        if refused is not None:
            return self.bulk_confirmation(
                request, queryset, "reject_selected", "reject", error=refused, reason=reason
            )
        return None

    def bulk_decide(
        self,
        request: HttpRequest,
        queryset: QuerySet[Approval],
        decide: Callable[[Approval], Approval],
        verb: str,
        *,
        stop_on_reason: bool = False,
        approving: bool = False,
    ) -> str | None:
        """Decides each row still open, reporting each skip and refusal on its own. With
        stop_on_reason, a refused reason (the same for every row) stops before any row is
        decided and is returned, for the page to ask again."""
        decided = 0
        for approval in queryset.select_related("run"):
            skipped = bulk_skip_reason(approval, approving=approving)
            if skipped:
                self.message_user(
                    request, f"“{approval.title}”: skipped, {skipped}.", messages.WARNING
                )
                continue
            try:
                decide(approval)
            except AppError as error:
                if stop_on_reason and _is_reason_error(error) and not decided:
                    return error.message
                self.message_user(
                    request, f"“{approval.title}”: {app_error_message(error)}", messages.ERROR
                )
                continue
            decided += 1
        if decided:
            self.message_user(request, f"{verb} {decided} approval(s).", messages.SUCCESS)
        return None

    def bulk_confirmation(
        self,
        request: HttpRequest,
        queryset: QuerySet[Approval],
        action: str,
        decision: str,
        **extra: Any,
    ) -> HttpResponse | None:
        """Every selected approval with its payload and full hash (the hash each confirm
        carries back), and the rows that will be skipped and why."""
        approvals = list(queryset.select_related("playbook", "requested_by")[: BULK_LIMIT + 1])
        if len(approvals) > BULK_LIMIT:
            self.message_user(
                request,
                f"Select at most {BULK_LIMIT} approvals to decide at once; each is reviewed.",
                messages.ERROR,
            )
            return None
        rows = [
            {
                "approval": approval,
                "payload": pretty_json(approval.payload),
                "skipped": bulk_skip_reason(approval, approving=decision == "approve"),
            }
            for approval in approvals
        ]
        context = {
            **self.admin_site.each_context(request),
            "title": f"Review {len(rows)} approval(s) to {decision}",
            "opts": self.model._meta,
            "rows": rows,
            "open_count": sum(1 for row in rows if not row["skipped"]),
            "action": action,
            "decision": decision,
            "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
            **extra,
        }
        return TemplateResponse(request, CONFIRM_TEMPLATE, context)


def _is_reason_error(error: AppError) -> bool:
    return error.code == ErrorCode.VALIDATION_ERROR and any(
        detail.get("path") == "/reason" for detail in (error.details or [])
    )
