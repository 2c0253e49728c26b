"""The approval queue: pending first with counts per kind, the exact payload and its hash,
and Approve / Edit and approve / Reject / Undo buttons that call the services with the hash
the approver was shown."""

from __future__ import annotations

import json
from typing import Any

from django.contrib import admin
from django.contrib.admin.utils import unquote
from django.http import HttpRequest, HttpResponse
from django.urls import path, reverse
from django.utils.html import format_html
from django.utils.safestring import SafeString
from django_fsm import can_proceed

from agentstudio.accounts.admin import (
    OrganizationScopedAdminMixin,
    ReadOnlyInlineMixin,
    code_block,
    json_block,
    pretty_json,
    status_badge,
    user_display,
    without_bulk_delete,
)
from agentstudio.errors import AppError, ErrorCode
from approvals.admin_bulk import BulkDecisionViews
from approvals.admin_decisions import ApprovalDecisionViews, question_widget
from approvals.admin_display import approval_target, countdown, diff_block, payload_diff_lines
from approvals.admin_inbox import (
    AwaitingMeFilter,
    kind_and_tool,
    only_pending_shown,
    run_link,
    time_left,
)
from approvals.admin_payload import payload_view_html, preview_html
from approvals.admin_review import DRAFT_SESSION_KEY, ApprovalReviewViews
from approvals.admin_rules_display import decision_rules_field
from approvals.admin_schema_form import schema_form_fields
from approvals.context import approval_context
from approvals.models import (
    Approval,
    ApprovalDecision,
    ApprovalKind,
    ApprovalScope,
    ApprovalStatus,
)
from approvals.selectors import (
    approval_pending_counts,
    approval_previous_payload,
    approval_queue_ordering,
)
from approvals.services import (
    approval_assert_can_answer,
    approval_assert_can_decide,
    approval_in_undo_window,
    approval_payload_editable,
)
from approvals.services.checks import dry_run_blocker

