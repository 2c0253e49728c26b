"""Read-only admin for the hash-chained audit log: superusers see every stream, other staff
their organization's."""

from __future__ import annotations

from django.contrib import admin
from django.utils.safestring import SafeString

from agentstudio.accounts.admin import OrganizationScopedAdminMixin, json_block
from agentstudio.audit.models import AuditEvent


@admin.register(AuditEvent)
class AuditEventAdmin(OrganizationScopedAdminMixin, admin.ModelAdmin):
    """Append-only: nobody adds, changes or deletes a row here (`verify_audit` checks it)."""

    list_display = ("created_at", "stream", "seq", "type", "actor_label")
    list_filter = ("type",)
    search_fields = ("stream", "type", "actor_label")
    ordering = ("-created_at", "-seq")
    fields = (
        "stream",
        "seq",
        "type",
        "organization",
        "actor_label",
        "created_at",
        "data_pretty",
        "prev_hash",
        "hash",
    )
    readonly_fields = fields

    @admin.display(description="data")
    def data_pretty(self, obj: AuditEvent) -> SafeString:
        return json_block(obj.data)
