"""A list filter naming another organization's object (or one the caller may not see)
answers exactly as one naming an id that does not exist: no existence oracle."""

import uuid

import pytest
from django.urls import URLPattern, URLResolver, get_resolver
from django_filters import ModelChoiceFilter, ModelMultipleChoiceFilter
from django_filters.rest_framework import DjangoFilterBackend
from rest_framework.test import APIRequestFactory

from agentstudio.accounts.models import Role
from approvals.models import Approval
from playbooks.engine.runner import run_advance
from playbooks.runs.starting import run_start
from tests.runs.conftest import ECHO_SPEC, GATE_SPEC


@pytest.fixture
def foreign(make_user, other_org, active_playbook):
    """Another organization's playbook, run and approval."""
    stranger = make_user(Role.ADMIN, organization=other_org, username="globex-admin")
    playbook = active_playbook(GATE_SPEC, owner=stranger)
    run = run_start(playbook=playbook, actor=stranger, inputs={})
    run_advance(run_id=run.pk)
    return {"playbook": playbook.pk, "run": run.pk, "approval": Approval.objects.get(run=run).pk}


FILTERS = [
    ("/api/v1/runs/", "playbook", "playbook"),
    ("/api/v1/approvals/", "playbook", "playbook"),
    ("/api/v1/approvals/", "run", "run"),
]


@pytest.mark.parametrize(("url", "param", "kind"), FILTERS)
@pytest.mark.parametrize("role", [Role.ADMIN, Role.APPROVER, Role.AUTHOR, Role.RUNNER])
def test_another_organizations_object_answers_like_an_unknown_id(
    foreign, make_user, client_for, url, param, kind, role
):
    client = client_for(make_user(role))
    other = client.get(url, {param: str(foreign[kind])})
    unknown = client.get(url, {param: str(uuid.uuid4())})
    assert (other.status_code, other.json()) == (unknown.status_code, unknown.json())
    if role != Role.RUNNER or url != "/api/v1/runs/":
        assert other.status_code == 200
        assert other.json() == {"count": 0, "next": None, "previous": None, "results": []}


@pytest.mark.parametrize(("url", "param", "kind"), FILTERS)
def test_an_invisible_object_of_the_own_organization_answers_like_an_unknown_id(
    active_playbook, make_user, client_for, url, param, kind
):
    """An author filtering by a colleague's playbook or run they may not see."""
    colleague = make_user(Role.AUTHOR, username="colleague")
    playbook = active_playbook(GATE_SPEC, owner=colleague)
    run = run_start(playbook=playbook, actor=colleague, inputs={})
    run_advance(run_id=run.pk)
    client = client_for(make_user(Role.AUTHOR))
    target = playbook.pk if kind == "playbook" else run.pk
    hidden = client.get(url, {param: str(target)})
    unknown = client.get(url, {param: str(uuid.uuid4())})
    assert (hidden.status_code, hidden.json()) == (unknown.status_code, unknown.json())
    assert hidden.json()["count"] == 0


@pytest.mark.parametrize(("url", "param", "kind"), FILTERS)
def test_the_filters_still_find_the_callers_own_objects(
    admin_user, active_playbook, client_for, url, param, kind
):
    playbook = active_playbook(GATE_SPEC, owner=admin_user)
    run = run_start(playbook=playbook, actor=admin_user, inputs={})
    run_advance(run_id=run.pk)
    run_start(playbook=active_playbook(ECHO_SPEC), actor=admin_user, inputs={"topic": "x"})
    target = playbook.pk if kind == "playbook" else run.pk
    response = client_for(admin_user).get(url, {param: str(target)})
    assert response.status_code == 200
    assert response.json()["count"] == 1


@pytest.mark.parametrize(("url", "param", "kind"), FILTERS)
def test_a_malformed_id_is_400_for_every_caller_alike(client_for, admin_user, url, param, kind):
    response = client_for(admin_user).get(url, {param: "not-a-uuid"})
    assert response.status_code == 400
    assert response.json()["error"]["details"][0]["path"] == f"/{param}"


def _list_views(resolver: URLResolver | None = None):
    for pattern in (resolver or get_resolver()).url_patterns:
        if isinstance(pattern, URLResolver):
            yield from _list_views(pattern)
        elif isinstance(pattern, URLPattern):
            view = getattr(pattern.callback, "cls", None)
            actions = getattr(pattern.callback, "actions", None) or {}
            if view is not None and actions.get("get") == "list":
                yield view, actions


def test_no_list_filter_looks_objects_up_by_choice(admin_user):
    """A model-choice filter answers 400 for an unknown id but filters for a foreign one;
    every filter naming an object compares ids instead (found here for each list view)."""
    request = APIRequestFactory().get("/")
    request.user = admin_user
    checked = 0
    for view_class, actions in _list_views():
        view = view_class(action_map=actions, format_kwarg=None, args=(), kwargs={})
        view.request = view.initialize_request(request)
        view.request.user = admin_user
        filterset_class = DjangoFilterBackend().get_filterset_class(view, view.get_queryset())
        if filterset_class is None:
            continue
        for name, declared in filterset_class.base_filters.items():
            checked += 1
            assert not isinstance(declared, ModelChoiceFilter | ModelMultipleChoiceFilter), (
                view_class.__name__,
                name,
            )
    assert checked >= 8
