"""Request parsing refuses what PostgreSQL cannot store (NUL, lone surrogates) and JSON nested
too deeply, with a 400 `validation_error` and a path, on every operation of the OpenAPI
schema: JSON, form and multipart bodies, query strings and YAML specs alike."""

import json

import pytest
from django.urls import URLPattern, URLResolver, get_resolver
from rest_framework.views import APIView

from agentstudio.accounts.models import Membership
from agentstudio.accounts.services import api_key_create
from agentstudio.api.request_checks import MAX_REQUEST_JSON_DEPTH, CheckedParser
from approvals.models import Approval
from playbooks.api.parsers import YAMLTextParser
from playbooks.blueprint_loader import blueprints_seed
from playbooks.engine.runner import run_advance
from playbooks.runs.starting import run_start
from tests.runs.conftest import ECHO_SPEC, GATE_SPEC, QUESTION_SPEC, UPLOAD_SPEC
from tools.vault import secret_set


def _schema_operations(client) -> list[tuple[str, str, dict]]:
    schema = client.get("/api/v1/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    paths = json.loads(schema.content)["paths"]
    return [
        (method, path, operation)
        for path, operations in paths.items()
        for method, operation in operations.items()
        if method in ("get", "post", "patch", "put", "delete")
    ]


@pytest.fixture
def world(admin_user, active_playbook, client_for, org):
    """One object of every kind an operation's path names, all visible to the admin."""
    client = client_for(admin_user)
    blueprints_seed()
    draft = client.post(
        "/api/v1/playbooks/", {"spec": ECHO_SPEC, "slug": "echo-draft"}, format="json"
    ).json()
    uploads = active_playbook(UPLOAD_SPEC, owner=admin_user)
    echo = active_playbook(ECHO_SPEC, owner=admin_user, slug="echo-active")
    run = run_start(playbook=echo, actor=admin_user, inputs={"topic": "x"})
    asking = run_start(
        playbook=active_playbook(QUESTION_SPEC, owner=admin_user), actor=admin_user, inputs={}
    )
    run_advance(run_id=asking.pk)
    gated = run_start(
        playbook=active_playbook(GATE_SPEC, owner=admin_user), actor=admin_user, inputs={}
    )
    run_advance(run_id=gated.pk)
    key, _raw = api_key_create(user=admin_user, name="spare")
    secret_set(organization=org, actor=admin_user, name="spare", value="v")
    values = {
        "/approvals/{id}/answer/": Approval.objects.get(run=asking).pk,
        "/approvals/{id}": Approval.objects.get(run=gated).pk,
        "/playbooks/{id}/runs/": uploads.pk,
        "/playbooks/{id}": draft["id"],
        "/runs/{id}": run.pk,
        "/keys/{id}": key.pk,
        "/members/{id}": Membership.objects.get(user=admin_user).pk,
        "/blueprints/{slug}": "blog-post-writer",
        "/secrets/{name}": "spare",
    }
    return client, values


def _url(path: str, values: dict) -> str:
    url = path
    for prefix, value in sorted(values.items(), key=lambda item: -len(item[0])):
        if prefix in url:
            url = url.replace(prefix, prefix.format(id=value, slug=value, name=value))
    return url.replace("{number}", "1").replace("{path}", "inputs/x.csv")


def _assert_refused(response, path: str) -> None:
    assert response.status_code == 400, response.content[:300]
    error = response.json()["error"]
    assert error["code"] == "validation_error"
    assert path in [detail["path"] for detail in error["details"]], error


JSON_BODIES = [
    ("nul in a value", '{"spec": {"name": ["ok", "a\\u0000b"]}}', "/spec/name/1"),
    ("nul in a key", '{"x\\u0000": 1}', "/x\u0000"),
    ("lone surrogate", '{"reason": "\\ud800"}', "/reason"),
    ("low surrogate", '{"answer": {"a": "x\\udfffy"}}', "/answer/a"),
    ("deep past the parser", "[" * 50_000 + "]" * 50_000, ""),
    (
        "one level too deep",
        '{"a": ' + "[" * MAX_REQUEST_JSON_DEPTH + "]" * MAX_REQUEST_JSON_DEPTH + "}",
        "/a" + "/0" * (MAX_REQUEST_JSON_DEPTH - 1),
    ),
]


@pytest.mark.parametrize(("case", "raw", "path"), JSON_BODIES, ids=[c[0] for c in JSON_BODIES])
def test_every_json_operation_refuses_unstorable_json(world, case, raw, path):
    client, values = world
    operations = [
        (method, route)
        for method, route, operation in _schema_operations(client)
        if "application/json" in operation.get("requestBody", {}).get("content", {})
    ]
    assert len(operations) >= 15
    for method, route in operations:
        url = _url(route, values)
        response = getattr(client, method)(url, data=raw, content_type="application/json")
        _assert_refused(response, path)


def test_json_nested_to_the_limit_is_parsed_and_never_a_500(world):
    client, values = world
    nested = "[" * (MAX_REQUEST_JSON_DEPTH - 1) + "]" * (MAX_REQUEST_JSON_DEPTH - 1)
    raw = '{"spec": ' + nested + ', "payload": ' + nested + ', "answer": ' + nested + "}"
    for method, route, operation in _schema_operations(client):
        if "application/json" not in operation.get("requestBody", {}).get("content", {}):
            continue
        url = _url(route, values)
        response = getattr(client, method)(url, data=raw, content_type="application/json")
        assert response.status_code < 500, (method, url, response.content[:300])
        if response.status_code == 400:  # refused by the endpoint's rules, not the parser
            paths = [detail["path"] for detail in response.json()["error"]["details"]]
            assert not any(p.count("/0") >= MAX_REQUEST_JSON_DEPTH - 1 for p in paths)


def test_every_form_and_multipart_operation_refuses_nul(world):
    """The schema documents JSON bodies (and the two uploads), but the browsable API's form
    and multipart parsers answer on every operation with a body: each refuses NUL with its
    path, unless the operation takes no such body at all (415)."""
    client, values = world
    checked = 0
    for method, route, operation in _schema_operations(client):
        if "requestBody" not in operation:
            continue
        url = _url(route, values)
        for body, path in (
            ({"inputs": '{"label": "x"}', "note": "a\x00b"}, "/note"),
            ({"inputs": '{"label": "x"}', "no\x00te": "b"}, "/no\x00te"),
        ):
            response = getattr(client, method)(url, body, format="multipart")
            if response.status_code != 415:
                _assert_refused(response, path)
                checked += 1
        response = getattr(client, method)(
            url, data="reason=a%00b", content_type="application/x-www-form-urlencoded"
        )
        if response.status_code != 415:
            _assert_refused(response, "/reason")
            checked += 1
    assert checked >= 15


@pytest.mark.parametrize("value", ["a%00b", "%ED%A0%80", "%00"])
def test_every_operation_refuses_nul_in_the_query_string(world, value):
    client, values = world
    operations = _schema_operations(client)
    for method, route, _operation in operations:
        url = _url(route, values)
        response = getattr(client, method)(f"{url}?search={value}&page=1")
        if value == "%ED%A0%80":  # undecodable bytes become U+FFFD: storable, never a 500
            assert response.status_code < 500, (method, url)
            continue
        _assert_refused(response, "/search")


def test_nul_in_a_url_path_is_refused(world):
    client, _values = world
    for url in ("/api/v1/blueprints/a%00b/", "/api/v1/playbooks/?status=draft%00"):
        response = client.get(url)
        assert response.status_code == 400, url
        assert response.json()["error"]["code"] == "validation_error"


@pytest.mark.parametrize(
    ("escape", "what"),
    [("\\0", "NUL"), ("\\x00", "NUL"), ("\\ud800", "surrogate"), ("\\udc00", "surrogate")],
)
@pytest.mark.parametrize(
    "content_type", ["application/yaml", "application/x-yaml", "text/yaml", "application/json"]
)
def test_yaml_specs_refuse_unstorable_escapes_with_a_line(world, escape, what, content_type):
    client, _values = world
    text = (
        "name: Escapes\nsteps:\n  - id: a\n    tool: tools.studio.util.echo\n"
        f'    args: {{value: "x{escape}"}}\ntools: [tools.studio.util.echo]\n'
    )
    body = json.dumps({"spec_yaml": text}) if content_type == "application/json" else text
    response = client.post("/api/v1/playbooks/import/", data=body, content_type=content_type)
    _assert_refused(response, "/steps/0/args/value")
    detail = response.json()["error"]["details"][0]
    assert (detail["line"], detail["column"]) == (5, 19)
    assert what in detail["message"]


def test_yaml_spec_with_a_nul_in_a_key_is_refused(world):
    client, _values = world
    text = 'name: x\n"a\\0": 1\nsteps: []\n'
    response = client.post("/api/v1/playbooks/import/", data=text, content_type="application/yaml")
    _assert_refused(response, "/a\x00")


def _views(resolver: URLResolver | None = None):
    for pattern in (resolver or get_resolver()).url_patterns:
        if isinstance(pattern, URLResolver):
            yield from _views(pattern)
        elif isinstance(pattern, URLPattern):
            view = getattr(pattern.callback, "cls", None)
            if view is not None and issubclass(view, APIView):
                yield pattern, view, getattr(pattern.callback, "initkwargs", {})


def test_every_api_view_parses_with_the_checked_parsers():
    """A new endpoint cannot slip past the checks by naming DRF's parsers itself."""
    seen = 0
    for pattern, view, initkwargs in _views():
        classes = initkwargs.get("parser_classes") or view.parser_classes
        for parser in classes:
            seen += 1
            assert issubclass(parser, CheckedParser | YAMLTextParser), (pattern, view, parser)
    assert seen > 20


@pytest.mark.parametrize(
    ("part", "path"),
    [
        ('{"label": "a\\u0000b"}', "/inputs/label"),
        ('{"label": "\\ud83d"}', "/inputs/label"),
        ("[" * 50_000 + "]" * 50_000, "/inputs"),
        ('{"label": NaN}', "/inputs"),
    ],
)
@pytest.mark.parametrize("as_file", [False, True])
def test_the_json_parts_of_a_multipart_start_are_checked_too(world, part, path, as_file):
    from django.core.files.uploadedfile import SimpleUploadedFile

    client, values = world
    url = _url("/api/v1/playbooks/{id}/runs/", values)
    inputs = SimpleUploadedFile("inputs.json", part.encode()) if as_file else part
    body = {"inputs": inputs, "dataset": SimpleUploadedFile("d.csv", b"a,b\n")}
    response = client.post(url, body, format="multipart")
    _assert_refused(response, path)


@pytest.mark.parametrize("value", ["²", "٣", "99999999999999999999", "-1", "1.5"])
def test_numeric_query_and_path_values_are_never_a_500(world, value):
    """`str.isdigit` takes "²" for a digit that `int` then refuses; huge numbers overflow."""
    client, values = world
    run, playbook = values["/runs/{id}"], values["/playbooks/{id}"]
    for url in (
        f"/api/v1/runs/{run}/events/?after={value}",
        f"/api/v1/runs/{run}/stream/?after={value}",
        f"/api/v1/playbooks/{playbook}/versions/1/diff/?against={value}",
        f"/api/v1/playbooks/{playbook}/versions/{value}/diff/",
        f"/api/v1/playbooks/{playbook}/versions/{value}/restore/",
    ):
        method = client.post if url.endswith("restore/") else client.get
        response = method(url)
        assert response.status_code < 500, (url, response.content[:200])
        if value in ("²", "-1", "1.5") and "?after=" in url:
            _assert_refused(response, "/after")
