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


def _standard_library_form(value) -> bytes:
    import json

    text = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    return text.encode("utf-8")


def test_canonical_json_is_the_standard_library_form_for_every_document():
    """Plain documents take orjson's fast path, everything else the standard library's; the
    bytes hashed are the same either way, so rows written before verify the same."""
    import datetime
    import random

    from agentstudio.audit.chain import canonical_json

    chooser = random.Random(7)
    code_points = [c for c in range(0x110000) if not 0xD800 <= c <= 0xDFFF]
    for _ in range(300):
        text = "".join(chr(chooser.choice(code_points)) for _ in range(20)) + '\x00\n"\\</'
        document = {
            text: [text, 2**63 - 1, -(2**63), True, None, {"b": 1, "a": {"é": text}}],
            "ascii": "x",
        }
        assert canonical_json(document) == _standard_library_form(document)
    for unusual in (
        {"float": 1e16, "small": 1e-05},
        {"when": datetime.datetime(2026, 11, 23, 12, 0, tzinfo=datetime.UTC)},
        {"big": 2**64},
        {1: "an integer key"},
        ("a", "tuple"),
    ):
        assert canonical_json(unusual) == _standard_library_form(unusual)
