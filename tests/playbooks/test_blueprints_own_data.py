"""Every blueprint (but assistant-builder) runs offline, in-process (`run_advance`), to
success on inputs that are not its samples: the numbers come from tools, computed here
independently from the same files, and every scripted answer is marked as scripted in its
`llm.called` event, in the run's outputs (`_scripted_steps`) and in its step row."""

from __future__ import annotations

import csv
import io
import json
import uuid
from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction
from typing import Any

import pytest
from openpyxl import load_workbook

from approvals.models import Approval
from approvals.services import approval_answer, approval_approve
from playbooks.blueprint_loader import blueprints_seed
from playbooks.engine.runner import run_advance
from playbooks.engine.workspace import run_workspace
from playbooks.models import Blueprint, Run, RunEvent, RunStep
from playbooks.runs.starting import run_start
from playbooks.services import playbook_activate_as_system, playbook_fork
from tests.support.approvals import undo_window_elapse
from tests.support.sink import HttpSink

CENT = Decimal("0.01")


def _playbook(slug: str, org: Any, author: Any) -> Any:
    blueprints_seed()
    blueprint = Blueprint.objects.get(slug=slug)
    draft = playbook_fork(blueprint=blueprint, organization=org, actor=author)
    return playbook_activate_as_system(playbook=draft)


def _upload(run_id: uuid.UUID, relative: str, content: str) -> str:
    path = run_workspace(run_id) / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(content, encoding="utf-8")
    return relative


def _drive(run: Run, approver: Any, answers: dict[str, Any] | None = None) -> Run:
    """Advances the run in-process, approving every gate, tool call and review as shown and
    answering questions from `answers` (by step), until it ends."""
    for _ in range(40):
        run_advance(run_id=run.pk)
        run = Run.objects.get(pk=run.pk)
        if run.is_final:
            return run
        for approval in Approval.objects.filter(run=run, status="pending"):
            if approval.kind == "question":
                approval_answer(approval=approval, actor=approver, answer=answers[approval.step])
            else:
                approval_approve(approval=approval, actor=approver, body_hash=approval.body_hash)
                undo_window_elapse(approval)
    raise AssertionError(f"run {run.pk} did not end: {run.status}")


def _llm_events(run: Run) -> list[tuple[str, bool]]:
    """(step, scripted) of every llm.called event, in order."""
    events = RunEvent.objects.filter(run=run, type="llm.called").order_by("seq")
    return [(event.data["step"], event.data["scripted"]) for event in events]


def _scripted_rows(run: Run) -> list[str]:
    rows = RunStep.objects.filter(run=run, status="succeeded").order_by("index")
    return [row.step_id for row in rows if (row.state or {}).get("scripted") is True]


def _cents(value: Fraction | Decimal) -> float:
    value = Fraction(value)
    exact = Decimal(value.numerator) / Decimal(value.denominator)
    return float(exact.quantize(CENT, rounding=ROUND_HALF_UP))


# --- product-cost-allocation --------------------------------------------------------------

COSTS = """product,cost_center,amount
Orion,Assembly,7000.00
Orion,Freight,5000.00
Pavo,Assembly,"12,500.00"
Pavo,Licences,5500.00
Lyra,Assembly,21000.00
Lyra,Freight,6000.00
Lyra,Licences,3000.00
SHARED,Cloud,4210.50
SHARED,Rent,2000.00
"""
PRIOR = {"Orion": 13000, "Pavo": 19000, "Lyra": 36000, "Vega": 100}


def _independent_allocation(text: str) -> dict[str, Any]:
    """Direct cost per product, and each shared pool split by share of direct cost."""
    direct: dict[str, Fraction] = {}
    pools: dict[str, Fraction] = {}
    for row in csv.DictReader(io.StringIO(text)):
        amount = Fraction(Decimal(row["amount"].replace(",", "")))
        if row["product"] == "SHARED":
            pools[row["cost_center"]] = pools.get(row["cost_center"], Fraction(0)) + amount
        else:
            direct[row["product"]] = direct.get(row["product"], Fraction(0)) + amount
    whole = sum(direct.values())
    shared = {
        name: sum(pool * cost / whole for pool in pools.values()) for name, cost in direct.items()
    }
    return {
        "direct": {name: _cents(cost) for name, cost in direct.items()},
        "shared": {name: _cents(value) for name, value in shared.items()},
        "total": {name: _cents(direct[name] + shared[name]) for name in direct},
        "share_pct": {name: _cents(cost / whole * 100) for name, cost in direct.items()},
        "pools": {name: _cents(pool) for name, pool in pools.items()},
    }