STATUS_COLOURS = {
    ApprovalStatus.PENDING: "#e65100",
    ApprovalStatus.APPROVED: "#2e7d32",
    ApprovalStatus.EXECUTED: "#1b5e20",
    ApprovalStatus.UNDONE: "#6a1b9a",
    ApprovalStatus.REJECTED: "#c62828",
    ApprovalStatus.EXPIRED: "#6c757d",
    ApprovalStatus.CANCELLED: "#6c757d",
}
HASH_SHOWN_CHARS = 12
REQUEST_FIELDS = (
    "title",
    "kind",
    "status_badge",
    "tool",
    "risk",
    "target",
    "playbook_link",
    "step",
    "requested_by_name",
    "decision_rules",
    "created_at",
    "expires_at",
    "expires_in",
)
PAYLOAD_FIELDS = ("payload_pretty", "body_hash_full")
OUTPUT_SHOWN_CHARS = 2000
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
class ApprovalAdmin(
    OrganizationScopedAdminMixin,
    BulkDecisionViews,
    ApprovalDecisionViews,
    ApprovalReviewViews,
    admin.ModelAdmin,
):
    """Approvers and admins of the organization work the queue; nothing here edits a field.
    Deciding goes through approval_approve / approval_reject / approval_undo, which check
    the role, the state, the expiry and the body hash; the page only hides the buttons the
    services would refuse to the viewer."""

    list_display = (
        "title",
        "playbook_link",
        "run_column",
        "step",
        "kind_column",
        "risk",
        "requester",
        "target",
        "time_left_column",
        "status_badge",
        "hash_short",
    )
    list_display_links = ("title",)
    empty_value_display = "—"
    list_filter = (
        "kind",
        "risk",
        "status",
        ("playbook", admin.RelatedOnlyFieldListFilter),
        AwaitingMeFilter,
    )
    search_fields = ("title", "step", "tool", "requested_by__username", "body_hash")
    inlines = (ApprovalDecisionInline,)
    readonly_fields = (
        *REQUEST_FIELDS,
        *PAYLOAD_FIELDS,
        "payload_readable",
        "payload_diff",
        "dry_run_pretty",
        *DECISION_FIELDS,
    )
    actions = ("approve_selected", "reject_selected")
    requested_by_name = user_display("requested_by", "requested by")
    requester = user_display("requested_by", "requester")
    decided_by_name = user_display("decided_by", "decided by")
    decision_rules = decision_rules_field

    def get_fieldsets(self, request: HttpRequest, obj: Approval | None = None) -> Any:
        """The diff, the dry run and the decision only when there is one to show."""
        payload_fields: tuple[str, ...] = PAYLOAD_FIELDS
        if obj is not None and payload_view_html(obj) is not None:
            payload_fields = ("payload_readable", *payload_fields)
        if obj is not None and self._previous_payload(obj) is not None:
            payload_fields += ("payload_diff",)
        if obj is not None and obj.dry_run is not None:
            payload_fields += ("dry_run_pretty",)
        fieldsets: list[tuple[str, dict[str, Any]]] = [
            ("Request", {"fields": REQUEST_FIELDS}),
            ("Payload", {"fields": payload_fields}),
        ]
        if obj is not None and obj.status != ApprovalStatus.PENDING:
            fieldsets.append(("Decision", {"fields": DECISION_FIELDS}))
        return fieldsets

    def get_queryset(self, request: HttpRequest) -> Any:
        # pending_first is annotated here so get_ordering can name it.
        queryset = self.scope_queryset(request, Approval.objects.all()).select_related(
            "playbook", "requested_by", "decided_by", "organization", "supersedes"
        )
        return approval_queue_ordering(queryset)

    def get_ordering(self, request: HttpRequest) -> list[str]:
        """Pending first, then the most urgent (soonest to expire), then the newest."""
        return ["pending_first", "expires_at", "-created_at"]

    def get_list_display(self, request: HttpRequest) -> Any:
        if only_pending_shown(request):
            return tuple(name for name in self.list_display if name != "status_badge")
        return self.list_display

    def get_actions(self, request: HttpRequest) -> dict[str, Any]:
        return without_bulk_delete(super().get_actions(request))

    def changelist_view(
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        """The queue, headed by the pending count of each kind (one grouped query); without
        the navigation sidebar, so its columns fit a 1366-pixel screen."""
        counts = approval_pending_counts(self.scope_queryset(request, Approval.objects.all()))
        pending_by_kind = [
            (kind, label, counts[kind]) for kind, label in ApprovalKind.choices if kind in counts
        ]
        extra_context = {
            **(extra_context or {}),
            "pending_by_kind": pending_by_kind,
            "pending_total": sum(counts.values()),
            "is_nav_sidebar_enabled": False,
        }
        return super().changelist_view(request, extra_context)

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

    @admin.display(description="recipient / target")
    def target(self, obj: Approval) -> str:
        return approval_target(obj.payload) or "—"

    @admin.display(description="kind / tool", ordering="kind")
    def kind_column(self, obj: Approval) -> SafeString:
        return kind_and_tool(obj)

    @admin.display(description="run")
    def run_column(self, obj: Approval) -> SafeString | str:
        return run_link(obj)

    @admin.display(description="time left", ordering="expires_at")
    def time_left_column(self, obj: Approval) -> SafeString | str:
        return time_left(obj)

    @admin.display(description="time left")
    def expires_in(self, obj: Approval) -> SafeString | str:
        if obj.status != ApprovalStatus.PENDING:
            return "—"
        return countdown(obj.expires_at, done="expired")

    @admin.display(description="payload")
    def payload_readable(self, obj: Approval) -> SafeString | str:
        return payload_view_html(obj) or "—"

    @admin.display(description="raw payload")
    def payload_pretty(self, obj: Approval) -> SafeString:
        return format_html(
            '<details class="as-fold" id="raw-payload"><summary>Raw JSON</summary>{}</details>',
            json_block(obj.payload),
        )

    @admin.display(description="body hash (SHA-256)")
    def body_hash_full(self, obj: Approval) -> SafeString:
        return format_html(
            '<details class="as-fold" id="full-hash"><summary>{}</summary>{}</details>',
            self.hash_short(obj),
            code_block(obj.body_hash),
        )

    @admin.display(description="changes")
    def payload_diff(self, obj: Approval) -> SafeString | str:
        previous = self._previous_payload(obj)
        if previous is None:
            return "—"
        source, payload = previous
        return format_html(
            '<p class="as-note">Against the payload {}:</p>{}',
            source,
            diff_block(payload_diff_lines(payload, obj.payload)),
        )

    @admin.display(description="dry run")
    def dry_run_pretty(self, obj: Approval) -> SafeString:
        blocker = dry_run_blocker(obj.dry_run)
        warning = (
            format_html(
                '<p class="as-warning" id="dry-run-warning">The dry run shows this call '
                "cannot succeed: {}. Approve is disabled; edit the payload or reject it.</p>",
                blocker,
            )
            if blocker
            else ""
        )
        return format_html("{}{}", warning, json_block(obj.dry_run))

    @admin.display(description="response")
    def response_pretty(self, obj: Approval) -> SafeString:
        return json_block(obj.response)

    @admin.display(description="result")
    def result_pretty(self, obj: Approval) -> SafeString:
        return json_block(obj.result)

    def _previous_payload(self, obj: Approval) -> tuple[str, Any] | None:
        """Looked up once per page: the fieldsets and the field itself both ask."""
        if "_previous_payload" not in obj.__dict__:
            obj.__dict__["_previous_payload"] = approval_previous_payload(obj)
        return obj.__dict__["_previous_payload"]

    # -- the decision panel

    def decision_context(self, request: HttpRequest, approval: Approval) -> dict[str, Any]:
        """What the decision panel offers; the service's own check says who may decide."""
        undoable = approval_in_undo_window(approval)
        context: dict[str, Any] = {"open": can_proceed(approval.approve), "refusal": ""}
        if not (context["open"] or undoable):
            return context
        if approval.kind == ApprovalKind.QUESTION:
            return self.question_context(request, approval, context)
        try:
            approval_assert_can_decide(approval=approval, actor=request.user)
        except AppError as error:
            context["refusal"] = (
                "Only approvers and admins of this approval's organization decide it."
                if error.code == ErrorCode.NOT_FOUND
                else error.message
            )
            return context
        if undoable:
            context.update(
                undo_url=reverse("admin:approvals_approval_undo", args=[approval.pk]),
                undo_countdown=countdown(approval.undo_until, done="closed"),
            )
            return context
        draft = request.session.pop(DRAFT_SESSION_KEY.format(approval.pk), None)
        context.update(
            body_hash=approval.body_hash,
            approve_url=reverse("admin:approvals_approval_approve", args=[approval.pk]),
            review_url=reverse("admin:approvals_approval_review", args=[approval.pk]),
            blocked=dry_run_blocker(approval.dry_run),
            reject_url=reverse("admin:approvals_approval_reject", args=[approval.pk]),
            scopes=ApprovalScope.choices if approval.kind == ApprovalKind.TOOL_CALL else [],
            editable=approval_payload_editable(approval),
            schema_fields=schema_form_fields(approval)
            if approval_payload_editable(approval)
            else None,
            draft=pretty_json(approval.payload) if draft is None else draft,
        )
        return context

    def question_context(
        self, request: HttpRequest, approval: Approval, context: dict[str, Any]
    ) -> dict[str, Any]:
        """A question is answered, not approved: a form for its answer schema (who may
        answer is the service's call), and Reject to decline it."""
        try:
            approval_assert_can_answer(approval=approval, actor=request.user)
        except AppError as error:
            context["refusal"] = error.message
            return context
        widget, choices = question_widget(approval)
        context.update(
            question=True,
            widget=widget,
            choices=[(index, json.dumps(value)) for index, value in enumerate(choices)],
            answer_url=reverse("admin:approvals_approval_answer", args=[approval.pk]),
            reject_url=reverse("admin:approvals_approval_reject", args=[approval.pk]),
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
            "run_context": run_context_for_page(approval),
        }
        return super().change_view(request, object_id, form_url, extra_context)

    def get_urls(self) -> list[Any]:
        custom = [
            path(
                f"<path:object_id>/{name}/",
                self.admin_site.admin_view(view),
                name=f"approvals_approval_{name}",
            )
            for name, view in (
                ("approve", self.approve_view),
                ("review", self.review_view),
                ("reject", self.reject_view),
                ("undo", self.undo_view),
                ("answer", self.answer_view),
            )
        ]
        return custom + super().get_urls()


def run_context_for_page(approval: Approval) -> dict[str, Any] | None:
    """The run context a provider gives (approvals.context), with the run's admin link and
    each step's output as folded text, cut at OUTPUT_SHOWN_CHARS."""
    found = approval_context(approval) if approval is not None else None
    if found is None:
        return None
    run = found.get("run") or {}
    steps = []
    for step in found.get("previous_steps", []):
        text = pretty_json(step.get("output"))
        steps.append(
            {
                **step,
                "output_text": text[:OUTPUT_SHOWN_CHARS],
                "cut": max(len(text) - OUTPUT_SHOWN_CHARS, 0),
            }
        )
    return {
        **found,
        "run_url": reverse("admin:playbooks_run_change", args=[run["id"]]) if run else "",
        "inputs_text": pretty_json(found.get("inputs")),
        "previous_steps": steps,
        "preview_html": preview_html(
            found.get("preview"), dry_run_blocker((found.get("preview") or {}).get("result"))
        ),
    }
