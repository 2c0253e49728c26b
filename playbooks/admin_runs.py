"""Admin for runs: a scoped, read-only list and detail page titled by playbook and start time
(a timeline of the steps, pending approvals, budget and usage, inputs and outputs, artifacts
previewed, steps, tool invocations, the latest events), artifact downloads streamed from the
run's workspace, and Cancel / Retry buttons that call the run services.

Imported at the end of `playbooks/admin.py`, so it registers with the default admin site."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

from django.contrib import admin
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import (
    FileResponse,
    Http404,
    HttpRequest,
    HttpResponse,
    HttpResponseNotAllowed,
    HttpResponseRedirect,
)
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString
from django_fsm import can_proceed

from agentstudio.accounts.admin import (
    OrganizationScopedAdminMixin,
    ReadOnlyInlineMixin,
    json_block,
    status_badge,
    user_display,
    without_bulk_delete,
)
from agentstudio.accounts.roles import can_start_runs
from approvals.models import Approval, ApprovalStatus
from playbooks.admin_run_artifacts import run_artifacts
from playbooks.admin_run_spend import RunSpendAdminMixin
from playbooks.admin_run_steps import RunStepInline, compact_json
from playbooks.admin_run_timeline import run_timeline
from playbooks.engine.workspace import run_workspace
from playbooks.models import Artifact, Run, RunEvent, RunStatus
from playbooks.runs.services import run_cancel, run_retry
from tools.models import ToolInvocation
from tools.paths import file_inside

STATUS_COLOURS: dict[str, str] = {
    RunStatus.QUEUED: "#546e7a",
    RunStatus.RUNNING: "#1565c0",
    RunStatus.WAITING_FOR_APPROVAL: "#e65100",
    RunStatus.BLOCKED: "#ad1457",
    RunStatus.REVIEWING: "#6a1b9a",
    RunStatus.SUCCEEDED: "#2e7d32",
    RunStatus.FAILED: "#c62828",
    RunStatus.CANCELLED: "#6c757d",
}
EVENTS_SHOWN = 200
EVENT_DATA_SHOWN_CHARS = 400

RUN_FIELDS = (
    "id",
    "status_badge",
    "playbook_link",
    "version_number",
    "organization",
    "created_by_name",
    "parent_run_link",
    "current_step",
    "cursor",
    "attempt",
    "paused_reason",
    "created_at",
    "started_at",
    "finished_at",
)
DATA_FIELDS = ("inputs_pretty", "outputs_pretty", "error_shown")
BUDGET_FIELDS = ("spend_against_budget", "credit_holds", "budget_pretty", "usage_detail")


# --- Rendering helpers ---------------------------------------------------------------------


def run_status_badge(status: str) -> SafeString:
    label = RunStatus(status).label if status in RunStatus.values else status
    return status_badge(label, STATUS_COLOURS.get(status, "#6c757d"))


def usd(value: Decimal) -> str:
    """Dollars with 2 to 6 decimals: $0.0015, $1.20."""
    text = f"{value:.6f}".rstrip("0")
    whole, _, cents = text.partition(".")
    return f"${whole}.{cents.ljust(2, '0')}"


def run_change_url(run_id: Any) -> str:
    return reverse("admin:playbooks_run_change", args=[run_id])


# --- Inlines -------------------------------------------------------------------------------


class ToolInvocationInline(ReadOnlyInlineMixin, admin.TabularInline):
    """Tool calls with their idempotency keys, in the order they were made."""

    model = ToolInvocation
    fields = ("key", "tool", "status", "duration", "is_error")
    readonly_fields = fields
    ordering = ("id",)
    verbose_name = "tool invocation"
    verbose_name_plural = "tool invocations"

    @admin.display(description="duration")
    def duration(self, obj: ToolInvocation) -> str:
        return f"{obj.duration_ms:.0f} ms" if obj.duration_ms is not None else "—"


# --- Runs ----------------------------------------------------------------------------------


@admin.register(Run)
class RunAdmin(OrganizationScopedAdminMixin, RunSpendAdminMixin, admin.ModelAdmin):
    """Admins and approvers read their organization's runs (superusers every run). Nothing
    here edits a field: Cancel and Retry call run_cancel / run_retry as the signed-in user."""

    list_display = (
        "status_badge",
        "run_title",
        "short_id",
        "version_number",
        "current_step",
        "paused_reason",
        "created_by_name",
        "created_at",
        "usage",
    )
    list_display_links = ("run_title",)
    list_filter = ("status", ("playbook", admin.RelatedOnlyFieldListFilter))
    search_fields = ("id", "playbook__name")
    inlines = (RunStepInline, ToolInvocationInline)
    fieldsets = (
        ("Details", {"fields": RUN_FIELDS, "classes": ("collapse",)}),
        ("Timeline", {"fields": ("timeline",)}),
        ("Pending approvals", {"fields": ("pending_approvals",)}),
        ("Budget and usage", {"fields": BUDGET_FIELDS}),
        ("Artifacts", {"fields": ("artifacts",)}),
        ("Inputs and outputs", {"fields": DATA_FIELDS}),
    )
    readonly_fields = (
        *RUN_FIELDS,
        "timeline",
        "pending_approvals",
        "artifacts",
        *DATA_FIELDS,
        *BUDGET_FIELDS,
    )
    created_by_name = user_display("created_by", "created by")

    def get_queryset(self, request: HttpRequest) -> QuerySet[Any]:
        return (
            super()
            .get_queryset(request)
            .select_related("playbook", "version", "created_by", "organization")
        )

    def get_actions(self, request: HttpRequest) -> dict[str, Any]:
        return without_bulk_delete(super().get_actions(request))

    # -- columns and read-only fields

    @admin.display(description="status", ordering="status")
    def status_badge(self, obj: Run) -> SafeString:
        return run_status_badge(obj.status)

    @admin.display(description="run", ordering="created_at")
    def run_title(self, obj: Run) -> str:
        return str(obj)

    @admin.display(description="id", ordering="id")
    def short_id(self, obj: Run) -> SafeString:
        return format_html('<code title="{}">{}</code>', obj.pk, str(obj.pk)[:8])

    @admin.display(description="playbook", ordering="playbook__name")
    def playbook_link(self, obj: Run) -> SafeString:
        return format_html(
            '<a href="{}">{}</a>',
            reverse("admin:playbooks_playbook_change", args=[obj.playbook_id]),
            obj.playbook.name,
        )

    @admin.display(description="version", ordering="version__number")
    def version_number(self, obj: Run) -> str:
        return f"v{obj.version.number}"

    @admin.display(description="usage", ordering="usage_usd")
    def usage(self, obj: Run) -> str:
        tokens = obj.usage_input_tokens + obj.usage_output_tokens
        return f"{usd(obj.usage_usd)} · {tokens:,} tokens"

    @admin.display(description="parent run")
    def parent_run_link(self, obj: Run) -> SafeString | str:
        if obj.parent_run_id is None:
            return "—"
        return format_html(
            '<a href="{}">{}</a> (step {})',
            run_change_url(obj.parent_run_id),
            obj.parent_run_id,
            obj.parent_step or "—",
        )

    @admin.display(description="pending approvals")
    def pending_approvals(self, obj: Run) -> SafeString | str:
        pending = Approval.objects.filter(run=obj, status=ApprovalStatus.PENDING).order_by(
            "created_at"
        )
        rows = [
            (
                reverse("admin:approvals_approval_change", args=[approval.pk]),
                approval.get_kind_display(),
                approval.title,
                approval.step or "—",
            )
            for approval in pending
        ]
        if not rows:
            return "—"
        items = format_html_join(
            "", '<li><a href="{}" class="as-approval">{}: {}</a> (step {})</li>', rows
        )
        return format_html('<ul class="as-approvals">{}</ul>', items)

    @admin.display(description="steps")
    def timeline(self, obj: Run) -> SafeString:
        return run_timeline(obj)

    @admin.display(description="files")
    def artifacts(self, obj: Run) -> SafeString:
        return run_artifacts(obj)

    @admin.display(description="inputs")
    def inputs_pretty(self, obj: Run) -> SafeString:
        return json_block(obj.inputs)

    @admin.display(description="outputs")
    def outputs_pretty(self, obj: Run) -> SafeString:
        return json_block(obj.outputs)

    @admin.display(description="error")
    def error_shown(self, obj: Run) -> SafeString | str:
        return format_html('<pre class="as-code">{}</pre>', obj.error) if obj.error else "—"

    @admin.display(description="budget")
    def budget_pretty(self, obj: Run) -> SafeString:
        return json_block(obj.budget)

    @admin.display(description="usage")
    def usage_detail(self, obj: Run) -> SafeString:
        return json_block(
            {
                "usd": usd(obj.usage_usd),
                "input_tokens": obj.usage_input_tokens,
                "output_tokens": obj.usage_output_tokens,
                "model_calls": obj.model_calls,
                "tool_calls": obj.usage_tool_calls,
                "wall_seconds": round(obj.usage_wall_seconds, 3),
            }
        )

    # -- the detail page's extra panels

    def may_operate(self, request: HttpRequest, run: Run) -> bool:
        """Cancel and retry: superusers, and whoever `can_start_runs` allows (in the admin,
        admins and approvers of the run's organization)."""
        user: Any = request.user
        if not (user.is_active and user.is_staff):
            return False
        return bool(user.is_superuser or can_start_runs(user, run.playbook))

    def controls_context(self, request: HttpRequest, run: Run) -> dict[str, Any]:
        """The buttons valid in the run's current state, if this user may press them."""
        buttons: list[dict[str, str]] = []
        if self.may_operate(request, run):
            if can_proceed(run.cancel):
                buttons.append(
                    {
                        "name": "cancel",
                        "label": "Cancel run",
                        "url": reverse("admin:playbooks_run_cancel", args=[run.pk]),
                        "danger": "1",
                    }
                )
            if can_proceed(run.retry):
                buttons.append(
                    {
                        "name": "retry",
                        "label": "Retry from the failed step",
                        "url": reverse("admin:playbooks_run_retry", args=[run.pk]),
                        "danger": "",
                    }
                )
        return {"badge": run_status_badge(run.status), "buttons": buttons}

    def events_context(self, run: Run) -> dict[str, Any]:
        """The latest EVENTS_SHOWN events, oldest first; `event_seq` is the total so far."""
        latest = list(
            RunEvent.objects.filter(run=run)
            .order_by("-seq")
            .only("seq", "type", "data", "created_at")[:EVENTS_SHOWN]
        )
        latest.reverse()
        rows = [
            {
                "seq": event.seq,
                "type": event.type,
                "data": compact_json(event.data, EVENT_DATA_SHOWN_CHARS),
                "created_at": event.created_at,
            }
            for event in latest
        ]
        return {"rows": rows, "total": run.event_seq, "limit": EVENTS_SHOWN}

    def change_view(  # type: ignore[no-untyped-def]
        self,
        request: HttpRequest,
        object_id: str,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ):
        run = self.get_object(request, unquote(object_id))
        extra_context = {
            **(extra_context or {}),
            "run_controls": self.controls_context(request, run),
            "run_events": self.events_context(run),
        }
        return super().change_view(request, object_id, form_url, extra_context)

    # -- custom URLs: cancel, retry, artifact download

    def get_urls(self) -> list[Any]:
        custom = [
            path(
                "<path:object_id>/cancel/",
                self.admin_site.admin_view(self.cancel_view),
                name="playbooks_run_cancel",
            ),
            path(
                "<path:object_id>/retry/",
                self.admin_site.admin_view(self.retry_view),
                name="playbooks_run_retry",
            ),
            path(
                "<path:object_id>/artifacts/<int:artifact_id>/download/",
                self.admin_site.admin_view(self.artifact_view),
                name="playbooks_run_artifact",
            ),
        ]
        return custom + super().get_urls()

    def _operable_run(self, request: HttpRequest, object_id: str) -> Run:
        run: Run = self.get_object(request, unquote(object_id))
        if not self.may_operate(request, run):
            raise PermissionDenied("Your role may not cancel or retry runs.")
        return run

    def cancel_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        """POST only: run_cancel as request.user (its pending approvals are cancelled too)."""
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        run = self._operable_run(request, object_id)
        self.run_service(
            request,
            lambda: run_cancel(run=run, actor=request.user),
            success="The run was cancelled.",
        )
        return HttpResponseRedirect(run_change_url(run.pk))

    def retry_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        """POST only: run_retry as request.user; the run is queued again from its failed step."""
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        run = self._operable_run(request, object_id)
        self.run_service(
            request,
            lambda: run_retry(run=run, actor=request.user),
            success="The run was queued again from its failed step.",
        )
        return HttpResponseRedirect(run_change_url(run.pk))

    def artifact_view(self, request: HttpRequest, object_id: str, artifact_id: int) -> HttpResponse:
        """Streams one artifact of a run in scope; any other id, or a path leaving the run's
        workspace, or a file gone from disk, is a 404."""
        run: Run = self.get_object(request, unquote(object_id))
        if not self.has_view_permission(request, run):
            raise PermissionDenied
        artifact = Artifact.objects.filter(run=run, pk=artifact_id).first()
        if artifact is None:
            raise Http404("No such artifact in this run.")
        target = file_inside(run_workspace(run.pk), artifact.path)
        if target is None:
            raise Http404("The artifact's file is not in the run's workspace.")
        return FileResponse(
            target.open("rb"),
            as_attachment=True,
            filename=Path(artifact.path).name,
            content_type=artifact.content_type or "application/octet-stream",
        )
