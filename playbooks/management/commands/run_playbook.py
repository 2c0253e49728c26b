"""`manage.py run_playbook SLUG --input key=value ... [--input-json JSON] [--user USERNAME]
[--org NAME] [--follow/--no-follow]`: start a run of an active playbook and follow it.

Input values parse as JSON when they are valid JSON, else as strings; `@path` copies a local
file into the run's workspace for a `format: binary` input. Following prints one line per
event (seq, type, step, summary) as the events table grows, and stops at the terminal event
(exit 0 succeeded, 1 failed or cancelled) or when the run pauses for a person (exit 3, with
the pending approval's id). The last line is always `run <id> <status>`. A worker must be
running for the run to advance; `--no-follow` only starts it.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser

from agentstudio.accounts.models import Membership, Organization, Role
from agentstudio.accounts.roles import can_start_runs, user_membership
from agentstudio.errors import AppError
from approvals.models import Approval, ApprovalKind, ApprovalStatus
from playbooks.models import Playbook, Run, RunEvent, RunStatus
from playbooks.models.runs import FINAL_RUN_STATUSES, PAUSED_RUN_STATUSES
from playbooks.runs.files import InputFile, binary_input_fields, input_file_from_path
from playbooks.runs.selectors import TERMINAL_EVENT_TYPES
from playbooks.runs.starting import run_start

POLL_SECONDS = 0.3
QUEUED_HINT_SECONDS = 10.0
EXIT_SUCCEEDED, EXIT_FAILED, EXIT_PAUSED, EXIT_REFUSED = 0, 1, 3, 2
SUMMARY_MAX_LENGTH = 100


def _refused(message: str) -> CommandError:
    return CommandError(message, returncode=EXIT_REFUSED)


def _organization(name: str | None) -> Organization:
    if name:
        organization = Organization.objects.filter(name=name).first()
        if organization is None:
            raise _refused(f"No organization named {name!r}.")
        return organization
    organizations = list(Organization.objects.all()[:2])
    if len(organizations) != 1:
        raise _refused("Name the organization with --org (or the user with --user).")
    return organizations[0]


def run_playbook_user(*, username: str | None, org_name: str | None) -> Any:
    """--user, else the organization's only admin."""
    if username:
        user = get_user_model().objects.filter(username=username).first()
        membership = user_membership(user) if user is not None else None
        if membership is None:
            raise _refused(f"No user {username!r} in any organization.")
        if org_name and membership.organization.name != org_name:
            raise _refused(f"{username} is not a member of {org_name!r}.")
        return user
    organization = _organization(org_name)
    admins = list(
        Membership.objects.filter(organization=organization, role=Role.ADMIN).select_related(
            "user"
        )[:2]
    )
    if len(admins) != 1:
        raise _refused(f"{organization.name} has {len(admins) or 'no'} admins: pass --user.")
    return admins[0].user


def _value(raw: str) -> Any:
    try:
        return json.loads(raw)
    except ValueError:
        return raw


def run_playbook_inputs(
    *, pairs: list[str], inputs_json: str | None, binary: list[str]
) -> tuple[dict[str, Any], list[InputFile]]:
    """The inputs (JSON base, then key=value pairs) and the local files for binary inputs."""
    inputs = _value(inputs_json) if inputs_json else {}
    if not isinstance(inputs, dict):
        raise _refused("--input-json must be a JSON object.")
    files: list[InputFile] = []
    for pair in pairs:
        key, equals, raw = pair.partition("=")
        if not equals or not key:
            raise _refused(f"--input {pair!r}: use key=value.")
        if key in binary:
            files = [item for item in files if item.field != key]
            files.append(_local_file(key, raw))
            inputs.pop(key, None)
        else:
            inputs[key] = _value(raw)
    for key in binary:
        if key in inputs:
            raise _refused(f"{key!r} is a file input: pass --input {key}=@path.")
    return inputs, files


def _local_file(field: str, raw: str) -> InputFile:
    if not raw.startswith("@"):
        raise _refused(f"{field!r} is a file input: pass --input {field}=@path.")
    local = Path(raw[1:]).expanduser()
    if not local.is_file():
        raise _refused(f"{local} is not a readable file.")
    try:
        return input_file_from_path(field, local)
    except AppError as exc:
        raise _refused(exc.message) from exc


