"""The OpenAPI document says what the API returns, and input the schema calls invalid is a
400 (each of these was a Schemathesis finding)."""

import uuid

import pytest

from agentstudio.accounts.models import Role
from playbooks.runs.services import run_cancel
from playbooks.services import playbook_create
from playbooks.spec.checked import spec_check
from tests.specs import READ_ONLY_SPEC
from tests.support.api_objects import schema_document

DOCUMENT = schema_document()
SCHEMAS = DOCUMENT["components"]["schemas"]


def _operation(operation_id: str) -> dict:
    for path_item in DOCUMENT["paths"].values():
        for operation in path_item.values():
            if operation["operationId"] == operation_id:
                return operation
    raise AssertionError(operation_id)


def _schema_of(content: dict) -> dict:
    schema = content["application/json"]["schema"]
    return SCHEMAS[schema["$ref"].rsplit("/", 1)[-1]] if "$ref" in schema else schema


@pytest.mark.parametrize(
    ("component", "field"),
    [
        ("Approval", "decided_by"),
        ("Approval", "requested_by"),
        ("Approval", "playbook"),
        ("LedgerEntry", "user"),
        ("Playbook", "blueprint"),
        ("Playbook", "created_by"),
        ("Run", "created_by"),
    ],
)
def test_fields_that_can_be_null_are_nullable(component, field):
    assert SCHEMAS[component]["properties"][field]["nullable"] is True


def test_a_member_email_may_be_empty():
    email = SCHEMAS["Membership"]["properties"]["email"]
    assert email["type"] == "string"
    assert "format" not in email


def test_the_promotion_202_is_the_approval_wrapped():
    accepted = _schema_of(_operation("playbooks_promote_create")["responses"]["202"]["content"])
    assert accepted["required"] == ["approval"]
    assert accepted["properties"]["approval"] == {"$ref": "#/components/schemas/Approval"}


@pytest.mark.parametrize(
    ("operation_id", "required"),
    [("approvals_partial_update", ["payload"]), ("members_partial_update", ["role"])],
)
def test_patch_bodies_keep_their_required_fields(operation_id, required):
    body = _schema_of(_operation(operation_id)["requestBody"]["content"])
    assert body["required"] == required


def test_every_operation_documents_the_error_envelope():
    error = {"$ref": "#/components/schemas/Error"}
    for path, path_item in DOCUMENT["paths"].items():
        for method, operation in path_item.items():
            for status in ("400", "401", "403", "404"):
                content = operation["responses"][status]["content"]
                assert content["application/json"]["schema"] == error, (method, path, status)
            if "requestBody" in operation:
                assert {"409", "413", "415"} <= set(operation["responses"]), (method, path)


def test_json_endpoints_document_json_bodies_only():
    # DRF's default parsers read forms too; the contract is JSON
    create = _operation("members_create")["requestBody"]["content"]
    assert list(create) == ["application/json"]
    upload = _operation("playbooks_runs_create")["requestBody"]["content"]
    assert set(upload) == {"application/json", "multipart/form-data"}


@pytest.mark.parametrize(
    "query", ["page_size=0", "page_size=501", "page_size=x", "page=x", "page="]
)
def test_bad_pagination_is_400_not_the_default_page(admin_user, client_for, query):
    response = client_for(admin_user).get(f"/api/v1/keys/?{query}")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "validation_error"


@pytest.mark.parametrize(
    ("url", "body", "path"),
    [
        ("/api/v1/keys/", {"name": 0}, "/name"),
        ("/api/v1/secrets/", {"name": "TOKEN", "value": 7}, "/value"),
        ("/api/v1/secrets/", {"name": "a b", "value": "v"}, "/name"),
    ],
)
def test_a_number_or_a_bad_name_where_a_string_is_due_is_400(
    admin_user, client_for, url, body, path
):
    response = client_for(admin_user).post(url, body, format="json")
    assert response.status_code == 400
    assert [row["path"] for row in response.json()["error"]["details"]] == [path]


def test_dry_run_takes_a_boolean_only(admin_user, client_for, org):
    checked = spec_check(spec=dict(READ_ONLY_SPEC), organization_id=org.pk)
    playbook = playbook_create(organization=org, actor=admin_user, checked=checked)
    response = client_for(admin_user).post(
        f"/api/v1/playbooks/{playbook.pk}/validate/", {"dry_run": 1}, format="json"
    )
    assert response.status_code == 400
    assert response.json()["error"]["details"][0]["path"] == "/dry_run"


@pytest.mark.parametrize("whose", ["unknown", "another organization's"])
def test_a_playbook_in_the_approvals_filter_that_you_cannot_see_is_no_rows(
    admin_user, client_for, make_user, other_org, whose
):
    playbook_id = uuid.uuid4()
    if whose != "unknown":
        stranger = make_user(Role.ADMIN, organization=other_org)
        checked = spec_check(spec=dict(READ_ONLY_SPEC), organization_id=other_org.pk)
        playbook_id = playbook_create(organization=other_org, actor=stranger, checked=checked).pk
    response = client_for(admin_user).get(f"/api/v1/approvals/?playbook={playbook_id}")
    assert response.status_code == 200
    assert response.json()["count"] == 0


def test_a_bad_after_is_400_even_with_a_good_last_event_id(running_run, author, client_for):
    run = run_cancel(run=running_run(READ_ONLY_SPEC), actor=author)  # final: the stream ends
    response = client_for(author).get(
        f"/api/v1/runs/{run.pk}/stream/?after=-1", HTTP_LAST_EVENT_ID="1"
    )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "validation_error"
