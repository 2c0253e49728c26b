"""Cross-cutting HTTP behaviour: the error envelope, size limits, request ids, probes."""

import io
import json
import logging

from rest_framework.test import APIClient


def test_healthz_needs_no_credentials(db):
    response = APIClient().get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_readyz_checks_database_and_broker(db):
    body = APIClient().get("/readyz").json()
    assert body["status"] == "ready"
    assert body["checks"]["database"] == "ok"


def test_json_body_over_one_mebibyte_is_413(author, client_for):
    big = json.dumps({"spec": {"name": "x" * (1024 * 1024)}})
    response = client_for(author).post(
        "/api/v1/playbooks/", data=big, content_type="application/json"
    )
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "payload_too_large"


def test_malformed_json_is_400_validation_error(author, client_for):
    response = client_for(author).post(
        "/api/v1/playbooks/", data="{not json", content_type="application/json"
    )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "validation_error"


def test_unknown_api_path_is_404_envelope(author, client_for):
    response = client_for(author).get("/api/v1/nothing-here/")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


def test_malformed_uuid_is_404_not_500(author, client_for):
    response = client_for(author).get("/api/v1/playbooks/not-a-uuid/")
    assert response.status_code == 404


def test_request_id_is_echoed_or_generated(author, client_for):
    client = client_for(author)
    echoed = client.get("/api/v1/me/", HTTP_X_REQUEST_ID="abc-123")
    assert echoed["X-Request-Id"] == "abc-123"
    generated = client.get("/api/v1/me/", HTTP_X_REQUEST_ID="bad id with spaces")
    assert len(generated["X-Request-Id"]) == 32


def test_openapi_schema_and_docs_are_served(author, client_for):
    client = client_for(author)
    schema = client.get("/api/v1/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert schema.status_code == 200
    paths = json.loads(schema.content)["paths"]
    assert "/api/v1/playbooks/{id}/promote/" in paths
    docs = client.get("/api/v1/docs/")
    assert docs.status_code == 200
    assert b"cdn.jsdelivr" not in docs.content  # assets come from the sidecar package
    assert b"/static/drf_spectacular_sidecar/" in docs.content


def test_log_lines_are_json_with_request_id(author, client_for):
    handler = logging.getLogger().handlers[0]
    buffer = io.StringIO()
    previous = handler.setStream(buffer)
    try:
        client_for(author).get("/api/v1/me/", HTTP_X_REQUEST_ID="trace-me-1")
    finally:
        handler.setStream(previous)
    lines = [line for line in buffer.getvalue().splitlines() if "trace-me-1" in line]
    assert lines, "the request log line carries the request id"
    record = json.loads(lines[-1])
    assert record["request_id"] == "trace-me-1"
    assert record["path"] == "/api/v1/me/"
    assert record["level"] == "info"


def test_openapi_schema_generates_without_warnings(db, tmp_path):
    from django.core.management import call_command

    target = tmp_path / "schema.yaml"
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(target))
    assert "/api/v1/approvals/{id}/approve/" in target.read_text()
