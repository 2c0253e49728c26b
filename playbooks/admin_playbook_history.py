"""The playbook page's history: every activated version (number, when, by whom, whether it is
the one runs start on) with a unified diff of its spec against the version before it, and the
playbook's latest runs (linked, status, started, duration, cost)."""

from __future__ import annotations

import difflib

from django.urls import reverse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

from agentstudio.moments import moment_text
from playbooks.admin_run_timeline import duration_text
from playbooks.admin_runs import run_status_badge, usd
from playbooks.models import Playbook, PlaybookStatus, PlaybookVersion, Run
from playbooks.spec.yaml_loader import spec_to_yaml

RECENT_RUNS_SHOWN = 10


def version_status(playbook: Playbook, version: PlaybookVersion) -> str:
    if version.number != playbook.version:
        return "superseded"
    if playbook.status == PlaybookStatus.ACTIVE:
        return "active"
    return f"latest (playbook {playbook.get_status_display().lower()})"


DIFF_CLASSES = {"+": "as-diff-add", "-": "as-diff-del", "@": "as-diff-hunk"}


def _diff_class(line: str) -> str:
    if line.startswith(("+++", "---")):
        return "as-diff-hunk"
    return DIFF_CLASSES.get(line[:1], "")


def spec_diff(previous: PlaybookVersion | None, version: PlaybookVersion) -> SafeString:
    """The unified diff of the spec's YAML; the first version shows its whole spec."""
    after = spec_to_yaml(version.spec).splitlines()
    if previous is None:
        before, label = [], "spec (first version)"
    else:
        before, label = spec_to_yaml(previous.spec).splitlines(), f"diff against v{previous.number}"
    lines = list(
        difflib.unified_diff(
            before,
            after,
            fromfile=f"v{previous.number}" if previous else "nothing",
            tofile=f"v{version.number}",
            lineterm="",
        )
    )
    if not lines:
        return format_html('<span class="as-note">{}</span>', "same spec as the version before")
    body = format_html_join(
        "\n",
        '<span class="{}">{}</span>',
        ((_diff_class(line), line) for line in lines),
    )
    return format_html(
        '<details class="as-fold as-version-diff"><summary>{} ({} lines)</summary>'
        '<pre class="as-code as-diff as-wrap">{}</pre></details>',
        label,
        len(lines),
        body,
    )


def _table(css: str, head: tuple[str, ...], rows: list[tuple[object, ...]]) -> SafeString:
    header = format_html_join("", "<th>{}</th>", ((cell,) for cell in head))
    body = format_html_join(
        "",
        "<tr>{}</tr>",
        ((format_html_join("", "<td>{}</td>", ((cell,) for cell in row)),) for row in rows),
    )
    return format_html('<table class="{}"><tr>{}</tr>{}</table>', css, header, body)


def playbook_versions(playbook: Playbook) -> SafeString:
    versions = list(
        PlaybookVersion.objects.filter(playbook=playbook)
        .select_related("activated_by")
        .order_by("number")
    )
    if not versions:
        return format_html('<p class="as-note">{}</p>', "Never activated.")
    rows = [
        (
            f"v{version.number}",
            moment_text(version.created_at),
            version.activated_by.get_username() if version.activated_by else "system",
            version_status(playbook, version),
            spec_diff(versions[position - 1] if position else None, version),
        )
        for position, version in enumerate(versions)
    ]
    rows.reverse()
    return _table("as-versions", ("version", "created", "by", "status", "spec"), rows)


def playbook_recent_runs(playbook: Playbook) -> SafeString:
    runs = list(
        Run.objects.filter(playbook=playbook)
        .select_related("playbook", "version")
        .order_by("-created_at")[:RECENT_RUNS_SHOWN]
    )
    if not runs:
        return format_html('<p class="as-note">{}</p>', "No runs yet.")
    rows = [
        (
            format_html(
                '<a href="{}" class="as-run">{}</a>',
                reverse("admin:playbooks_run_change", args=[run.pk]),
                str(run),
            ),
            f"v{run.version.number}",
            run_status_badge(run.status),
            moment_text(run.started_at),
            duration_text(run.finished_at - run.started_at)
            if run.started_at and run.finished_at
            else "—",
            usd(run.usage_usd),
        )
        for run in runs
    ]
    return _table(
        "as-recent-runs", ("run", "version", "status", "started", "duration", "cost"), rows
    )
