"""Credit accounts and the append-only ledger (each row carries the balance after it)."""

import uuid
from decimal import Decimal

from django.conf import settings
from django.db import models


class CreditAccount(models.Model):
    """One per organization; `balance` and `reserved` only move together with a ledger row."""

    organization = models.OneToOneField(
        "accounts.Organization",
        on_delete=models.CASCADE,
        related_name="credit_account",
        primary_key=True,
    )
    balance = models.DecimalField(max_digits=14, decimal_places=6, default=Decimal("0"))
    reserved = models.DecimalField(max_digits=14, decimal_places=6, default=Decimal("0"))

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=models.Q(reserved__gte=0), name="credit_reserved_not_negative"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.organization}: {self.balance} USD ({self.reserved} reserved)"


class LedgerEntry(models.Model):
    class Kind(models.TextChoices):
        GRANT = "grant"
        RESERVE = "reserve"
        RELEASE = "release"
        CHARGE = "charge"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    organization = models.ForeignKey(
        "accounts.Organization", on_delete=models.CASCADE, related_name="ledger_entries"
    )
    kind = models.CharField(max_length=16, choices=Kind.choices)
    amount = models.DecimalField(max_digits=14, decimal_places=6)
    balance_after = models.DecimalField(max_digits=14, decimal_places=6)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    memo = models.CharField(max_length=200, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name_plural = "ledger entries"

    def __str__(self) -> str:
        return f"{self.kind} {self.amount} → {self.balance_after}"