def event_summary(event: RunEvent) -> str:
    """A few words on what the event says."""
    data = event.data or {}
    known = {
        "run.queued": lambda: f"version {data.get('version')}" if "version" in data else "",
        "run.started": lambda: f"attempt {data.get('attempt')}",
        "step.started": lambda: f"{data.get('kind')} (attempt {data.get('attempt')})",
        "step.succeeded": lambda: "",
        "step.failed": lambda: str(data.get("error", "")),
        "step.skipped": lambda: str(data.get("reason", "")),
        "tool.called": lambda: f"{data.get('tool')}" + (" (error)" if data.get("is_error") else ""),
        "llm.called": lambda: (
            f"{data.get('model')} {data.get('input_tokens')}+{data.get('output_tokens')} tokens"
        ),
        "approval.requested": lambda: f"{data.get('kind')} {data.get('title')!r}",
        "approval.decided": lambda: f"{data.get('kind')} {data.get('status')} by {data.get('by')}",
        "artifact.written": lambda: f"{data.get('path')} ({data.get('size')} bytes)",
        "run.paused": lambda: str(data.get("reason", "")),
        "run.failed": lambda: str(data.get("error", "")),
        "run.cancelled": lambda: f"by {data.get('by')}: {data.get('reason')}",
        "run.succeeded": lambda: json.dumps(data.get("outputs"), default=str),
    }
    render = known.get(event.type)
    text = render() if render else json.dumps(data, default=str, sort_keys=True)
    text = " ".join(text.split())
    return text if len(text) <= SUMMARY_MAX_LENGTH else text[: SUMMARY_MAX_LENGTH - 1] + "…"


class Command(BaseCommand):
    help = "Start a run of an active playbook and print its events as they happen."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("slug", help="The playbook's slug in the organization.")
        parser.add_argument(
            "--input",
            action="append",
            default=[],
            metavar="KEY=VALUE",
            help="An input; JSON if it parses, else a string; @path uploads a file.",
        )
        parser.add_argument("--input-json", help="All inputs as one JSON object.")
        parser.add_argument("--user", help="Run as this user (default: the org's only admin).")
        parser.add_argument("--org", help="The organization (default: the only one).")
        parser.add_argument(
            "--follow",
            action=argparse.BooleanOptionalAction,
            default=True,
            help="Print events until the run ends or pauses (default) or just start it.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        user = run_playbook_user(username=options["user"], org_name=options["org"])
        run = self._start(user, options)
        self.stdout.write(f"Started run {run.pk} of {run.playbook.slug} v{run.version.number}")
        if not options["follow"]:
            self._last_line(run)
            return
        code = self._follow(run)
        if code != EXIT_SUCCEEDED:
            raise SystemExit(code)

    def _start(self, user: Any, options: dict[str, Any]) -> Run:
        slug, organization = options["slug"], user.membership.organization
        playbook = Playbook.objects.filter(organization=organization, slug=slug).first()
        if playbook is None:
            raise _refused(f"No playbook {slug!r} in {organization.name}.")
        if not can_start_runs(user, playbook):
            raise _refused(f"{user.get_username()} may not start runs of {slug}.")
        version = playbook.versions.filter(number=playbook.version).first()
        inputs, files = run_playbook_inputs(
            pairs=options["input"],
            inputs_json=options["input_json"],
            binary=binary_input_fields(version.spec if version else {}),
        )
        try:
            return run_start(playbook=playbook, actor=user, inputs=inputs, files=files)
        except AppError as exc:
            problems = "".join(f"\n  {d.get('path')}: {d.get('message')}" for d in exc.details)
            raise _refused(f"{exc.message}{problems}") from exc

    def _follow(self, run: Run) -> int:
        """Prints new events every POLL_SECONDS until the run ends or waits for a person."""
        last_seq, step, last_type = 0, "", ""
        hint_at: float | None = time.monotonic() + QUEUED_HINT_SECONDS
        while True:
            for event in RunEvent.objects.filter(run=run, seq__gt=last_seq).order_by("seq"):
                step = event.data.get("step") or step
                line = f"{event.seq:>4}  {event.type:<20} {step:<16} {event_summary(event)}"
                self.stdout.write(line.rstrip())
                last_seq, last_type = event.seq, event.type
                if event.type in TERMINAL_EVENT_TYPES:
                    run.refresh_from_db()
                    self._last_line(run)
                    return EXIT_SUCCEEDED if run.status == RunStatus.SUCCEEDED else EXIT_FAILED
            run.refresh_from_db()
            if run.status in PAUSED_RUN_STATUSES and last_type == "run.paused":
                self._explain_pause(run)
                self._last_line(run)
                return EXIT_PAUSED
            if (
                hint_at is not None
                and time.monotonic() > hint_at
                and run.status == RunStatus.QUEUED
            ):
                self.stdout.write("Still queued: is a worker running? (`make up` starts one)")
                hint_at = None
            time.sleep(POLL_SECONDS)

    def _explain_pause(self, run: Run) -> None:
        pending = Approval.objects.filter(run=run, status=ApprovalStatus.PENDING)
        for approval in pending.order_by("created_at"):
            payload = approval.payload if isinstance(approval.payload, dict) else {}
            waits_for = payload.get("question") or approval.title
            self.stdout.write(
                f"Waiting for {approval.kind} approval {approval.pk}: {waits_for}"
                f" (POST /api/v1/approvals/{approval.pk}/"
                f"{'answer' if approval.kind == ApprovalKind.QUESTION else 'approve'}/)"
            )
        for child in run.child_runs.exclude(status__in=FINAL_RUN_STATUSES):
            self.stdout.write(f"Waiting for sub-run {child.pk} ({child.status})")

    def _last_line(self, run: Run) -> None:
        self.stdout.write(f"run {run.pk} {run.status}")
