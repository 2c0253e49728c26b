"""Tests for tools.builtin.lineage.report_lineage (tools.studio.report.lineage)."""

import hashlib
import json

import pytest

from tools.builtin import BUILTIN_IMPLEMENTATIONS
from tools.context import ToolExecutionError

LINEAGE = "tools.studio.report.lineage"
RULES = [{"id": "email", "fields": ["email"], "normalize": ["strip"], "keep": "first"}]


def step(step_id, kind, tool, inputs, artifacts):
    return {
        "step": step_id,
        "kind": kind,
        "tool": tool,
        "inputs": inputs,
        "artifacts": artifacts,
        "started_at": "2025-01-01T10:00:00+00:00",
        "finished_at": "2025-01-01T10:00:01+00:00",
    }


@pytest.fixture
def cleanup_run(ctx, write):
    """A data-cleanup run that has profiled, cleaned and reported."""
    write("inputs/dataset/customers.csv", "id,email\n1,a@x\n")
    write("cleaned.csv", "id,email\n1,a@x\n")
    write("report.md", "# Report\n")
    ctx.step_id = "lineage"
    ctx.lineage = [
        step("profile", "tool", "tools.studio.data.profile",
             {"dataset": "inputs/dataset/customers.csv", "key_columns": ["email"]}, []),
        step("propose_rules", "llm", None, {"prompt": "Profile: ..."}, []),
        step("review_rules", "approval", None, None, []),
        step("apply", "tool", "tools.studio.data.resolve_entities",
             {"dataset": "inputs/dataset/customers.csv", "rules": RULES,
              "output_path": "cleaned.csv"}, ["cleaned.csv"]),
        step("report", "tool", "tools.studio.files.write",
             {"path": "report.md", "content": "See cleaned.csv\n", "content_type": "text/markdown"},
             ["report.md"]),
    ]  # fmt: skip
    return ctx


def test_lineage_maps_each_artifact_to_its_step_and_inputs(call_tool, cleanup_run, workspace):
    call_tool(LINEAGE, {"path": "lineage.json"})
    document = json.loads((workspace / "lineage.json").read_text())
    assert document["artifacts"] == {
        "cleaned.csv": {"produced_by": "apply", "from_inputs": ["inputs/dataset/customers.csv"]},
        "lineage.json": {"produced_by": "lineage", "from_inputs": []},
        "report.md": {"produced_by": "report", "from_inputs": []},
    }


def test_lineage_lists_every_finished_step_in_order(call_tool, cleanup_run, workspace):
    call_tool(LINEAGE, {})
    document = json.loads((workspace / "lineage.json").read_text())
    assert document["run"] == "run-1"
    assert [
        (entry["step"], entry["kind"], entry["tool"], entry["artifacts"])
        for entry in document["steps"]
    ] == [
        ("profile", "tool", "tools.studio.data.profile", []),
        ("propose_rules", "llm", None, []),
        ("review_rules", "approval", None, []),
        ("apply", "tool", "tools.studio.data.resolve_entities", ["cleaned.csv"]),
        ("report", "tool", "tools.studio.files.write", ["report.md"]),
    ]
    assert document["steps"][3]["inputs"]["rules"] == RULES


def test_lineage_result_counts_steps_and_artifacts(call_tool, cleanup_run, workspace):
    result = call_tool(LINEAGE, {})
    data = (workspace / "lineage.json").read_bytes()
    assert result == {
        "path": "lineage.json",
        "size": len(data),
        "sha256": hashlib.sha256(data).hexdigest(),
        "content_type": "application/json",
        "steps": 5,
        "artifacts": 3,
    }


def test_lineage_is_written_as_a_json_artifact(call_tool, cleanup_run):
    call_tool(LINEAGE, {"path": "reports/lineage.json"})
    assert [(item.path, item.content_type) for item in cleanup_run.written] == [
        ("reports/lineage.json", "application/json")
    ]


def test_an_earlier_artifact_used_by_a_later_step_is_one_of_its_inputs(
    call_tool, ctx, write, workspace
):
    write("cleaned.csv", "id\n1\n")
    write("summary.xlsx", b"PK")
    ctx.lineage = [
        step("apply", "tool", "tools.studio.data.resolve_entities", {"dataset": "in.csv"},
             ["cleaned.csv"]),
        step("pack", "tool", "tools.studio.xlsx.render",
             {"path": "summary.xlsx", "source": "./cleaned.csv"}, ["summary.xlsx"]),
    ]  # fmt: skip
    call_tool(LINEAGE, {})
    artifacts = json.loads((workspace / "lineage.json").read_text())["artifacts"]
    assert artifacts["summary.xlsx"] == {"produced_by": "pack", "from_inputs": ["cleaned.csv"]}


def test_the_last_step_to_write_an_artifact_is_its_producer(call_tool, ctx, write, workspace):
    write("out.md", "v2")
    ctx.lineage = [
        step("draft", "tool", "tools.studio.files.write", {"path": "out.md"}, ["out.md"]),
        step("final", "tool", "tools.studio.files.write", {"path": "out.md"}, ["out.md"]),
    ]
    call_tool(LINEAGE, {})
    artifacts = json.loads((workspace / "lineage.json").read_text())["artifacts"]
    assert artifacts["out.md"]["produced_by"] == "final"


def test_lineage_of_a_run_without_steps_records_only_itself(call_tool, workspace):
    result = call_tool(LINEAGE, {})
    document = json.loads((workspace / "lineage.json").read_text())
    assert (document["steps"], result["steps"], result["artifacts"]) == ([], 0, 1)


def test_lineage_refuses_a_path_outside_the_workspace(ctx, tmp_path):
    with pytest.raises(ToolExecutionError, match="must be relative to the run workspace"):
        BUILTIN_IMPLEMENTATIONS[LINEAGE](ctx, {"path": "../lineage.json"})
    assert not (tmp_path / "lineage.json").exists()
