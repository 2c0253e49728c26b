"""Specs and page-reading helpers shared by the admin tests."""

import re
from typing import Any

from approvals.models import Approval
from approvals.services import approval_approve
from playbooks.engine.runner import run_advance
from playbooks.models import Run
from playbooks.runs.starting import run_start

PASSWORD = "correct-horse-battery"

WRITE_SPEC: dict[str, Any] = {
    "name": "Write a file",
    "steps": [
        {
            "id": "w",
            "tool": "tools.studio.files.write",
            "args": {"path": "a.txt", "content": "x"},
        }
    ],
    "tools": ["tools.studio.files.write"],
}
READ_SPEC: dict[str, Any] = {
    "name": "Read a file",
    "steps": [{"id": "r", "tool": "tools.studio.files.read", "args": {"path": "a.txt"}}],
    "tools": ["tools.studio.files.read"],
}


def rendered_body_hash(html: str) -> str:
    """The hash the approve form carries, exactly as the page rendered it."""
    match = re.search(r'name="body_hash" value="([0-9a-f]{64})"', html)
    assert match, "the approve form has no body_hash field"
    return match.group(1)


def page_messages(response: Any) -> list[str]:
    """The flash messages shown on a page reached with `follow=True`."""
    return [str(message) for message in response.context["messages"]]


def transition_buttons(html: str) -> list[str]:
    """Names of the lifecycle buttons on a playbook page, in order."""
    return re.findall(r'<button type="submit" class="button" name="transition" value="(\w+)"', html)


def fresh(obj: Any) -> Any:
    """The row as stored now; refresh_from_db() cannot reload a protected FSM field."""
    return type(obj)._default_manager.get(pk=obj.pk)


REPORT_SPEC: dict[str, Any] = {
    "name": "Weekly cleanup",
    "tools": ["tools.studio.files.write"],
    "steps": [
        {
            "id": "write_report",
            "tool": "tools.studio.files.write",
            "args": {
                "path": "report.md",
                "content": "# Weekly report\n\n*All* rows merged.\n\n<script>alert(1)</script>\n",
            },
        },
        {
            "id": "write_data",
            "tool": "tools.studio.files.write",
            "args": {
                "path": "data.csv",
                "content": "name,amount\n"
                + "".join(f"customer-{n},{n * 10}\n" for n in range(1, 16)),
            },
        },
        {
            "id": "sign_off",
            "approval": {"title": "Sign off the report", "payload": {"plan": "x" * 600}},
        },
    ],
    "outputs": {"report": "report.md"},
}


def finished_report_run(active_playbook: Any, author: Any, approver: Any) -> Any:
    """A run of REPORT_SPEC whose gate `approver` approved through the service, advanced to
    its end: three steps, a decided gate, a Markdown and a CSV artifact."""
    run = run_start(playbook=active_playbook(REPORT_SPEC), actor=author, inputs={})
    run_advance(run_id=run.pk)
    approval = Approval.objects.get(run=run, step="sign_off")
    approval_approve(approval=approval, actor=approver, body_hash=approval.body_hash)
    run_advance(run_id=run.pk)
    run = Run.objects.get(pk=run.pk)
    assert run.status == "succeeded", run.error
    return run
