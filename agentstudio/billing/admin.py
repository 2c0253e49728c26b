"""Admin for credit accounts and the ledger (read-only: credits move only through the billing
services), usage records (read-only) and the price table (superusers edit it; an edit is
marked `admin` so a re-seed keeps it)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode

from django.contrib import admin
from django.db.models import Sum
from django.http import HttpRequest
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html

from agentstudio.accounts.admin import STAFF, OrganizationScopedAdminMixin, user_display
from agentstudio.billing.credits import usd_text
from agentstudio.billing.models import CreditAccount, LedgerEntry, ModelPrice, UsageRecord
from agentstudio.billing.price_seed import price_set_by_admin


def usd_display(amount: Decimal) -> str:
    """An amount as people read it: thousands separated, cents (more digits when it has
    them), in USD: 99,999.98 USD, 0.000125 USD."""
    text = usd_text(amount)
    whole, _, cents = text.partition(".")
    return f"{int(whole):,}.{cents} USD" if whole.lstrip("-").isdigit() else f"{text} USD"


def month_start() -> datetime:
    return timezone.now().replace(day=1, hour=0, minute=0, second=0, microsecond=0)


@admin.register(CreditAccount)
class CreditAccountAdmin(OrganizationScopedAdminMixin, admin.ModelAdmin):
    """Balance (spendable), reserved for running runs, spend this month, and the ledger."""

    list_display = ("organization", "balance_usd", "reserved_usd", "month_usd", "ledger_link")
    fields = ("organization", "balance_usd", "reserved_usd", "month_usd", "ledger_link")
    readonly_fields = fields

    @admin.display(description="balance (spendable)", ordering="balance")
    def balance_usd(self, obj: CreditAccount) -> str:
        return usd_display(obj.balance)

    @admin.display(description="reserved by running runs", ordering="reserved")
    def reserved_usd(self, obj: CreditAccount) -> str:
        return usd_display(obj.reserved)

    @admin.display(description="spent this month")
    def month_usd(self, obj: CreditAccount) -> str:
        return usd_display(self.spent_this_month(obj))

    def spent_this_month(self, obj: CreditAccount) -> Decimal:
        charged = LedgerEntry.objects.filter(
            organization_id=obj.organization_id,
            kind=LedgerEntry.Kind.CHARGE,
            created_at__gte=month_start(),
        ).aggregate(total=Sum("amount"))["total"]
        return -(charged or Decimal("0"))

    @admin.display(description="ledger")
    def ledger_link(self, obj: CreditAccount) -> str:
        url = reverse("admin:billing_ledgerentry_changelist")
        query = urlencode({"organization__id__exact": obj.organization_id})
        return format_html('<a href="{}?{}">ledger</a>', url, query)


@admin.register(LedgerEntry)
class LedgerEntryAdmin(OrganizationScopedAdminMixin, admin.ModelAdmin):
    """Every credit movement with the balance after it; reservations and charges negative."""

    list_display = (
        "created_at",
        "kind",
        "amount",
        "balance_after",
        "run_id",
        "username",
        "memo",
    )
    list_filter = ("kind",)
    search_fields = ("memo", "user__username", "run_id")
    date_hierarchy = "created_at"
    fields = (
        "created_at",
        "organization",
        "kind",
        "amount",
        "balance_after",
        "run_id",
        "agent_id",
        "username",
        "memo",
    )
    readonly_fields = fields
    username = user_display("user", "user")

    def lookup_allowed(self, lookup: str, value: str, request: Any = None) -> bool:
        # the credit account's "ledger" link filters by its organization (scoped anyway)
        return lookup == "organization__id__exact" or super().lookup_allowed(lookup, value, request)


@admin.register(UsageRecord)
class UsageRecordAdmin(OrganizationScopedAdminMixin, admin.ModelAdmin):
    """One row per model or tool call (read-only): tokens, USD, wall time, and whether the
    usage was estimated, the price a fallback, the answer scripted."""

    list_display = (
        "created_at",
        "kind",
        "provider",
        "model",
        "tool",
        "input_tokens",
        "output_tokens",
        "usd",
        "usage_estimated",
        "price_fallback",
        "scripted",
    )
    list_filter = ("kind", "model", "usage_estimated", "price_fallback", "scripted")
    search_fields = ("model", "tool", "run_id")
    date_hierarchy = "created_at"
    readonly_fields = [field.name for field in UsageRecord._meta.fields]


@admin.register(ModelPrice)
class ModelPriceAdmin(OrganizationScopedAdminMixin, admin.ModelAdmin):
    """USD per million tokens, global to the platform: staff read it, superusers edit it
    (an edit is marked source `admin` and applies at once)."""

    organization_lookup = None
    view_roles = STAFF
    superuser_may = frozenset({"view", "change", "add"})
    list_display = (
        "model",
        "provider",
        "input_usd_per_mtok",
        "output_usd_per_mtok",
        "cached_input_usd_per_mtok",
        "source",
        "updated_at",
    )
    list_filter = ("source", "provider")
    search_fields = ("model",)
    fields = (
        "provider",
        "model",
        "input_usd_per_mtok",
        "output_usd_per_mtok",
        "cached_input_usd_per_mtok",
        "source",
        "updated_at",
    )
    readonly_fields = ("source", "updated_at")

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        price_set_by_admin(price=obj)