def _independent_variances(actual: dict[str, float], prior: dict[str, float], threshold: float):
    rows = {}
    for key in [*actual, *[k for k in prior if k not in actual]]:
        if key not in actual:
            rows[key] = (prior[key], None, None, None, True)
            continue
        now, before = Decimal(str(actual[key])), Decimal(str(prior[key]))
        pct = _cents(Fraction(now - before) / Fraction(before) * 100)
        rows[key] = (float(before), float(now), float(now - before), pct, abs(pct) > threshold)
    return rows


def test_product_cost_allocation_computes_from_the_uploaded_csv(org, author, approver, settings):
    settings.AGENTSTUDIO_HTTP_ALLOW = ["127.0.0.1"]
    playbook = _playbook("product-cost-allocation", org, author)
    run_id = uuid.uuid4()
    costs = _upload(run_id, "inputs/costs/q3-costs.csv", COSTS)
    sink = HttpSink.start()
    try:
        run = run_start(
            playbook=playbook,
            actor=author,
            run_id=run_id,
            inputs={
                "costs": costs,
                "prior_period": PRIOR,
                "threshold_pct": 3,
                "delivery_url": f"{sink.url}/pack",
            },
        )
        done = _drive(run, approver, {"explain": "Lyra lost a licence rebate."})
        [delivery] = sink.requests
    finally:
        sink.stop()
    assert (done.status, done.error) == ("succeeded", "")

    expected = _independent_allocation(COSTS)
    allocations = {item["product"]: item for item in done.outputs["allocations"]}
    assert list(allocations) == ["Orion", "Pavo", "Lyra"]
    for name, item in allocations.items():
        assert (item["direct"], item["shared"], item["total"], item["share_pct"]) == (
            expected["direct"][name],
            expected["shared"][name],
            expected["total"][name],
            expected["share_pct"][name],
        ), name
    assert allocations["Lyra"]["lineage"] == {
        "direct_rows": [5, 6, 7],
        "driver": "direct cost in inputs/costs/q3-costs.csv",
        "shared_by_pool": [
            {"cost_center": "Cloud", "amount": 2105.25},
            {"cost_center": "Rent", "amount": 1000.0},
        ],
    }
    assert done.outputs["total_cost"] == 66210.5 == sum(expected["total"].values())

    variances = {item["key"]: item for item in done.outputs["variances"]}
    computed = _independent_variances(
        {name: expected["total"][name] for name in allocations}, PRIOR, 3
    )
    assert {
        key: (v["expected"], v["actual"], v["delta"], v["delta_pct"], v["flagged"])
        for key, v in variances.items()
    } == computed
    assert done.outputs["flagged_variances"] == ["Pavo", "Lyra", "Vega"]
    assert variances["Vega"]["reason"] == "no actual value"

    # The model only wrote the commentary, and it is marked scripted everywhere.
    assert done.outputs["_scripted_steps"] == ["commentary"]
    assert _llm_events(done) == [("commentary", True)]
    assert _scripted_rows(done) == ["commentary"]
    assert done.outputs["controller_explanation"] == "Lyra lost a licence rebate."

    sent = delivery.json()
    assert sent["totals"] == {"direct": 60000.0, "shared": 6210.5, "total": 66210.5}
    assert sent["flagged_variances"] == ["Pavo", "Lyra", "Vega"]
    assert sent["commentary_scripted"] is True
    assert not any(ch.isdigit() for ch in sent["commentary"])  # no figure pretends to be data

    workspace = run_workspace(run_id)
    sheet = load_workbook(workspace / "cost-pack.xlsx")["Allocation"]
    assert [list(row) for row in sheet.iter_rows(min_row=2, values_only=True)] == [
        [name, expected["direct"][name], expected["shared"][name], expected["total"][name]]
        for name in ("Orion", "Pavo", "Lyra")
    ] + [["Total", 60000, 6210.5, 66210.5]]
    summary = (workspace / "summary.md").read_text()
    assert "| Lyra | 30000.0 | 3105.25 | 33105.25 | 50.0 |" in summary
    assert "Flagged: Pavo, Lyra, Vega." in summary
    assert "## Commentary (scripted: no model is configured)" in summary
    question = Approval.objects.get(run=done, kind="question").payload["question"]
    assert "Pavo 19000.0 -> 19863.15 (4.54%)" in question
    assert "Vega 100.0 -> None (no actual value)" in question


