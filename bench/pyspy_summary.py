"""Summarises py-spy's raw (collapsed) stacks of `python -m bench.profile_engine --loop N`:
only samples under `run_advance` count; each sample is charged to the package of its
innermost frame (own time) and to every engine function on its stack (inclusive time).

    py-spy record -r 500 -f raw -o stacks.txt -- .venv/bin/python -m bench.profile_engine --loop 60
    .venv/bin/python -m bench.pyspy_summary stacks.txt --steps 1200 --cpu-ms-per-step 8.8

py-spy leaves out idle threads by default, so the samples are the CPU the process used;
`--cpu-ms-per-step` (printed by the --loop run) turns sample shares into milliseconds.
"""

from __future__ import annotations

import argparse
import json
import re
from collections import Counter

_FRAME = re.compile(r"^(?P<function>.*) \((?P<file>[^()]*):(?P<line>\d+)\)$")
PACKAGES = (
    ("django/db/models/sql/", "django ORM: SQL compiler"),
    ("django/db/models/", "django ORM: models, querysets, fields"),
    ("django/db/backends/", "django db backend (cursor wrappers, psycopg adaptation)"),
    ("django/db/transaction", "django db: transactions"),
    ("django/", "django: other"),
    ("psycopg", "psycopg"),
    ("jinja2/", "jinja2"),
    ("jsonschema/", "jsonschema"),
    ("referencing/", "jsonschema"),
    ("django_fsm/", "django-fsm"),
    ("structlog/", "logging"),
    ("redis/", "redis client"),
    ("json/", "stdlib json"),
    ("concurrent/futures/", "threads: tool executor"),
    ("threading.py", "threads: tool executor"),
    ("playbooks/", "studio: playbooks (engine)"),
    ("tools/", "studio: tools (broker, echo)"),
    ("copy.py", "stdlib copy"),
    ("pathlib.py", "pathlib (workspace mkdir)"),
    ("uuid.py", "stdlib uuid"),
    ("datetime", "stdlib datetime"),
)
ENGINE_FUNCTIONS = (
    "step_execute",
    "execute_tool_step",
    "tool_call",
    "tool_execute",
    "schema_errors",
    "_validator",
    "template_render_value",
    "template_context",
    "tool_context",
    "run_workspace",
    "checkpoint_step",
    "run_lock",
    "step_row",
    "run_events_append_locked",
    "run_events_publish_on_commit",
    "submit",
    "_start",
    "_complete",
    "RunView.load",
    "result_text",
    "invocation_finish",
    "run_claim_lease",
    "run_release_lease",
    "lease_expiry",
    "Atomic.__exit__",
    "Model.save",
    "QuerySet.first",
    "QuerySet.get",
    "QuerySet.bulk_create",
    "BaseDatabaseWrapper.commit",
    "CursorWrapper.execute",
)


def _frames(stack: str) -> list[tuple[str, str]]:
    out = []
    for frame in stack.split(";"):
        match = _FRAME.match(frame)
        out.append((match["function"], match["file"]) if match else (frame, ""))
    return out


def package_of(file: str) -> str:
    for marker, name in PACKAGES:
        if marker in file:
            return name
    return "other" if file else "native"


def summarise(path: str, *, steps: int, cpu_ms_per_step: float | None) -> dict:
    own: Counter = Counter()
    inclusive: Counter = Counter()
    total = 0
    with open(path) as handle:
        for line in handle:
            stack, _, count = line.rstrip("\n").rpartition(" ")
            frames = _frames(stack)
            if not any(function == "run_advance" for function, _ in frames):
                continue
            n = int(count)
            total += n
            function, file = frames[-1]
            own[package_of(file)] += n
            seen = set()
            for function, file in frames:
                if function in ENGINE_FUNCTIONS and function not in seen:
                    seen.add(function)
                    inclusive[f"{function} ({file})"] += n
    scale = (cpu_ms_per_step / total) if cpu_ms_per_step and total else None

    def share(n: int) -> dict:
        entry = {"pct": round(100.0 * n / total, 1)}
        if scale is not None:
            entry["cpu_ms_per_step"] = round(n * scale, 3)
        return entry

    return {
        "samples_under_run_advance": total,
        "steps": steps,
        "own_time_by_package": {name: share(n) for name, n in own.most_common()},
        "inclusive_by_function": {name: share(n) for name, n in inclusive.most_common()},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("stacks")
    parser.add_argument("--steps", type=int, required=True)
    parser.add_argument("--cpu-ms-per-step", type=float)
    args = parser.parse_args()
    print(
        json.dumps(
            summarise(args.stacks, steps=args.steps, cpu_ms_per_step=args.cpu_ms_per_step), indent=2
        )
    )


if __name__ == "__main__":
    main()
