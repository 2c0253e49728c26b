"""Admin pages of the tool broker: the vault's names, MCP connections and their tools, model
providers. Every change goes through a service (tools.vault, tools.connections,
tools.providers.configs)."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from agentstudio.accounts.admin import ADMIN_ONLY, OrganizationScopedAdminMixin
from agentstudio.accounts.roles import user_membership
from tools.connections import connection_create, connection_refresh, connection_tool_classify
from tools.models import Connection, ConnectionTool, ModelProviderConfig, Secret
from tools.providers.configs import CONFIG_FIELDS, provider_config_save


@admin.register(Secret)
class SecretAdmin(OrganizationScopedAdminMixin, admin.ModelAdmin):
    """Names only: values are set with the API or `manage.py set_secret`, never shown."""

    list_display = ["name", "created_by", "updated_at"]
    fields = ["name", "created_by", "created_at", "updated_at"]
    readonly_fields = fields
    search_fields = ["name"]


class ConnectionToolInline(admin.TabularInline):
    model = ConnectionTool
    fields = ["name", "remote_name", "risk", "untrusted", "classified_by", "classified_at"]
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Connection)
class ConnectionAdmin(OrganizationScopedAdminMixin, admin.ModelAdmin):
    """Admins register external MCP servers and refresh the tools they offer."""

    add_roles = ADMIN_ONLY
    list_display = ["name", "url", "refreshed_at", "last_error"]
    fields = ["name", "url", "auth_secret", "refreshed_at", "last_error"]
    readonly_fields = ["refreshed_at", "last_error"]
    inlines = [ConnectionToolInline]
    actions = ["refresh_tools"]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        if obj is not None:
            return ["name", "url", "auth_secret", "refreshed_at", "last_error"]
        return super().get_readonly_fields(request, obj)

    def save_model(self, request: HttpRequest, obj: Connection, form: Any, change: bool) -> None:
        membership = user_membership(request.user)
        ok, created = self.run_service(
            request,
            lambda: connection_create(
                organization=membership.organization,
                actor=request.user,
                name=obj.name,
                url=obj.url,
                auth_secret=obj.auth_secret,
            ),
        )
        if ok:
            obj.pk = created.pk
            self.run_service(
                request,
                lambda: connection_refresh(connection=created, actor=request.user),
                success=f"{created.name}: tools imported as external_send and untrusted.",
            )

    @admin.action(description="Refresh the tools of the selected connections")
    def refresh_tools(self, request: HttpRequest, queryset: QuerySet[Connection]) -> None:
        for connection in queryset:
            ok, count = self.run_service(
                request, lambda c=connection: connection_refresh(connection=c, actor=request.user)
            )
            if ok:
                self.message_user(request, f"{connection.name}: {count} tools.", messages.SUCCESS)


@admin.register(ConnectionTool)
class ConnectionToolAdmin(OrganizationScopedAdminMixin, admin.ModelAdmin):
    """Admins classify imported tools: risk class and whether their output is trusted."""

    organization_lookup = "connection__organization"
    change_roles = ADMIN_ONLY
    list_display = ["__str__", "risk", "untrusted", "classified_by", "classified_at"]
    list_filter = ["connection", "risk", "untrusted"]
    fields = [
        "connection",
        "name",
        "remote_name",
        "title",
        "description",
        "input_schema",
        "risk",
        "untrusted",
        "classified_by",
        "classified_at",
    ]
    readonly_fields = [
        "connection",
        "name",
        "remote_name",
        "title",
        "description",
        "input_schema",
        "classified_by",
        "classified_at",
    ]

    def save_model(
        self, request: HttpRequest, obj: ConnectionTool, form: Any, change: bool
    ) -> None:
        self.run_service(
            request,
            lambda: connection_tool_classify(
                tool=ConnectionTool.objects.select_related("connection__organization").get(
                    pk=obj.pk
                ),
                actor=request.user,
                risk=form.cleaned_data["risk"],
                untrusted=form.cleaned_data["untrusted"],
            ),
            success=f"{obj} classified.",
        )


@admin.register(ModelProviderConfig)
class ModelProviderConfigAdmin(OrganizationScopedAdminMixin, admin.ModelAdmin):
    """Admins configure the model providers playbooks name; the key is a vault name."""

    add_roles = ADMIN_ONLY
    change_roles = ADMIN_ONLY
    list_display = [
        "name",
        "kind",
        "base_url",
        "default_model",
        "is_default",
        "use_for_ai_services",
    ]
    fields = ["name", *CONFIG_FIELDS, "created_at", "updated_at"]
    readonly_fields = ["created_at", "updated_at"]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        readonly = list(super().get_readonly_fields(request, obj))
        return [*readonly, "name"] if obj is not None else readonly

    def save_model(
        self, request: HttpRequest, obj: ModelProviderConfig, form: Any, change: bool
    ) -> None:
        membership = user_membership(request.user)
        organization = obj.organization if change else membership.organization
        ok, saved = self.run_service(
            request,
            lambda: provider_config_save(
                organization=organization,
                actor=request.user,
                name=obj.name,
                **{field: form.cleaned_data[field] for field in CONFIG_FIELDS},
            )[0],
            success=f"Model provider {obj.name} saved.",
        )
        if ok:
            obj.pk = saved.pk
