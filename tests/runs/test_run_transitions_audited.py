"""A person's transition of a run (cancel, retry) is an audit row on the organization's
chain, beside the playbook transitions, and the chain still verifies."""

from agentstudio.audit.chain import audit_verify
from agentstudio.audit.models import AuditEvent
from playbooks.engine.runner import run_advance
from playbooks.runs.services import run_cancel, run_retry
from playbooks.runs.starting import run_start
from tests.runs.conftest import ECHO_SPEC, READ_SPEC


def _rows(run):
    return list(
        AuditEvent.objects.filter(type__startswith="run.", data__run=str(run.pk)).order_by("seq")
    )


def test_a_cancel_is_audited_with_who_and_why(active_playbook, author):
    run = run_start(playbook=active_playbook(ECHO_SPEC), actor=author, inputs={"topic": "t"})
    run_cancel(run=run, actor=author, reason="not needed")
    (row,) = _rows(run)
    assert row.type == "run.cancelled"
    assert row.stream == f"org:{run.organization_id}"
    assert row.actor_label == author.get_username()
    assert row.data == {
        "run": str(run.pk),
        "playbook": str(run.playbook_id),
        "from": "queued",
        "to": "cancelled",
        "reason": "not needed",
    }
    assert list(audit_verify()) == []


def test_a_retry_is_audited(active_playbook, author):
    run = run_start(playbook=active_playbook(READ_SPEC), actor=author, inputs={})
    run_advance(run_id=run.pk)  # notes.txt is missing: the read step fails
    run.refresh_from_db()
    assert run.status == "failed"
    run_retry(run=run, actor=author)
    (row,) = _rows(run)
    assert (row.type, row.data["from"], row.data["to"]) == ("run.retried", "failed", "queued")
    assert list(audit_verify()) == []
