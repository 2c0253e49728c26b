"""The approval queue: pending first, the exact payload and its hash, and Approve / Reject
buttons that call the services with the hash the approver was shown."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.http import HttpRequest, HttpResponse, HttpResponseNotAllowed, HttpResponseRedirect
from django.urls import path, reverse
from django.utils.html import format_html
from django.utils.safestring import SafeString
from django_fsm import can_proceed

from agentstudio.accounts.admin import (
    OrganizationScopedAdminMixin,
    ReadOnlyInlineMixin,
    code_block,
    json_block,
    status_badge,
    user_display,
    without_bulk_delete,
)
from agentstudio.errors import AppError, ErrorCode
from approvals.models import (
    Approval,
    ApprovalDecision,
    ApprovalKind,
    ApprovalScope,
    ApprovalStatus,
)
from approvals.selectors import approval_queue_ordering
from approvals.services import approval_approve, approval_assert_can_decide, approval_reject
from playbooks.models import Playbook

STATUS_COLOURS = {
    "pending": "#e65100",
    "approved": "#2e7d32",
    "executed": "#1b5e20",
    "undone": "#6a1b9a",
    "rejected": "#c62828",
    "expired": "#6c757d",
    "cancelled": "#6c757d",
}
HASH_SHOWN_CHARS = 12
REQUEST_FIELDS = (
    "title",
    "kind",
    "status_badge",
    "risk",
    "playbook_link",
    "step",
    "tool",
    "requested_by_name",
    "created_at",
    "expires_at",
)
PAYLOAD_FIELDS = ("payload_pretty", "body_hash_full", "dry_run_pretty")
DECISION_FIELDS = (
    "decided_by_name",
    "decided_at",
    "reason",
    "scope",
    "response_pretty",
    "result_pretty",
    "undo_until",
)


class ApprovalDecisionInline(ReadOnlyInlineMixin, admin.TabularInline):
    """Every action taken on the approval, oldest first."""

    model = ApprovalDecision
    fields = ("created_at", "action", "actor_name", "scope", "body_hash", "reason")
    readonly_fields = fields
    ordering = ("created_at",)
    actor_name = user_display("actor", "actor")


@admin.register(Approval)
class ApprovalAdmin(OrganizationScopedAdminMixin, admin.ModelAdmin):
    """Approvers and admins of the organization work the queue; nothing here edits a field.
    Deciding goes through approval_approve / approval_reject, which check the role, the
    state, the expiry and the body hash."""

    list_display = (
        "title",
        "kind",
        "status_badge",
        "risk",
        "playbook_link",
        "requested_by_name",
        "expires_at",
        "hash_short",
    )
    list_display_links = ("title",)
    list_filter = ("kind", "status", "risk")
    search_fields = ("title", "tool", "step", "body_hash")
    inlines = (ApprovalDecisionInline,)
    readonly_fields = (*REQUEST_FIELDS, *PAYLOAD_FIELDS, *DECISION_FIELDS)
    requested_by_name = user_display("requested_by", "requested by")
    decided_by_name = user_display("decided_by", "decided by")

    def get_fieldsets(self, request: HttpRequest, obj: Approval | None = None) -> Any:
        """The decision fields only once there is a decision to show."""
        fieldsets: list[tuple[str, dict[str, Any]]] = [
            ("Request", {"fields": REQUEST_FIELDS}),
            ("Payload", {"fields": PAYLOAD_FIELDS}),
        ]
        if obj is not None and obj.status != ApprovalStatus.PENDING:
            fieldsets.append(("Decision", {"fields": DECISION_FIELDS}))
        return fieldsets

    def get_queryset(self, request: HttpRequest) -> Any:
        # Annotated before ordering, so ModelAdmin's ordering step is skipped here.
        queryset = self.scope_queryset(request, Approval.objects.all()).select_related(
            "playbook", "requested_by", "decided_by", "organization"
        )
        return approval_queue_ordering(queryset)

    def get_ordering(self, request: HttpRequest) -> list[str]:
        return ["pending_first", "expires_at", "-created_at"]

    def get_actions(self, request: HttpRequest) -> dict[str, Any]:
        return without_bulk_delete(super().get_actions(request))

    # -- columns and read-only fields

    @admin.display(description="status", ordering="status")
    def status_badge(self, obj: Approval) -> SafeString:
        return status_badge(obj.get_status_display(), STATUS_COLOURS.get(obj.status, "#6c757d"))

    @admin.display(description="playbook", ordering="playbook__name")
    def playbook_link(self, obj: Approval) -> SafeString | str:
        if obj.playbook is None:
            return "—"
        return format_html(
            '<a href="{}">{}</a>',
            reverse("admin:playbooks_playbook_change", args=[obj.playbook_id]),
            obj.playbook.name,
        )

    @admin.display(description="hash", ordering="body_hash")
    def hash_short(self, obj: Approval) -> SafeString:
        return format_html(
            '<code title="{}">{}</code>', obj.body_hash, obj.body_hash[:HASH_SHOWN_CHARS]
        )

    @admin.display(description="payload")
    def payload_pretty(self, obj: Approval) -> SafeString:
        return json_block(obj.payload)

    @admin.display(description="body hash (SHA-256)")
    def body_hash_full(self, obj: Approval) -> SafeString:
        return code_block(obj.body_hash)

    @admin.display(description="dry run")
    def dry_run_pretty(self, obj: Approval) -> SafeString:
        return json_block(obj.dry_run)

    @admin.display(description="response")
    def response_pretty(self, obj: Approval) -> SafeString:
        return json_block(obj.response)

    @admin.display(description="result")
    def result_pretty(self, obj: Approval) -> SafeString:
        return json_block(obj.result)

    # -- deciding

    def decision_context(self, request: HttpRequest, approval: Approval) -> dict[str, Any]:
        """What the decision panel offers; the service's own check says who may decide."""
        context: dict[str, Any] = {"open": can_proceed(approval.approve), "refusal": ""}
        if not context["open"]:
            return context
        try:
            approval_assert_can_decide(approval=approval, actor=request.user)
        except AppError as error:
            context["refusal"] = (
                "Only approvers and admins of this approval's organization decide it."
                if error.code == ErrorCode.NOT_FOUND
                else error.message
            )
            return context
        context.update(
            body_hash=approval.body_hash,
            approve_url=reverse("admin:approvals_approval_approve", args=[approval.pk]),
            reject_url=reverse("admin:approvals_approval_reject", args=[approval.pk]),
            scopes=ApprovalScope.choices if approval.kind == ApprovalKind.TOOL_CALL else [],
        )
        return context

    def change_view(  # type: ignore[no-untyped-def]
        self,
        request: HttpRequest,
        object_id: str,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ):
        approval = self.get_object(request, unquote(object_id))
        extra_context = {
            **(extra_context or {}),
            "decision": self.decision_context(request, approval),
        }
        return super().change_view(request, object_id, form_url, extra_context)

    def get_urls(self) -> list[Any]:
        custom = [
            path(
                "<path:object_id>/approve/",
                self.admin_site.admin_view(self.approve_view),
                name="approvals_approval_approve",
            ),
            path(
                "<path:object_id>/reject/",
                self.admin_site.admin_view(self.reject_view),
                name="approvals_approval_reject",
            ),
        ]
        return custom + super().get_urls()

    def approve_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        """POST {body_hash, reason?, scope?}: body_hash is the one rendered on the page."""
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        approval = self.get_object(request, unquote(object_id))
        ok, decided = self.run_service(
            request,
            lambda: approval_approve(
                approval=approval,
                actor=request.user,
                body_hash=request.POST.get("body_hash", ""),
                reason=request.POST.get("reason", ""),
                scope=request.POST.get("scope") or None,
            ),
        )
        if not ok:
            return self._back_to(approval)
        self.message_user(request, self.approved_message(decided), messages.SUCCESS)
        return HttpResponseRedirect(reverse("admin:approvals_approval_changelist"))

    def reject_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        """POST {reason}: the service refuses an empty reason."""
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        approval = self.get_object(request, unquote(object_id))
        ok, _ = self.run_service(
            request,
            lambda: approval_reject(
                approval=approval, actor=request.user, reason=request.POST.get("reason", "")
            ),
            success=f"Rejected “{approval.title}”.",
        )
        if not ok:
            return self._back_to(approval)
        return HttpResponseRedirect(reverse("admin:approvals_approval_changelist"))

    def approved_message(self, approval: Approval) -> str:
        message = f"Approved “{approval.title}”."
        if approval.kind == ApprovalKind.PROMOTION and approval.playbook_id is not None:
            # Fetched again: the cached playbook predates the activation (and a protected
            # FSM field cannot be refreshed in place).
            playbook = Playbook.objects.get(pk=approval.playbook_id)
            message += f" {playbook.name} is {playbook.status} as version {playbook.version}."
        return message

    def _back_to(self, approval: Approval) -> HttpResponse:
        return HttpResponseRedirect(reverse("admin:approvals_approval_change", args=[approval.pk]))
