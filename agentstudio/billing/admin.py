"""Read-only admin for credit accounts and the ledger; credits move only through the
billing services (`grant_credits`, run reservations and charges)."""

from __future__ import annotations

from django.contrib import admin

from agentstudio.accounts.admin import OrganizationScopedAdminMixin, user_display
from agentstudio.billing.models import CreditAccount, LedgerEntry


@admin.register(CreditAccount)
class CreditAccountAdmin(OrganizationScopedAdminMixin, admin.ModelAdmin):
    """Balance and reservation of the organization's credit."""

    list_display = ("organization", "balance", "reserved")
    fields = ("organization", "balance", "reserved")
    readonly_fields = fields


@admin.register(LedgerEntry)
class LedgerEntryAdmin(OrganizationScopedAdminMixin, admin.ModelAdmin):
    """Every credit movement with the balance after it; charges are negative."""

    list_display = ("created_at", "kind", "amount", "balance_after", "username", "memo")
    list_filter = ("kind",)
    search_fields = ("memo", "user__username")
    date_hierarchy = "created_at"
    fields = ("created_at", "organization", "kind", "amount", "balance_after", "username", "memo")
    readonly_fields = fields
    username = user_display("user", "user")
