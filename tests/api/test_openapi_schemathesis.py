"""Schemathesis against /api/v1/schema/: every operation, every check, a bounded and seeded
number of examples, as an admin of a seeded organization. No 5xx, no schema violation.

The app runs in process (WSGI) on committed rows (autocommit, tables flushed afterwards),
so one failing request cannot poison the next. Path parameters name seeded objects; a
destructive operation gets a fresh throwaway object per example. A case whose path is the
negative (invalid) part keeps the generated path, so 404/400 answers are checked too.

The schema is generated at import (`schema.parametrize()`, one test per operation):
Schemathesis' lazy `from_fixture` loader needs `Item._nodeid`, which pytest 9.2 removed."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import schemathesis
from django.core.management import call_command
from schemathesis.core.parameters import ParameterLocation

from agentstudio.wsgi import application
from tests.support.api_objects import ARTIFACT_PATH, ApiWorld, api_world_seed, schema_document

MAX_EXAMPLES = 8
SEED = 20261207

PathValues = Callable[[ApiWorld], dict[str, Any]]


def _playbook(world: ApiWorld) -> dict[str, Any]:
    return {"id": str(world.playbook.pk)}


def _run(world: ApiWorld) -> dict[str, Any]:
    return {"id": str(world.run.pk)}


# (METHOD, path template) -> the path parameters to send. Reads name the seeded objects;
# anything that changes or removes the object it names gets a throwaway of its own.
PATHS: dict[tuple[str, str], PathValues] = {
    ("GET", "/api/v1/approvals/{id}/"): lambda w: {"id": str(w.approval.pk)},
    ("PATCH", "/api/v1/approvals/{id}/"): lambda w: {"id": str(w.gate().pk)},
    ("POST", "/api/v1/approvals/{id}/approve/"): lambda w: {"id": str(w.gate().pk)},
    ("POST", "/api/v1/approvals/{id}/reject/"): lambda w: {"id": str(w.gate().pk)},
    ("POST", "/api/v1/approvals/{id}/undo/"): lambda w: {"id": str(w.gate().pk)},
    ("POST", "/api/v1/approvals/{id}/answer/"): lambda w: {"id": str(w.question().pk)},
    ("GET", "/api/v1/blueprints/{slug}/"): lambda w: {"slug": w.blueprint_slug},
    ("POST", "/api/v1/blueprints/{slug}/fork/"): lambda w: {"slug": w.blueprint_slug},
    ("DELETE", "/api/v1/keys/{id}/"): lambda w: {"id": w.key_id()},
    ("GET", "/api/v1/members/{id}/"): lambda w: {"id": w.member_id},
    ("PATCH", "/api/v1/members/{id}/"): lambda w: {"id": w.member()},
    ("DELETE", "/api/v1/members/{id}/"): lambda w: {"id": w.member()},
    ("GET", "/api/v1/playbooks/{id}/"): _playbook,
    ("PATCH", "/api/v1/playbooks/{id}/"): lambda w: {"id": str(w.draft().pk)},
    ("DELETE", "/api/v1/playbooks/{id}/"): lambda w: {"id": str(w.draft().pk)},
    ("POST", "/api/v1/playbooks/{id}/archive/"): lambda w: {"id": str(w.active().pk)},
    ("POST", "/api/v1/playbooks/{id}/demote/"): lambda w: {"id": str(w.active().pk)},
    ("POST", "/api/v1/playbooks/{id}/restore/"): lambda w: {"id": str(w.archived().pk)},
    ("POST", "/api/v1/playbooks/{id}/promote/"): lambda w: {"id": str(w.promotable().pk)},
    ("GET", "/api/v1/playbooks/{id}/export/"): _playbook,
    ("GET", "/api/v1/playbooks/{id}/promotion-requirements/"): _playbook,
    ("POST", "/api/v1/playbooks/{id}/runs/"): _playbook,
    ("POST", "/api/v1/playbooks/{id}/validate/"): _playbook,
    ("GET", "/api/v1/playbooks/{id}/versions/"): _playbook,
    ("GET", "/api/v1/playbooks/{id}/versions/{number}/diff/"): lambda w: {
        "id": str(w.playbook.pk),
        "number": 1,
    },
    ("POST", "/api/v1/playbooks/{id}/versions/{number}/restore/"): lambda w: {
        "id": str(w.active().pk),
        "number": 1,
    },
    ("GET", "/api/v1/runs/{id}/"): _run,
    ("GET", "/api/v1/runs/{id}/artifacts/"): _run,
    ("GET", "/api/v1/runs/{id}/artifacts/{path}"): lambda w: {
        "id": str(w.run.pk),
        "path": ARTIFACT_PATH,
    },
    ("GET", "/api/v1/runs/{id}/events/"): _run,
    ("GET", "/api/v1/runs/{id}/stream/"): _run,
    ("POST", "/api/v1/runs/{id}/cancel/"): lambda w: {"id": str(w.running_run().pk)},
    ("POST", "/api/v1/runs/{id}/retry/"): lambda w: {"id": str(w.failed_run().pk)},
    ("POST", "/api/v1/runs/{id}/scope-token/"): lambda w: {"id": str(w.running_run().pk)},
    ("DELETE", "/api/v1/secrets/{name}/"): lambda w: {"name": w.secret()},
}


CALLS: Counter[str] = Counter()  # cases sent per operation (tests/api/conftest.py reports)
REPORT: dict[str, Any] = {"max_examples": MAX_EXAMPLES, "seed": SEED}


@pytest.fixture(scope="module")
def api_world(django_db_setup, django_db_blocker) -> Iterator[ApiWorld]:
    """Seeded once for all operations, in autocommit like the app under a server; the
    tables are flushed afterwards as `transactional_db` would (seeding and flushing per
    operation would cost about two seconds each)."""
    started = time.monotonic()
    with django_db_blocker.unblock():
        try:
            yield api_world_seed()
        finally:
            call_command("flush", interactive=False, verbosity=0)
    REPORT["seconds"] = round(time.monotonic() - started)


# Operations whose input is also judged against state the schema cannot hold: a spec must
# pass the validator, `allowed_users` must be members, inputs must fit the playbook's input
# schema, an answer the question's schema. Schema-valid input may be 400 there.
STATEFUL_VALIDATION = [
    "playbooks_create",
    "playbooks_partial_update",
    "playbooks_import_create",
    "playbooks_validate_create",
    "playbooks_runs_create",
    "approvals_answer_create",
    "members_create",  # a username must be free
    "approvals_approve_create",  # batch and session scopes are for tool calls only
]
ACCEPTED_WITH_STATE_400 = ["2xx", "3xx", "400", "401", "403", "404", "409", "429", "5xx"]


def _config() -> Any:
    return schemathesis.Config.from_dict(
        {
            "seed": SEED,
            "generation": {
                "max-examples": MAX_EXAMPLES,
                "deterministic": True,
                "database": "none",  # no example database: every run is the same run
                # unknown headers and query parameters are ignored, as HTTP servers do
                "allow-extra-parameters": False,
                # No NUL in generated strings, for now: NUL inside a JSON body reached
                # PostgreSQL (jsonb refuses \u0000) as a 500 on POST /playbooks/{id}/runs/,
                # which the request-parsing change (h/parsing) turns into a 400 in one place.
                # Once that is merged, NUL in any string is refused by design, which this
                # schema cannot express, so positive_data_acceptance would flag it: either
                # keep this off or document the rule in the schema before turning it on.
                "allow-x00": False,
            },
            "phases": {"stateful": {"enabled": False}},
            "operations": [
                {
                    "include-operation-id": operation_id,
                    "checks": {
                        "positive_data_acceptance": {"expected-statuses": ACCEPTED_WITH_STATE_400}
                    },
                }
                for operation_id in STATEFUL_VALIDATION
            ]
            + [
                {
                    # The seeded organization has no provider for the AI services: a valid
                    # call is answered 503 feature_disabled, as documented (API.md).
                    "include-operation-id": "ai_services_tools_call_create",
                    "checks": {"not_a_server_error": {"enabled": False}},
                },
                {
                    # POST /tools/call/ checks the tool's name before the token (API.md): an
                    # unknown tool without a token is 404, where this check wants 401
                    "include-operation-id": "tools_call_create",
                    "checks": {"missing_required_header": {"enabled": False}},
                },
            ],
        }
    )


def _schema() -> Any:
    config = _config()
    loaded = schemathesis.openapi.from_dict(schema_document(), config=config)
    loaded.app = application  # in-process WSGI transport, as `from_wsgi` sets it
    return loaded


schema = _schema()


# The mark also makes pytest-django create the test database when this file runs alone: the
# conformance test reaches it through `django_db_blocker`, which marks do not see.
@pytest.mark.django_db
def test_every_operation_is_covered_by_the_path_table():
    """A new operation with path parameters must say which objects it acts on."""
    templated = {
        (result.ok().method.upper(), result.ok().path)
        for result in schema.get_all_operations()
        if "{" in result.ok().path
    }
    assert templated == set(PATHS)


@schema.parametrize()
def test_the_api_conforms_to_its_schema(case, api_world, django_db_blocker):
    values = PATHS.get((case.method.upper(), case.path))
    negative_path = bool(case.meta and case.meta.is_negative_at(ParameterLocation.PATH))
    with django_db_blocker.unblock():
        if values is not None and not negative_path:
            case.path_parameters = {**case.path_parameters, **values(api_world)}
        CALLS[case.operation.label] += 1
        case.call_and_validate(headers={"Authorization": f"Bearer {api_world.api_key}"})