DRIVERS = "product,driver\nOrion,1\nPavo,1\nLyra,1\n"


def test_product_cost_allocation_follows_an_uploaded_driver_file(org, author, approver, settings):
    """Three equal drivers split each pool in thirds; the odd cents go to the first products
    so each pool's parts add up to it exactly."""
    settings.AGENTSTUDIO_HTTP_ALLOW = ["127.0.0.1"]
    playbook = _playbook("product-cost-allocation", org, author)
    run_id = uuid.uuid4()
    costs = _upload(run_id, "inputs/costs/costs.csv", COSTS)
    drivers = _upload(run_id, "inputs/drivers/headcount.csv", DRIVERS)
    sink = HttpSink.start()
    try:
        run = run_start(
            playbook=playbook,
            actor=author,
            run_id=run_id,
            inputs={
                "costs": costs,
                "drivers": drivers,
                "prior_period": PRIOR,
                "delivery_url": f"{sink.url}/pack",
            },
        )
        done = _drive(run, approver, {"explain": "Fine."})
    finally:
        sink.stop()
    assert done.status == "succeeded", done.error
    # Cloud 4210.50 / 3 = 1403.50 each; Rent 2000.00 / 3 = 666.67 + 666.67 + 666.66.
    shared = [(a["product"], a["shared"]) for a in done.outputs["allocations"]]
    assert shared == [("Orion", 2070.17), ("Pavo", 2070.17), ("Lyra", 2070.16)]
    assert done.outputs["variances"][0]["key"] == "Orion"
    assert done.outputs["allocations"][0]["lineage"]["driver"] == (
        "inputs/drivers/headcount.csv data row 1 (driver)"
    )


# --- data-cleanup -------------------------------------------------------------------------


def _contacts(count: int) -> str:
    """A customer export with other column names (no name, no postcode): every third
    contact appears twice, the copy with its e-mail upper-cased and padded."""
    lines = ["account_ref,contact_name,email,mobile,zip_code"]
    for number in range(count):
        email = f"person{number}@example.org"
        lines.append(f"A{number:03d},Person {number},{email},0700{number:04d},Z{number % 7}")
        if number % 3 == 0:
            lines.append(f"B{number:03d},PERSON {number},  {email.upper()} ,,Z{number % 7}")
    lines.append("C999,Nobody,,,")  # an empty e-mail never matches
    lines.append("C998,Nobody,,,")
    return "\n".join(lines) + "\n"


