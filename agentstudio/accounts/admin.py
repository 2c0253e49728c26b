"""Admin for organizations, memberships and API keys, and the organization scoping every
Agent Studio admin page shares (roles from accounts.roles, not Django model permissions)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from django.contrib import admin, messages
from django.db.models import Model, QuerySet
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.utils.html import format_html
from django.utils.safestring import SafeString
from django_fsm import FSMFieldMixin

from agentstudio.accounts.models import ApiKey, Membership, Organization, Role
from agentstudio.accounts.roles import STAFF_ROLES, user_membership
from agentstudio.accounts.services import (
    api_key_revoke,
    membership_change_role,
    membership_remove,
    organization_create,
)
from agentstudio.errors import AppError

ADMIN_ONLY = frozenset({Role.ADMIN})
STAFF = frozenset(STAFF_ROLES)
NOBODY: frozenset[str] = frozenset()


# --- Small rendering helpers shared by the app admins -------------------------------------


def status_badge(label: str, colour: str) -> SafeString:
    """A coloured pill for a status; the label is escaped."""
    return format_html(
        '<span class="as-badge" style="display:inline-block;padding:1px 8px;'
        "border-radius:9px;background:{};color:#fff;font-size:11px;font-weight:600;"
        'white-space:nowrap">{}</span>',
        colour,
        label,
    )


def pretty_json(value: Any) -> str:
    """The one JSON layout pages show (indent 2, sorted keys), so a diff of two payloads
    shows what changed and nothing else."""
    return json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False, default=str)


def json_block(value: Any) -> SafeString:
    """Pretty-printed JSON in an escaped <pre>; `None` shows as a dash."""
    if value is None:
        return format_html("<span>{}</span>", "—")
    return format_html('<pre class="as-code">{}</pre>', pretty_json(value))


def code_block(text: str) -> SafeString:
    """Any text (YAML, a hash) in an escaped <pre>."""
    return format_html('<pre class="as-code">{}</pre>', text)


def user_display(field_name: str, description: str) -> Callable[[Any, Model], str]:
    """A read-only column showing a user foreign key as a username: staff without access to
    the user admin would otherwise get a link to a page they may not open."""

    @admin.display(description=description, ordering=f"{field_name}__username")
    def display(model_admin: Any, obj: Model) -> str:
        user = getattr(obj, field_name)
        return user.get_username() if user is not None else "—"

    return display


def app_error_message(error: AppError) -> str:
    return f"{error.message} ({error.code})"


# --- Organization scoping --------------------------------------------------------------


class OrganizationScopedAdminMixin:
    """Scopes an admin to the viewer's organization and decides permissions by role.

    Superusers see every row and may do what `superuser_may` lists. Other staff (admins and
    approvers, whose `is_staff` the account services set) see only rows whose
    `organization_lookup` is their organization, and may view, add, change or delete as the
    `*_roles` sets say; Django model permissions are not consulted, so a new approver works
    in the admin at once. `organization_lookup = None` means the rows are global (the
    Blueprint catalogue). Status fields (django-fsm) are always read-only, and a row out of
    scope is a 404, never a redirect that reveals it exists. `AppError` refusals from the
    services become error messages on the page.
    """

    organization_lookup: str | None = "organization"
    view_roles: frozenset[str] = STAFF
    add_roles: frozenset[str] = NOBODY
    change_roles: frozenset[str] = NOBODY
    delete_roles: frozenset[str] = NOBODY
    superuser_may: frozenset[str] = frozenset({"view"})

    # -- who may do what

    def _role_allows(self, request: HttpRequest, action: str, obj: Model | None) -> bool:
        user: Any = request.user
        if not (user.is_active and user.is_staff):
            return False
        if user.is_superuser:
            return action in self.superuser_may
        membership = user_membership(user)
        if membership is None:
            return False
        roles = {
            "view": self.view_roles,
            "add": self.add_roles,
            "change": self.change_roles,
            "delete": self.delete_roles,
        }[action]
        if membership.role not in roles:
            return False
        if obj is None or self.organization_lookup is None:
            return True
        return self.organization_id_of(obj) == membership.organization_id

    def organization_id_of(self, obj: Model) -> Any:
        """The organization id of a row, following `organization_lookup` (a__b paths)."""
        if self.organization_lookup is None:
            return None
        if self.organization_lookup == "pk":
            return obj.pk
        *path, last = self.organization_lookup.split("__")
        target: Any = obj
        for name in path:
            target = getattr(target, name)
            if target is None:
                return None
        return getattr(target, f"{last}_id")

    def has_module_permission(self, request: HttpRequest) -> bool:
        """Staff with a membership (or superusers) who may view this model see its app."""
        return self.has_view_permission(request)

    def has_view_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return self._role_allows(request, "view", obj) or self.has_change_permission(request, obj)

    def has_add_permission(self, request: HttpRequest, *args: Any) -> bool:
        return self._role_allows(request, "add", None)

    def has_change_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return self._role_allows(request, "change", obj)

    def has_delete_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return self._role_allows(request, "delete", obj)

    # -- which rows

    def get_queryset(self, request: HttpRequest) -> QuerySet[Any]:
        queryset = super().get_queryset(request)  # type: ignore[misc]
        return self.scope_queryset(request, queryset)

    def scope_queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        user: Any = request.user
        if user.is_superuser or self.organization_lookup is None:
            return queryset
        membership = user_membership(user)
        if membership is None:
            return queryset.none()
        return queryset.filter(**{self.organization_lookup: membership.organization_id})

    def get_object(self, request: HttpRequest, object_id: str, from_field: str | None = None):  # type: ignore[no-untyped-def]
        """Out of scope (or missing) is 404, as in the API."""
        obj = super().get_object(request, object_id, from_field)  # type: ignore[misc]
        if obj is None:
            raise Http404("No such object in your organization.")
        return obj

    def get_list_filter(self, request: HttpRequest) -> Any:
        """Superusers, who see every organization, may also filter by one."""
        list_filter = tuple(super().get_list_filter(request))  # type: ignore[misc]
        user: Any = request.user
        if user.is_superuser and self.organization_lookup not in (None, "pk"):
            return (self.organization_lookup, *list_filter)
        return list_filter

    # -- fields

    def get_readonly_fields(self, request: HttpRequest, obj: Model | None = None) -> Any:
        readonly = list(super().get_readonly_fields(request, obj))  # type: ignore[misc]
        model: Any = self.model  # type: ignore[attr-defined]
        for field in model._meta.fields:
            if isinstance(field, FSMFieldMixin) and field.name not in readonly:
                readonly.append(field.name)
        return readonly

    # -- refusals from services are messages, not 500s

    def run_service(
        self, request: HttpRequest, call: Callable[[], Any], *, success: str = ""
    ) -> tuple[bool, Any]:
        """Calls one service; an AppError becomes an error message. Returns (ok, result)."""
        try:
            result = call()
        except AppError as error:
            self.message_user(request, app_error_message(error), messages.ERROR)  # type: ignore[attr-defined]
            return False, None
        if success:
            self.message_user(request, success, messages.SUCCESS)  # type: ignore[attr-defined]
        return True, result

    def changeform_view(  # type: ignore[no-untyped-def]
        self,
        request: HttpRequest,
        object_id: str | None = None,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ):
        try:
            return super().changeform_view(request, object_id, form_url, extra_context)  # type: ignore[misc]
        except AppError as error:
            self.message_user(request, app_error_message(error), messages.ERROR)  # type: ignore[attr-defined]
            return HttpResponseRedirect(request.get_full_path())


class ReadOnlyInlineMixin:
    """An inline that only shows rows; visible when its parent page is."""

    extra = 0
    can_delete = False
    show_change_link = False

    def has_view_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        parent = self.admin_site.get_model_admin(self.parent_model)  # type: ignore[attr-defined]
        return bool(parent.has_view_permission(request, obj))

    def has_add_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False


def without_bulk_delete(actions: dict[str, Any]) -> dict[str, Any]:
    """Bulk deletion would bypass the services; pages that delete do it one row at a time."""
    actions.pop("delete_selected", None)
    return actions


# --- Organization ------------------------------------------------------------------------


@admin.register(Organization)
class OrganizationAdmin(OrganizationScopedAdminMixin, admin.ModelAdmin):
    """Superusers create organizations (through the service); staff see their own."""

    organization_lookup = "pk"
    superuser_may = frozenset({"view", "add"})
    list_display = ("name", "member_count", "created_at")
    search_fields = ("name",)
    fields = ("name", "created_at")

    def get_readonly_fields(self, request: HttpRequest, obj: Model | None = None) -> Any:
        if obj is None:
            return ("created_at",)
        return ("name", "created_at")

    @admin.display(description="members")
    def member_count(self, obj: Organization) -> int:
        return obj.memberships.count()

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        created = organization_create(name=form.cleaned_data["name"])
        obj.pk = created.pk
        obj.created_at = created.created_at
        obj._state.adding = False


# --- Membership ----------------------------------------------------------------------------


@admin.register(Membership)
class MembershipAdmin(OrganizationScopedAdminMixin, admin.ModelAdmin):
    """Admins of an organization change roles and remove members; approvers read the list."""

    change_roles = ADMIN_ONLY
    superuser_may = frozenset({"view", "change"})
    list_display = ("username", "role", "organization", "staff", "created_at")
    list_filter = ("role",)
    search_fields = ("user__username", "user__email")
    fields = ("username", "organization", "role", "created_at")
    readonly_fields = ("username", "organization", "created_at")
    username = user_display("user", "user")
    actions = ("remove_members",)

    def get_queryset(self, request: HttpRequest) -> QuerySet[Any]:
        return super().get_queryset(request).select_related("user", "organization")

    def get_actions(self, request: HttpRequest) -> dict[str, Any]:
        return without_bulk_delete(super().get_actions(request))

    @admin.display(boolean=True, description="admin access")
    def staff(self, obj: Membership) -> bool:
        return bool(obj.user.is_staff)

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        if "role" in form.changed_data:
            membership_change_role(
                membership=obj, role=form.cleaned_data["role"], actor=request.user
            )

    @admin.action(
        description="Remove selected members from the organization", permissions=["change"]
    )
    def remove_members(self, request: HttpRequest, queryset: QuerySet[Membership]) -> None:
        removed = 0
        for membership in queryset.select_related("user"):
            ok, _ = self.run_service(
                request,
                lambda membership=membership: membership_remove(
                    membership=membership, actor=request.user
                ),
            )
            removed += int(ok)
        if removed:
            self.message_user(request, f"Removed {removed} member(s).", messages.SUCCESS)


# --- API keys ------------------------------------------------------------------------------


@admin.register(ApiKey)
class ApiKeyAdmin(OrganizationScopedAdminMixin, admin.ModelAdmin):
    """Keys are created through the API or `create_user --api-key`, never here; the hash is
    never shown. Admins see and revoke their organization's keys, approvers their own."""

    list_display = ("prefix_shown", "name", "username", "created_at", "last_used_at", "revoked")
    list_filter = ("revoked_at",)
    search_fields = ("prefix", "name", "user__username")
    fields = (
        "prefix_shown",
        "name",
        "username",
        "organization",
        "created_at",
        "last_used_at",
        "revoked_at",
    )
    readonly_fields = fields
    actions = ("revoke_keys",)
    username = user_display("user", "user")

    def get_queryset(self, request: HttpRequest) -> QuerySet[Any]:
        queryset = super().get_queryset(request).select_related("user", "organization")
        user: Any = request.user
        membership = user_membership(user)
        if not user.is_superuser and (membership is None or membership.role != Role.ADMIN):
            queryset = queryset.filter(user=user)
        return queryset

    def get_actions(self, request: HttpRequest) -> dict[str, Any]:
        return without_bulk_delete(super().get_actions(request))

    def has_revoke_permission(self, request: HttpRequest) -> bool:
        return self.has_view_permission(request)

    @admin.display(description="prefix", ordering="prefix")
    def prefix_shown(self, obj: ApiKey) -> str:
        return f"{obj.prefix}…"

    @admin.display(boolean=True, description="revoked", ordering="revoked_at")
    def revoked(self, obj: ApiKey) -> bool:
        return obj.revoked_at is not None

    @admin.action(description="Revoke selected API keys", permissions=["revoke"])
    def revoke_keys(self, request: HttpRequest, queryset: QuerySet[ApiKey]) -> HttpResponse | None:
        revoked = 0
        for key in queryset.filter(revoked_at__isnull=True):
            ok, _ = self.run_service(
                request, lambda key=key: api_key_revoke(key=key, actor=request.user)
            )
            revoked += int(ok)
        self.message_user(request, f"Revoked {revoked} API key(s).", messages.SUCCESS)
        return None
