"""Admin for playbooks (read-only spec, versions with their diffs, recent runs, lifecycle
buttons that call the services) and the read-only Blueprint catalogue."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.db.models import OuterRef, QuerySet, Subquery
from django.http import (
    Http404,
    HttpRequest,
    HttpResponse,
    HttpResponseNotAllowed,
    HttpResponseRedirect,
)
from django.urls import path, reverse
from django.utils.html import format_html
from django.utils.safestring import SafeString

from agentstudio.accounts.admin import (
    OrganizationScopedAdminMixin,
    code_block,
    status_badge,
    user_display,
)
from agentstudio.accounts.roles import can_edit_playbook, can_manage_playbook_lifecycle
from approvals.models import Approval, ApprovalKind, ApprovalStatus
from playbooks import services
from playbooks.admin_playbook_history import playbook_recent_runs, playbook_versions
from playbooks.models import Blueprint, Playbook, PlaybookStatus
from playbooks.spec.yaml_loader import spec_to_yaml

STATUS_COLOURS = {
    PlaybookStatus.DRAFT: "#6c757d",
    PlaybookStatus.ACTIVE: "#2e7d32",
    PlaybookStatus.ARCHIVED: "#263238",
}


@dataclass(frozen=True)
class Transition:
    """A lifecycle button: which service it calls and which role rule allows it."""

    name: str
    label: str
    service: Callable[..., Any]
    allowed: Callable[[Any, Playbook], bool]


TRANSITIONS: tuple[Transition, ...] = (
    Transition("promote", "Promote", services.playbook_promote, can_edit_playbook),
    Transition("demote", "Demote", services.playbook_demote, can_manage_playbook_lifecycle),
    Transition("archive", "Archive", services.playbook_archive, can_manage_playbook_lifecycle),
    Transition("restore", "Restore", services.playbook_restore, can_manage_playbook_lifecycle),
)
TRANSITIONS_BY_NAME = {transition.name: transition for transition in TRANSITIONS}
PLAYBOOK_FIELDS = (
    "name",
    "slug",
    "status_badge",
    "version_shown",
    "pending_promotion",
    "organization",
    "created_by_name",
    "blueprint",
    "description",
    "allowed_users",
    "created_at",
    "updated_at",
)
CARD_FIELDS = (
    "name",
    "slug",
    "category",
    "description",
    "problem",
    "what_it_does",
    "expected_impact",
    "systems_list",
    "updated_at",
)


def playbook_status_badge(status: str) -> SafeString:
    return status_badge(PlaybookStatus(status).label, STATUS_COLOURS[PlaybookStatus(status)])


def approval_change_url(approval_id: Any) -> str:
    return reverse("admin:approvals_approval_change", args=[approval_id])


@admin.register(Playbook)
class PlaybookAdmin(OrganizationScopedAdminMixin, admin.ModelAdmin):
    """Everyone on staff of the organization reads playbooks; the lifecycle buttons follow
    the role table (admins promote, demote, archive, restore) and call the services."""

    list_display = (
        "status_badge",
        "name",
        "slug",
        "version_shown",
        "created_by_name",
        "pending_promotion",
        "updated_at",
    )
    list_display_links = ("name",)
    list_filter = ("status",)
    search_fields = ("name", "slug", "description")
    fieldsets = (
        (None, {"fields": PLAYBOOK_FIELDS}),
        ("Activated versions", {"fields": ("version_history",)}),
        ("Recent runs", {"fields": ("recent_runs",)}),
        ("Spec", {"fields": ("spec_yaml",)}),
    )
    readonly_fields = (*PLAYBOOK_FIELDS, "version_history", "recent_runs", "spec_yaml")

    def get_queryset(self, request: HttpRequest) -> QuerySet[Any]:
        pending = Approval.objects.filter(
            playbook=OuterRef("pk"), kind=ApprovalKind.PROMOTION, status=ApprovalStatus.PENDING
        ).values("pk")[:1]
        return (
            super()
            .get_queryset(request)
            .select_related("created_by", "organization", "blueprint")
            .annotate(pending_promotion_id=Subquery(pending))
        )

    # -- columns and read-only fields

    @admin.display(description="status", ordering="status")
    def status_badge(self, obj: Playbook) -> SafeString:
        return playbook_status_badge(obj.status)

    created_by_name = user_display("created_by", "created by")

    @admin.display(description="version", ordering="version")
    def version_shown(self, obj: Playbook) -> str:
        return f"v{obj.version}" if obj.version else "never activated"

    @admin.display(description="pending promotion")
    def pending_promotion(self, obj: Playbook) -> SafeString | str:
        approval_id = getattr(obj, "pending_promotion_id", None)
        if approval_id is None:
            return "—"
        return format_html(
            '<a href="{}">waiting for approval</a>', approval_change_url(approval_id)
        )

    @admin.display(description="spec (YAML)")
    def spec_yaml(self, obj: Playbook) -> SafeString:
        return code_block(spec_to_yaml(obj.spec))

    @admin.display(description="versions")
    def version_history(self, obj: Playbook) -> SafeString:
        return playbook_versions(obj)

    @admin.display(description="latest runs")
    def recent_runs(self, obj: Playbook) -> SafeString:
        return playbook_recent_runs(obj)

    # -- lifecycle

    def transitions_for(self, request: HttpRequest, playbook: Playbook) -> list[Transition]:
        """Transitions valid in the current state that this user's role allows."""
        available = {t.name for t in playbook.get_available_status_transitions()}
        return [
            transition
            for transition in TRANSITIONS
            if transition.name in available and self.may_transition(request, transition, playbook)
        ]

    def may_transition(
        self, request: HttpRequest, transition: Transition, playbook: Playbook
    ) -> bool:
        user: Any = request.user
        return bool(user.is_superuser or transition.allowed(user, playbook))

    def lifecycle_context(self, request: HttpRequest, playbook: Playbook) -> dict[str, Any]:
        transitions = self.transitions_for(request, playbook)
        pending_id = getattr(playbook, "pending_promotion_id", None)
        if pending_id is not None:
            transitions = [t for t in transitions if t.name != "promote"]
        return {
            "badge": playbook_status_badge(playbook.status),
            "version": playbook.version,
            "pending_approval_url": approval_change_url(pending_id) if pending_id else "",
            "buttons": [
                {
                    "name": transition.name,
                    "label": transition.label,
                    "url": reverse(
                        "admin:playbooks_playbook_transition",
                        args=[playbook.pk, transition.name],
                    ),
                }
                for transition in transitions
            ],
        }

    def change_view(  # type: ignore[no-untyped-def]
        self,
        request: HttpRequest,
        object_id: str,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ):
        playbook = self.get_object(request, unquote(object_id))
        extra_context = {
            **(extra_context or {}),
            "lifecycle": self.lifecycle_context(request, playbook),
        }
        return super().change_view(request, object_id, form_url, extra_context)

    def get_urls(self) -> list[Any]:
        custom = [
            path(
                "<path:object_id>/transition/<slug:transition_name>/",
                self.admin_site.admin_view(self.transition_view),
                name="playbooks_playbook_transition",
            ),
        ]
        return custom + super().get_urls()

    def transition_view(
        self, request: HttpRequest, object_id: str, transition_name: str
    ) -> HttpResponse:
        """POST only: runs one lifecycle service as request.user, then back to the page."""
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        playbook = self.get_object(request, unquote(object_id))
        transition = TRANSITIONS_BY_NAME.get(transition_name)
        if transition is None:
            raise Http404("No such transition.")
        if not self.may_transition(request, transition, playbook):
            raise PermissionDenied(f"Your role may not {transition.name} this playbook.")
        ok, result = self.run_service(
            request, lambda: transition.service(playbook=playbook, actor=request.user)
        )
        if ok:
            self.message_user(request, *self.transition_message(transition, result))
        return HttpResponseRedirect(reverse("admin:playbooks_playbook_change", args=[playbook.pk]))

    def transition_message(self, transition: Transition, result: Any) -> tuple[Any, int]:
        if transition.name != "promote":
            return f"{result.name} is now {result.get_status_display().lower()}.", messages.SUCCESS
        playbook, approval = result
        if approval is not None:
            return format_html(
                'Promotion waiting for approval: <a href="{}">{}</a>.',
                approval_change_url(approval.pk),
                approval.title,
            ), messages.WARNING
        return f"{playbook.name} is active as version {playbook.version}.", messages.SUCCESS


@admin.register(Blueprint)
class BlueprintAdmin(OrganizationScopedAdminMixin, admin.ModelAdmin):
    """The catalogue every organization forks from; loaded by `seed_blueprints`, read-only."""

    organization_lookup = None
    list_display = ("name", "category", "slug", "systems_list", "updated_at")
    list_filter = ("category",)
    search_fields = ("name", "slug", "category", "problem")
    fieldsets = (
        ("Catalogue card", {"fields": CARD_FIELDS}),
        ("Spec", {"fields": ("spec_yaml",)}),
    )
    readonly_fields = (*CARD_FIELDS, "spec_yaml")

    @admin.display(description="systems")
    def systems_list(self, obj: Blueprint) -> str:
        return ", ".join(str(system) for system in obj.systems or []) or "—"

    @admin.display(description="spec (YAML)")
    def spec_yaml(self, obj: Blueprint) -> SafeString:
        return code_block(spec_to_yaml(obj.spec))


from playbooks import admin_runs  # noqa: E402,F401  (registers RunAdmin)
