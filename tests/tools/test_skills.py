"""Skills: the shipped skills load, their scripts become compute tools run in an isolated
subprocess in the run workspace, references load only from references/, and an agent's
system prompt carries the listed skills (after the invariant) and the selected bodies."""

import csv
import os
import textwrap

import pytest

from playbooks.engine.prompts import UNTRUSTED_INVARIANT
from playbooks.engine.runner import run_advance
from playbooks.models import RunStep
from playbooks.runs.starting import run_start
from tools.context import ToolContext, ToolExecutionError
from tools.registry import tool_registry
from tools.skills import SkillRegistry, skill_load_reference, skill_registry

DUPLICATES = "tools.skill.entity-resolution.duplicate_groups"
VARIANCES = "tools.skill.variance-detection.variances"


@pytest.fixture
def ctx(tmp_path):
    return ToolContext(run_id="r", step_id="s", call_key="r:s@1:0", workspace=tmp_path)


def _script(name):
    from tools.plugins import PLUGIN_IMPLEMENTATIONS

    return PLUGIN_IMPLEMENTATIONS[name]


def test_the_shipped_skills_are_installed_with_compute_tools():
    assert {"entity-resolution", "variance-detection"} <= set(skill_registry.skills)
    for name in (DUPLICATES, VARIANCES):
        definition = tool_registry.get(name)
        assert (definition.risk, definition.idempotent) == ("compute", True)
        assert definition.input_schema["type"] == "object"


def test_duplicate_groups_runs_in_the_workspace(ctx, tmp_path):
    with (tmp_path / "people.csv").open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerows(
            [["email", "name"], ["A@x.org ", "Ann"], ["a@x.org", "Ann B"], ["b@x.org", "Bo"]]
        )
    result = _script(DUPLICATES)(ctx, {"path": "people.csv", "columns": ["email"]})
    assert result == {"rows": 3, "columns": ["email"], "groups": [[1, 2]], "rows_merged_away": 1}


def test_variances_flags_rows_above_the_threshold(ctx, tmp_path):
    (tmp_path / "costs.csv").write_text("product,actual,prior\nA,110,100\nB,102,100\nC,80,100\n")
    result = _script(VARIANCES)(
        ctx, {"path": "costs.csv", "actual": "actual", "expected": "prior", "key": "product"}
    )
    assert [(row["key"], row["variance_pct"]) for row in result["flagged"]] == [
        ("A", 10.0),
        ("C", -20.0),
    ]


def test_a_script_gets_a_scrubbed_environment_and_a_failure_is_a_tool_error(ctx, tmp_path):
    folder = tmp_path / "skills" / "probe"
    (folder / "scripts").mkdir(parents=True)
    (folder / "SKILL.md").write_text("---\nname: probe\ndescription: Probes.\n---\nBody.\n")
    (folder / "scripts" / "env.py").write_text(
        textwrap.dedent(
            """
            import json, os, sys
            args = json.load(sys.stdin)
            if args.get("fail"):
                sys.exit("asked to fail")
            json.dump({"env": sorted(os.environ), "cwd": os.getcwd()}, sys.stdout)
            """
        )
    )
    registry = SkillRegistry()
    os.environ["AGENTSTUDIO_TEST_SECRET"] = "must-not-leak"
    try:
        registry.load([tmp_path / "skills"])
        result = _script("tools.skill.probe.env")(ctx, {})
    finally:
        del os.environ["AGENTSTUDIO_TEST_SECRET"]
    assert set(result["env"]) <= {"PATH", "LANG", "HOME", "LC_CTYPE"}
    assert result["cwd"] == str(tmp_path.resolve())
    with pytest.raises(ToolExecutionError, match="asked to fail"):
        _script("tools.skill.probe.env")(ctx, {"fail": True})


def test_references_load_only_from_references(ctx):
    loaded = skill_load_reference(
        ctx, {"skill": "entity-resolution", "reference": "matching-rules.md"}
    )
    assert "Matching rules" in loaded["content"]
    for reference in ("../SKILL.md", "../scripts/duplicate_groups.py", "missing.md"):
        with pytest.raises(ToolExecutionError, match="not a reference"):
            skill_load_reference(ctx, {"skill": "entity-resolution", "reference": reference})


def test_an_agent_sees_listed_skills_and_the_body_of_the_selected_one(active_playbook, author):
    spec = {
        "name": "Uses skills",
        "skills": ["entity-resolution", "variance-detection"],
        "system_prompt": "Be brief.",
        "tools": ["tools.skill.load_reference"],
        "model": {"provider": "scripted", "name": "gpt-4o-mini", "responses": [{"content": "ok"}]},
        "steps": [
            {
                "id": "work",
                "agent": {
                    "instruction": "Resolve the customers",
                    "allowed_tools": ["tools.skill.load_reference"],
                    "skills": ["entity-resolution"],
                },
            }
        ],
    }
    run = run_start(playbook=active_playbook(spec), actor=author, inputs={})
    run_advance(run_id=run.pk)
    system = RunStep.objects.get(run=run, step_id="work").state["messages"][0]["content"]
    assert system.startswith(UNTRUSTED_INVARIANT)
    assert "- entity-resolution: Find records" in system
    assert "- variance-detection: Find the lines" in system
    assert "## Skill: entity-resolution" in system and "Never merge on a name alone" in system
    assert "## Skill: variance-detection" not in system
    assert system.count(UNTRUSTED_INVARIANT) == 1
