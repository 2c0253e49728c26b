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
        return f"{self.organization}: {self.balance:,.2f} USD ({self.reserved:,.2f} reserved)"


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
    # By id: billing sits below playbooks (runs) and the gateway (agents) in the layers.
    run_id = models.UUIDField(null=True, blank=True, db_index=True)
    agent_id = models.UUIDField(null=True, blank=True, db_index=True)
    memo = models.CharField(max_length=200, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name_plural = "ledger entries"

    def __str__(self) -> str:
        return f"{self.kind} {self.amount} → {self.balance_after}"


class CreditHold(models.Model):
    """One reservation of credit for a run (one per attempt): `amount` moved from the balance
    into `reserved` when it was made; settling it (exactly once: `settled_at` is set in the
    same transaction as its ledger rows) releases `amount` and charges `charged_usd`."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    organization = models.ForeignKey(
        "accounts.Organization", on_delete=models.CASCADE, related_name="credit_holds"
    )
    run_id = models.UUIDField(null=True, blank=True, db_index=True)
    agent_id = models.UUIDField(null=True, blank=True, db_index=True)
    amount = models.DecimalField(max_digits=14, decimal_places=6)
    charged_usd = models.DecimalField(max_digits=14, decimal_places=6, default=Decimal("0"))
    created_at = models.DateTimeField(auto_now_add=True)
    settled_at = models.DateTimeField(null=True, blank=True, db_index=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(condition=models.Q(amount__gte=0), name="hold_not_negative"),
        ]

    def __str__(self) -> str:
        state = f"charged {self.charged_usd}" if self.settled_at else "open"
        return f"hold {self.amount} USD for run {self.run_id} ({state})"


class PriceSource(models.TextChoices):
    GENAI_PRICES = "genai-prices", "genai-prices dataset"
    ADMIN = "admin", "set by an admin"


class ModelPrice(models.Model):
    """USD per million tokens for one model, editable by operators in the admin. Rows are
    seeded from the `genai-prices` dataset; `provider` empty means any provider of that model.
    A row an admin edited has source `admin` and is kept when the dataset is seeded again."""

    provider = models.CharField(max_length=64, blank=True, default="")
    model = models.CharField(max_length=200)
    input_usd_per_mtok = models.DecimalField(max_digits=14, decimal_places=6)
    output_usd_per_mtok = models.DecimalField(max_digits=14, decimal_places=6)
    cached_input_usd_per_mtok = models.DecimalField(
        max_digits=14, decimal_places=6, null=True, blank=True
    )
    source = models.CharField(max_length=16, choices=PriceSource.choices, default=PriceSource.ADMIN)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["provider", "model"]
        constraints = [
            models.UniqueConstraint(fields=["provider", "model"], name="model_price_unique"),
            models.CheckConstraint(
                condition=models.Q(input_usd_per_mtok__gte=0, output_usd_per_mtok__gte=0),
                name="model_price_not_negative",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.provider or '*'}/{self.model}"


class UsageKind(models.TextChoices):
    MODEL = "model"
    TOOL = "tool"


class UsageRecord(models.Model):
    """One model call or tool call: who, where, how many tokens, what it cost, how long it
    took. Runs and playbooks are named by id (billing sits below playbooks in the layers)."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    # A record is written on the engine's hot path (one per tool call, in the step's
    # checkpoint), so, like the run's events and audit rows, it has no foreign-key
    # constraints for the commit to check (Django still cascades and nulls on delete), and
    # the organization no index of its own (the (organization, created_at) one leads with it).
    organization = models.ForeignKey(
        "accounts.Organization",
        on_delete=models.CASCADE,
        related_name="usage_records",
        db_index=False,
        db_constraint=False,
    )
    run_id = models.UUIDField(null=True, blank=True, db_index=True)
    playbook_id = models.UUIDField(null=True, blank=True)
    step_id = models.CharField(max_length=200, blank=True, default="")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        db_constraint=False,
    )
    kind = models.CharField(max_length=8, choices=UsageKind.choices)
    provider = models.CharField(max_length=64, blank=True, default="")
    model = models.CharField(max_length=200, blank=True, default="")
    tool = models.CharField(max_length=200, blank=True, default="")
    input_tokens = models.PositiveBigIntegerField(default=0)
    output_tokens = models.PositiveBigIntegerField(default=0)
    cached_input_tokens = models.PositiveBigIntegerField(default=0)
    usd = models.DecimalField(max_digits=14, decimal_places=6, default=Decimal("0"))
    wall_seconds = models.FloatField(default=0.0)
    usage_estimated = models.BooleanField(
        default=False, help_text="Tokens were estimated: the provider reported no usage."
    )
    price_fallback = models.BooleanField(
        default=False, help_text="The model had no price row: the fallback price was used."
    )
    scripted = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["organization", "created_at"])]

    def __str__(self) -> str:
        return f"{self.kind} {self.model or self.tool}: {self.usd} USD"


class OnBreach(models.TextChoices):
    PAUSE = "pause"
    FAIL = "fail"


class Budget(models.Model):
    """The money, tokens and tool calls a run tree may use: one row per root run (its id is
    the root run's; billing names runs by id), shared by the root's sub-runs. A call reserves
    its most before it is made with one conditional UPDATE (`spent + reserved + this ≤
    limit`) and settles after; a limit that is NULL is unlimited. Kept apart from the run
    row: the engine's checkpoint guards that hot, wide row, and a reservation from a sub-run
    or a parallel call must neither wait on it nor rewrite it."""

    id = models.UUIDField(primary_key=True, editable=False)
    organization = models.ForeignKey(
        "accounts.Organization", on_delete=models.CASCADE, related_name="budgets"
    )
    max_usd = models.DecimalField(max_digits=14, decimal_places=6, null=True, blank=True)
    max_tokens = models.PositiveBigIntegerField(null=True, blank=True)
    max_tool_calls = models.PositiveIntegerField(null=True, blank=True)
    on_breach = models.CharField(max_length=8, choices=OnBreach.choices, default=OnBreach.PAUSE)
    spent_usd = models.DecimalField(max_digits=14, decimal_places=6, default=Decimal("0"))
    spent_tokens = models.PositiveBigIntegerField(default=0)
    spent_tool_calls = models.PositiveIntegerField(default=0)
    reserved_usd = models.DecimalField(max_digits=14, decimal_places=6, default=Decimal("0"))
    reserved_tokens = models.BigIntegerField(default=0)

    def __str__(self) -> str:
        return f"budget {self.pk}: {self.spent_usd}/{self.max_usd} USD"


class BudgetHold(models.Model):
    """A model call's reservation, from before the call until it settles. A worker that dies
    mid-call leaves its hold; the next lease holder of the run releases it."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    budget = models.ForeignKey(Budget, on_delete=models.CASCADE, related_name="holds")
    run_id = models.UUIDField(db_index=True)
    usd = models.DecimalField(max_digits=14, decimal_places=6)
    tokens = models.PositiveBigIntegerField()
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"hold {self.usd} USD / {self.tokens} tokens on {self.budget_id}"
