"""The run admin page's money panels: spend against each budget limit, and the run's credit
holds (reserved at the start of each attempt, then released and charged at its end)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.contrib import admin
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

from agentstudio.billing.models import CreditHold
from agentstudio.moments import moment_text
from playbooks.models import Run


def _share(used: Decimal, limit: Any) -> str:
    try:
        limit = Decimal(str(limit))
    except ArithmeticError:
        return "—"
    return f"{used / limit * 100:.0f}%" if limit > 0 else "—"


def _table(head: tuple[str, ...], rows: list[tuple[Any, ...]]) -> SafeString:
    header = format_html_join("", "<th>{}</th>", ((cell,) for cell in head))
    body = format_html_join(
        "",
        "<tr>{}</tr>",
        ((format_html_join("", "<td>{}</td>", ((cell,) for cell in row)),) for row in rows),
    )
    return format_html('<table class="as-spend"><tr>{}</tr>{}</table>', header, body)


def run_spend_rows(run: Run) -> list[tuple[str, str, str, str]]:
    """(limit, used, max, share) for max_usd, max_tokens, max_tool_calls, max_wall_seconds."""
    budget = run.budget or {}
    used: list[tuple[str, Decimal, str]] = [
        ("max_usd", run.usage_usd, f"{run.usage_usd.normalize():f} USD"),
        (
            "max_tokens",
            Decimal(run.usage_input_tokens + run.usage_output_tokens),
            f"{run.usage_input_tokens + run.usage_output_tokens:,}",
        ),
        ("max_tool_calls", Decimal(run.usage_tool_calls), f"{run.usage_tool_calls:,}"),
        (
            "max_wall_seconds",
            Decimal(str(round(run.usage_wall_seconds, 3))),
            f"{run.usage_wall_seconds:.1f} s",
        ),
    ]
    return [
        (name, text, _limit_text(name, budget.get(name)), _share(amount, budget.get(name)))
        for name, amount, text in used
    ]


def _limit_text(name: str, value: Any) -> str:
    """A limit as the used column shows its amount: USD, thousands separated, seconds."""
    if value is None:
        return "—"
    if name == "max_usd":
        return f"{Decimal(str(value)).normalize():f} USD"
    if name == "max_wall_seconds":
        return f"{float(value):g} s"
    return f"{int(value):,}"


class RunSpendAdminMixin:
    """Read-only panels for RunAdmin (`spend_against_budget`, `credit_holds`)."""

    @admin.display(description="spend against budget")
    def spend_against_budget(self, obj: Run) -> SafeString:
        return _table(("limit", "used", "budget", "share"), run_spend_rows(obj))

    @admin.display(description="credit")
    def credit_holds(self, obj: Run) -> SafeString | str:
        if obj.parent_run_id is not None:
            return "A sub-run reserves nothing: it draws on its parent run's credit hold."
        holds = CreditHold.objects.filter(run_id=obj.pk).order_by("created_at")
        rows = [
            (
                f"{hold.amount.normalize():f} USD",
                f"{hold.charged_usd.normalize():f} USD" if hold.settled_at else "—",
                f"{hold.amount.normalize():f} USD" if hold.settled_at else "—",
                f"settled {moment_text(hold.settled_at)}" if hold.settled_at else "open",
            )
            for hold in holds
        ]
        if not rows:
            return "No credit hold."
        return _table(("reserved", "charged", "released", "state"), rows)
