"""Cost tools: allocate shared cost pools to products, and compare actual with expected values.

Arithmetic is exact (`Decimal` cents); results are JSON numbers rounded to cents, and every
allocated number names where it came from (rows of the cost CSV, the pool, the driver).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from fractions import Fraction
from typing import Any

from tools.builtin.tables import Table, table_read
from tools.context import ToolContext, ToolExecutionError

CENT = Decimal("0.01")
_CURRENCY = re.compile(r"^[$£€¥]|[$£€¥]$")


def _amount(table: Table, row_number: int, column: str, text: str) -> Decimal:
    """A money amount as typed in a ledger export: 1234.5, 1,234.50, -12, (12.00), £12."""
    value = text.strip().replace(",", "").replace(" ", "").replace("_", "")
    negative = value.startswith("(") and value.endswith(")")
    if negative:
        value = value[1:-1]
    value = _CURRENCY.sub("", value)
    try:
        number = Decimal(value)
    except InvalidOperation:
        number = None
    if number is None or not number.is_finite():
        raise ToolExecutionError(
            f"{table.dataset!r}: data row {row_number} has {text!r} in column {column!r}, "
            "which is not a number."
        )
    return -number if negative else number


def _number(value: Decimal) -> float:
    """Cents, as a JSON number."""
    return float(value.quantize(CENT, rounding=ROUND_HALF_UP))


def _percent(part: Fraction | Decimal, whole: Fraction | Decimal) -> float:
    ratio = Fraction(part) / Fraction(whole) * 100
    value = Decimal(ratio.numerator) / Decimal(ratio.denominator)
    return float(value.quantize(CENT, rounding=ROUND_HALF_UP))


def _money_text(value: Decimal) -> str:
    return f"{value.quantize(CENT, rounding=ROUND_HALF_UP):,.2f}"


def split_cents(amount: Decimal, weights: list[Decimal]) -> list[Decimal]:
    """`amount` split in proportion to `weights` (largest remainder): every part is whole
    cents and the parts add up exactly to `amount`; ties go to the earlier weight."""
    cents = int((amount / CENT).to_integral_value(rounding=ROUND_HALF_UP))
    total = sum(weights, Decimal(0))
    exact = [Fraction(cents) * Fraction(weight) / Fraction(total) for weight in weights]
    parts = [share.numerator // share.denominator for share in exact]
    remainder = cents - sum(parts)
    by_fraction = sorted(range(len(weights)), key=lambda i: (-(exact[i] - parts[i]), i))
    for index in by_fraction[:remainder]:
        parts[index] += 1
    return [Decimal(part) * CENT for part in parts]


@dataclass
class _Product:
    name: str
    direct: Decimal = Decimal(0)
    direct_rows: list[int] = field(default_factory=list)
    driver: Decimal = Decimal(0)
    driver_source: str = ""
    shared_by_pool: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class _Pool:
    name: str
    amount: Decimal = Decimal(0)
    rows: list[int] = field(default_factory=list)


def _read_costs(
    table: Table, arguments: dict[str, Any]
) -> tuple[dict[str, _Product], dict[str, _Pool]]:
    product_column = arguments.get("product_column", "product")
    amount_column = arguments.get("amount_column", "amount")
    center_column = arguments.get("cost_center_column", "cost_center")
    marker = arguments.get("shared_marker", "SHARED").strip().lower()
    product_at, amount_at = table.column_index(product_column), table.column_index(amount_column)
    center_at = table.columns.index(center_column) if center_column in table.columns else None
    products: dict[str, _Product] = {}
    pools: dict[str, _Pool] = {}
    for number, row in enumerate(table.rows, start=1):
        name = row[product_at].strip()
        if not name:
            raise ToolExecutionError(
                f"{table.dataset!r}: data row {number} has no value in column {product_column!r}."
            )
        amount = _amount(table, number, amount_column, row[amount_at])
        if name.lower() == marker:
            center = (row[center_at].strip() if center_at is not None else "") or name
            pool = pools.setdefault(center, _Pool(center))
            pool.amount += amount
            pool.rows.append(number)
        else:
            product = products.setdefault(name, _Product(name))
            product.direct += amount
            product.direct_rows.append(number)
    return products, pools


def _read_drivers(
    ctx: ToolContext, arguments: dict[str, Any], products: dict[str, _Product]
) -> None:
    table = table_read(ctx, arguments["drivers"])
    product_column = arguments.get("driver_product_column") or arguments.get(
        "product_column", "product"
    )
    driver_column = arguments.get("driver_column", "driver")
    product_at, driver_at = table.column_index(product_column), table.column_index(driver_column)
    seen: set[str] = set()
    for number, row in enumerate(table.rows, start=1):
        name = row[product_at].strip()
        if not name:
            raise ToolExecutionError(
                f"{table.dataset!r}: data row {number} has no value in column {product_column!r}."
            )
        if name in seen:
            raise ToolExecutionError(
                f"{table.dataset!r}: product {name!r} has a second driver in data row {number}."
            )
        seen.add(name)
        driver = _amount(table, number, driver_column, row[driver_at])
        if driver < 0:
            raise ToolExecutionError(
                f"{table.dataset!r}: data row {number} has a negative driver for {name!r}."
            )
        product = products.setdefault(name, _Product(name))
        product.driver = driver
        product.driver_source = f"{table.dataset} data row {number} ({driver_column})"


def costs_allocate(ctx: ToolContext, arguments: dict[str, Any]) -> dict[str, Any]:
    """`tools.studio.data.allocate_costs`: direct costs stay with their product; each shared
    pool (rows whose product is the shared marker, by cost centre) is split over products in
    proportion to their driver (a drivers CSV, else each product's direct cost)."""
    table = table_read(ctx, arguments["costs"])
    products, pools = _read_costs(table, arguments)
    warnings: list[str] = []
    if arguments.get("drivers"):
        basis = "driver"
        _read_drivers(ctx, arguments, products)
        for product in products.values():
            if not product.driver_source:
                product.driver_source = "no driver row (0)"
                warnings.append(f"{product.name} has no driver; it takes no shared cost.")
    else:
        basis = "direct_cost"
        for product in products.values():
            product.driver = max(product.direct, Decimal(0))
            product.driver_source = f"direct cost in {table.dataset}"
    if not products:
        raise ToolExecutionError(f"{table.dataset!r} has no product rows, only shared costs.")
    ordered = list(products.values())
    total_driver = sum((product.driver for product in ordered), Decimal(0))
    if pools and total_driver <= 0:
        raise ToolExecutionError(
            "The drivers add up to 0, so the shared costs cannot be allocated."
        )
    for pool in pools.values():
        parts = split_cents(pool.amount, [product.driver for product in ordered])
        for product, part in zip(ordered, parts, strict=True):
            product.shared_by_pool.append({"cost_center": pool.name, "amount": part})
    allocations = []
    for product in ordered:
        shared = sum((entry["amount"] for entry in product.shared_by_pool), Decimal(0))
        total = product.direct + shared
        share = _percent(product.driver, total_driver) if total_driver > 0 else 0.0
        allocations.append(
            {
                "product": product.name,
                "direct": _number(product.direct),
                "shared": _number(shared),
                "total": _number(total),
                "driver": _number(product.driver),
                "share_pct": share,
                "lineage": {
                    "direct_rows": product.direct_rows,
                    "driver": product.driver_source,
                    "shared_by_pool": [
                        {"cost_center": entry["cost_center"], "amount": _number(entry["amount"])}
                        for entry in product.shared_by_pool
                    ],
                },
            }
        )
    direct_total = sum((product.direct for product in ordered), Decimal(0))
    shared_total = sum((pool.amount for pool in pools.values()), Decimal(0))
    totals = {
        "direct": _number(direct_total),
        "shared": _number(shared_total),
        "total": _number(direct_total + shared_total),
    }
    rows: list[list[Any]] = [
        [item["product"], item["direct"], item["shared"], item["total"]] for item in allocations
    ]
    rows.append(["Total", totals["direct"], totals["shared"], totals["total"]])
    return {
        "costs": arguments["costs"],
        "drivers": arguments.get("drivers"),
        "basis": basis,
        "basis_text": _basis_text(basis, pools, allocations),
        "pools": [
            {"cost_center": pool.name, "amount": _number(pool.amount), "rows": pool.rows}
            for pool in pools.values()
        ],
        "allocations": allocations,
        "totals": totals,
        "totals_by_product": {item["product"]: item["total"] for item in allocations},
        "rows": rows,
        "warnings": warnings,
    }


def _basis_text(basis: str, pools: dict[str, _Pool], allocations: list[dict[str, Any]]) -> str:
    if not pools:
        return "No shared costs this period; every product carries its direct cost only."
    listed = "; ".join(f"{pool.name} {_money_text(pool.amount)}" for pool in pools.values())
    by = "share of direct cost" if basis == "direct_cost" else "share of the driver"
    shares = ", ".join(f"{item['product']} {item['share_pct']:.2f}%" for item in allocations)
    return f"Shared cost centres ({listed}) allocated to products by {by}: {shares}."


def _decimal(value: Any) -> Decimal:
    return Decimal(str(value))


def data_variances(ctx: ToolContext, arguments: dict[str, Any]) -> dict[str, Any]:
    """`tools.studio.data.variances`: per key, actual - expected and its percentage of
    expected; flagged when the percentage's absolute value is above `threshold_pct`, or when
    a key has no expected value (or it is 0) or no actual value."""
    actual, expected = arguments["actual"], arguments["expected"]
    threshold = _decimal(arguments.get("threshold_pct", 5))
    keys = list(actual) + [key for key in expected if key not in actual]
    variances = []
    for key in keys:
        now = _decimal(actual[key]) if key in actual else None
        before = _decimal(expected[key]) if key in expected else None
        item: dict[str, Any] = {
            "key": key,
            "expected": None if before is None else _number(before),
            "actual": None if now is None else _number(now),
            "delta": None,
            "delta_pct": None,
            "flagged": True,
            "reason": "",
        }
        if now is None:
            item["reason"] = "no actual value"
        elif before is None:
            item["reason"] = "no expected value"
        else:
            item["delta"] = _number(now - before)
            if before == 0:
                item["reason"] = "expected value is 0"
            else:
                item["delta_pct"] = _percent(now - before, abs(before))
                over = abs(_decimal(item["delta_pct"])) > threshold
                item["flagged"] = over
                item["reason"] = f"moved more than {threshold}%" if over else ""
        variances.append(item)
    actual_total = sum((_decimal(value) for value in actual.values()), Decimal(0))
    expected_total = sum((_decimal(value) for value in expected.values()), Decimal(0))
    total = {
        "expected": _number(expected_total),
        "actual": _number(actual_total),
        "delta": _number(actual_total - expected_total),
        "delta_pct": (
            _percent(actual_total - expected_total, abs(expected_total)) if expected_total else None
        ),
    }
    total["flagged"] = (
        total["delta_pct"] is not None and abs(_decimal(total["delta_pct"])) > threshold
    )
    rows: list[list[Any]] = [
        [
            item["key"],
            item["expected"],
            item["actual"],
            item["delta"],
            item["delta_pct"],
            "yes" if item["flagged"] else "no",
        ]
        for item in variances
    ]
    rows.append(
        [
            "Total",
            total["expected"],
            total["actual"],
            total["delta"],
            total["delta_pct"],
            "yes" if total["flagged"] else "no",
        ]
    )
    return {
        "threshold_pct": float(threshold),
        "variances": variances,
        "flagged": [item["key"] for item in variances if item["flagged"]],
        "total": total,
        "rows": rows,
    }
