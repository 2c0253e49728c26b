"""The audit chain: rows link by hash per stream; verify_audit finds the first broken link."""

from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from agentstudio.audit.chain import audit_append, audit_verify
from agentstudio.audit.models import AuditEvent


def test_rows_chain_and_verify(org):
    for index in range(3):
        audit_append(stream="test:a", type="thing.happened", data={"i": index})
    rows = list(AuditEvent.objects.filter(stream="test:a").order_by("seq"))
    assert [row.seq for row in rows] == [1, 2, 3]
    assert rows[1].prev_hash == rows[0].hash and rows[2].prev_hash == rows[1].hash
    assert list(audit_verify()) == []
    out = StringIO()
    call_command("verify_audit", stdout=out)
    assert out.getvalue().startswith("audit log intact")


def test_tampered_row_is_found(org):
    for index in range(3):
        audit_append(stream="test:b", type="thing.happened", data={"i": index})
    AuditEvent.objects.filter(stream="test:b", seq=2).update(data={"i": 99})
    broken = list(audit_verify())
    assert [(link.stream, link.seq) for link in broken] == [("test:b", 2)]
    with pytest.raises(CommandError, match="tampered"):
        call_command("verify_audit", stdout=StringIO(), stderr=StringIO())


def test_deleted_last_row_is_found(org):
    for index in range(2):
        audit_append(stream="test:c", type="thing.happened", data={"i": index})
    AuditEvent.objects.filter(stream="test:c", seq=2).delete()
    assert [link.stream for link in audit_verify()] == ["test:c"]
