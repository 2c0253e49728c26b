"""Skills in the Agent Skills format, loaded from AGENTSTUDIO_SKILL_DIRS.

A skill is a folder: `SKILL.md` (YAML front matter with `name` and `description`, then the
body), `references/` (documents read only through `tools.skill.load_reference`) and
`scripts/` (each `*.py` becomes the tool `tools.skill.<skill>.<script>`, risk `compute`
unless the front matter's `scripts:` entry declares more). A script runs in a subprocess:
isolated Python, a scrubbed environment, the run workspace as working directory, its
arguments as JSON on stdin and its result as JSON on stdout, killed at the call's timeout.

The front matter of the skills a playbook lists goes into an agent's system prompt; the
body of the skills an agent step selects is inlined there too.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import structlog
import yaml

from approvals.risk import RISK_CLASSES, RiskClass
from tools.context import ToolContext, ToolExecutionError
from tools.paths import file_inside
from tools.registry import ToolDefinition

_log = structlog.get_logger("agentstudio.skills")
SKILL_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
SCRIPT_NAME = re.compile(r"^[a-z0-9][a-z0-9_]{0,63}$")
MAX_SCRIPT_OUTPUT_BYTES = 4 * 1024 * 1024
MAX_REFERENCE_BYTES = 1024 * 1024


@dataclass(frozen=True)
class SkillScript:
    name: str
    path: Path
    risk: str
    description: str
    input_schema: dict[str, Any]


@dataclass
class Skill:
    name: str
    description: str
    body: str
    folder: Path
    scripts: dict[str, SkillScript] = field(default_factory=dict)

    def tool_name(self, script: str) -> str:
        return f"tools.skill.{self.name}.{script}"


def _front_matter(text: str) -> tuple[dict[str, Any], str]:
    if not text.startswith("---"):
        raise ValueError("SKILL.md must start with YAML front matter between --- lines")
    _, header, body = text.split("---", 2)
    meta = yaml.safe_load(header) or {}
    if not isinstance(meta, dict):
        raise ValueError("the front matter must be a mapping")
    return meta, body.strip()


def skill_load(folder: Path) -> Skill:
    """One skill folder; ValueError saying what is wrong with it."""
    meta, body = _front_matter((folder / "SKILL.md").read_text(encoding="utf-8"))
    name, description = meta.get("name"), meta.get("description")
    if not isinstance(name, str) or not SKILL_NAME.match(name):
        raise ValueError("`name` must be lowercase letters, digits, - or _ (at most 64)")
    if not isinstance(description, str) or not description.strip():
        raise ValueError("`description` is required")
    declared = meta.get("scripts") or {}
    skill = Skill(name=name, description=description.strip(), body=body, folder=folder)
    for path in sorted((folder / "scripts").glob("*.py")):
        script = path.stem
        if not SCRIPT_NAME.match(script):
            raise ValueError(f"script {path.name}: name it with lowercase letters, digits or _")
        spec = declared.get(script) or {}
        risk = spec.get("risk", RiskClass.COMPUTE)
        if risk not in RISK_CLASSES:
            raise ValueError(f"script {script}: unknown risk {risk!r}")
        skill.scripts[script] = SkillScript(
            name=script,
            path=path,
            risk=risk,
            description=str(spec.get("description") or f"Script {script} of skill {name}."),
            input_schema=spec.get("input_schema") or {"type": "object"},
        )
    return skill


class SkillRegistry:
    """The installed skills by name, and the tools their scripts became."""

    def __init__(self) -> None:
        self.skills: dict[str, Skill] = {}

    def load(self, directories: list[Path]) -> None:
        from tools.plugins import tool_plugin_register

        for directory in directories:
            for manifest in sorted(Path(directory).glob("*/SKILL.md")):
                try:
                    skill = skill_load(manifest.parent)
                except (OSError, ValueError, yaml.YAMLError) as exc:
                    _log.warning("skill not loaded", folder=str(manifest.parent), reason=str(exc))
                    continue
                self.skills[skill.name] = skill
                for script in skill.scripts.values():
                    tool_plugin_register(_script_definition(skill, script), _script_runner(script))

    def get(self, name: str) -> Skill | None:
        return self.skills.get(name)


def _script_definition(skill: Skill, script: SkillScript) -> ToolDefinition:
    return ToolDefinition(
        name=skill.tool_name(script.name),
        title=f"{skill.name}: {script.name}",
        description=script.description,
        input_schema=script.input_schema,
        output_schema=None,
        risk=script.risk,
        idempotent=script.risk in (RiskClass.READ, RiskClass.COMPUTE),
        untrusted_output=False,
        open_world=False,
        has_dry_run=False,
    )


def _script_runner(script: SkillScript) -> Any:
    def run(ctx: ToolContext, arguments: dict[str, Any]) -> Any:
        return skill_script_run(script, ctx, arguments)

    return run


def skill_script_run(script: SkillScript, ctx: ToolContext, arguments: Any) -> Any:
    """Runs the script: isolated Python (-I), only PATH/LANG/HOME in its environment, the
    workspace as cwd; the broker's timer bounds it (subprocess.run kills the child when
    interrupted). A non-zero exit or non-JSON output is a ToolExecutionError."""
    workspace = ctx.resolve(".")
    environment = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "HOME": str(workspace)}
    completed = subprocess.run(  # noqa: S603 - a fixed interpreter and an installed script
        [sys.executable, "-I", str(script.path)],
        input=json.dumps(arguments).encode(),
        capture_output=True,
        cwd=workspace,
        env=environment,
        timeout=None,  # the broker's timer interrupts; run() then kills the child
        check=False,
    )
    if completed.returncode != 0:
        tail = completed.stderr.decode(errors="replace").strip().splitlines()[-5:]
        raise ToolExecutionError(
            f"{script.name} exited with status {completed.returncode}: " + " | ".join(tail)
        )
    output = completed.stdout[:MAX_SCRIPT_OUTPUT_BYTES]
    try:
        return json.loads(output or b"null")
    except ValueError as exc:
        raise ToolExecutionError(f"{script.name} did not print JSON on stdout.") from exc


def skill_load_reference(ctx: ToolContext, arguments: dict[str, Any]) -> dict[str, Any]:
    """`tools.skill.load_reference`: one document under an installed skill's references/."""
    skill = skill_registry.get(arguments["skill"])
    if skill is None:
        raise ToolExecutionError(f"No installed skill named {arguments['skill']!r}.")
    root = (skill.folder / "references").resolve()
    target = file_inside(root, arguments["reference"])
    if target is None:
        raise ToolExecutionError(
            f"{arguments['reference']!r} is not a reference of {skill.name}; it has: "
            + ", ".join(sorted(p.name for p in root.glob("*") if p.is_file()))
        )
    content = target.read_bytes()[:MAX_REFERENCE_BYTES].decode("utf-8", errors="replace")
    return {"skill": skill.name, "reference": arguments["reference"], "content": content}


def skills_prompt(listed: list[str], selected: list[str]) -> str:
    """The system prompt's part about skills: each listed skill's name and description, and
    the body of each selected one."""
    parts = []
    known = [skill for name in listed if (skill := skill_registry.get(name)) is not None]
    if known:
        lines = [f"- {skill.name}: {skill.description}" for skill in known]
        parts.append(
            "Skills you can use (read their references with tools.skill.load_reference):\n"
            + "\n".join(lines)
        )
    for name in selected:
        skill = skill_registry.get(name)
        if skill is not None:
            parts.append(f"## Skill: {skill.name}\n\n{skill.body}")
    return "\n\n".join(parts)


skill_registry = SkillRegistry()