def test_data_cleanup_works_on_a_csv_without_the_expected_key_columns(org, author, approver):
    playbook = _playbook("data-cleanup", org, author)
    run_id = uuid.uuid4()
    content = _contacts(30)
    dataset = _upload(run_id, "inputs/dataset/contacts.csv", content)
    run = run_start(playbook=playbook, actor=author, run_id=run_id, inputs={"dataset": dataset})
    done = _drive(run, approver)
    assert (done.status, done.error) == ("succeeded", "")

    records = list(csv.DictReader(io.StringIO(content)))
    first_by_email: dict[str, int] = {}
    kept = []
    for index, record in enumerate(records):
        key = record["email"].strip().lower()
        if key and key in first_by_email:
            continue
        first_by_email.setdefault(key, index)
        kept.append(record["account_ref"])
    assert (done.outputs["rows_in"], done.outputs["rows_out"]) == (len(records), len(kept))
    assert len(records) - len(kept) == 10
    cleaned = list(csv.DictReader(io.StringIO((run_workspace(run_id) / "cleaned.csv").read_text())))
    assert [row["account_ref"] for row in cleaned] == kept

    # The rule on name + postcode names columns this file lacks: skipped and reported.
    assert done.outputs["skipped_rules"] == [
        {
            "id": "name_postcode",
            "fields": ["name", "postcode"],
            "missing_columns": ["name", "postcode"],
        }
    ]
    assert done.outputs["missing_columns"] == ["name", "postcode"]
    apply = RunStep.objects.get(run=done, step_id="apply").output
    assert [rule["id"] for rule in apply["rules_applied"]] == ["email_normalized"]
    assert apply["rules_applied"][0]["rows_merged"] == 10

    # The profile looked at the columns this file has (named like a name or an e-mail).
    profile = RunStep.objects.get(run=done, step_id="profile").output
    assert profile["key_columns"] == ["contact_name", "email"]
    emails: dict[str, list[int]] = {}
    for number, record in enumerate(records, start=1):
        if record["email"].strip():
            emails.setdefault(record["email"].strip().lower(), []).append(number)
    assert [
        candidate["rows"]
        for candidate in profile["duplicate_candidates"]
        if candidate["columns"] == ["email"]
    ] == [rows for rows in emails.values() if len(rows) > 1]

    report = (run_workspace(run_id) / "report.md").read_text()
    assert (
        "1. `email_normalized`: same email after strip, lowercase; keep the first record "
        "(10 merged)."
    ) in report
    skipped = "- `name_postcode` needs name + postcode, but the file has no column name, postcode."
    assert skipped in report
    assert "Columns in the file: account_ref, contact_name, email, mobile, zip_code." in report
    assert f"- Rows in: {len(records)}\n- Rows out: {len(kept)}" in report

    assert done.outputs["_scripted_steps"] == ["propose_rules"]
    assert _llm_events(done) == [("propose_rules", True)]


def test_data_cleanup_with_no_rule_applicable_still_succeeds(org, author, approver):
    playbook = _playbook("data-cleanup", org, author)
    run_id = uuid.uuid4()
    dataset = _upload(run_id, "inputs/dataset/ids.csv", "sku,qty\nX1,3\nx1,4\n")
    run = run_start(playbook=playbook, actor=author, run_id=run_id, inputs={"dataset": dataset})
    done = _drive(run, approver)
    assert done.status == "succeeded", done.error
    assert (done.outputs["rows_in"], done.outputs["rows_out"]) == (2, 2)
    assert done.outputs["missing_columns"] == ["email", "name", "postcode"]
    report = (run_workspace(run_id) / "report.md").read_text()
    assert "No rule could be applied to this file." in report


# --- hr-assistant and blog-post-writer ------------------------------------------------------


@pytest.mark.parametrize(
    "handbook", [None, ("inputs/handbook/leave-policy.txt", "Leave: 30 days in DE.\n")]
)
def test_hr_assistant_runs_on_another_question_and_handbook(org, author, approver, handbook):
    playbook = _playbook("hr-assistant", org, author)
    run_id = uuid.uuid4()
    inputs: dict[str, Any] = {
        "question": "How many days of leave do I get?",
        "employee_region": "DE",
    }
    if handbook:
        inputs["handbook"] = _upload(run_id, *handbook)
    run = run_start(playbook=playbook, actor=author, run_id=run_id, inputs=inputs)
    done = _drive(run, approver)
    assert (done.status, done.error) == ("succeeded", "")
    assert done.outputs["_scripted_steps"] == ["answer"]
    assert _llm_events(done) == [("answer", True)] * 3
    assert done.outputs["answer"].startswith("**This is a scripted answer.**")
    saved = (run_workspace(run_id) / "answer.md").read_text()
    assert "- Region: DE" in saved and "How many days of leave do I get?" in saved
    assert "> Scripted: no model is configured" in saved


def test_blog_post_writer_runs_on_another_topic(org, author, approver):
    playbook = _playbook("blog-post-writer", org, author)
    run = run_start(
        playbook=playbook,
        actor=author,
        inputs={"topic": "Onboarding new engineers", "audience": "Engineering managers"},
    )
    done = _drive(run, approver)
    assert (done.status, done.error) == ("succeeded", "")
    assert done.outputs["_scripted_steps"] == ["outline", "draft"]
    assert _llm_events(done) == [("outline", True), ("draft", True)]
    assert _scripted_rows(done) == ["outline", "draft"]
    review = Approval.objects.get(run=done, kind="review")
    assert review.payload["outputs"]["_scripted_steps"] == ["outline", "draft"]
    assert json.loads(json.dumps(done.outputs))["post"] == "post.md"
