"""Shared fixtures. The suite runs on real PostgreSQL and Redis and fails when they are absent."""

import copy
import socket
import uuid
from collections.abc import Callable
from urllib.parse import urlparse

import pytest
from django.conf import settings
from rest_framework.test import APIClient

from agentstudio.accounts.models import Organization, Role
from agentstudio.accounts.services import api_key_create, organization_create, user_create
from playbooks.models import Run
from playbooks.runs.starting import run_start
from playbooks.services import playbook_activate_as_system, playbook_create
from playbooks.spec.checked import spec_check


def _reachable(url: str, default_port: int) -> bool:
    parsed = urlparse(url)
    try:
        with socket.create_connection(
            (parsed.hostname or "127.0.0.1", parsed.port or default_port), timeout=2
        ):
            return True
    except OSError:
        return False


def pytest_sessionstart(session: pytest.Session) -> None:
    """Fail (never skip) when the real services the suite needs are missing."""
    database = settings.DATABASES["default"]
    if database["ENGINE"] != "django.db.backends.postgresql":
        pytest.exit("The test suite needs PostgreSQL: run `make test` (sets DATABASE_URL).", 2)
    if not settings.REDIS_URL:
        pytest.exit("The test suite needs Redis: run `make test` (sets REDIS_URL).", 2)
    postgres_url = f"postgres://{database['HOST'] or '127.0.0.1'}:{database['PORT'] or 5432}"
    for name, url, port in (
        ("PostgreSQL", postgres_url, 5432),
        ("Redis", settings.REDIS_URL, 6379),
    ):
        if not _reachable(url, port):
            pytest.exit(f"{name} is not reachable at {url}; start it (see README).", 2)


@pytest.fixture
def org(db) -> Organization:
    return organization_create(name="Acme")


@pytest.fixture
def other_org(db) -> Organization:
    return organization_create(name="Globex")


@pytest.fixture
def make_user(db, org) -> Callable[..., object]:
    counter = {"n": 0}

    def _make(
        role: str = Role.AUTHOR,
        *,
        organization: Organization | None = None,
        username: str | None = None,
        password: str | None = "correct-horse-battery",
    ):
        counter["n"] += 1
        name = username or f"{role}{counter['n']}"
        return user_create(
            organization=organization or org,
            username=name,
            role=role,
            password=password,
            email=f"{name}@example.com",
        )

    return _make


@pytest.fixture
def client_for() -> Callable[[object], APIClient]:
    """An API client authenticated with a fresh API key of the given user."""

    def _client(user) -> APIClient:
        client = APIClient()
        _key, raw = api_key_create(user=user, name="test")
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
        return client

    return _client


@pytest.fixture
def admin_user(make_user):
    return make_user(Role.ADMIN, username="alice-admin")


@pytest.fixture
def approver(make_user):
    return make_user(Role.APPROVER, username="ann-approver")


@pytest.fixture
def author(make_user):
    return make_user(Role.AUTHOR, username="bob-author")


@pytest.fixture
def runner(make_user):
    return make_user(Role.RUNNER, username="rita-runner")


@pytest.fixture
def viewer(make_user):
    return make_user(Role.VIEWER, username="vic-viewer")


@pytest.fixture(scope="session", autouse=True)
def _close_checkpoint_writer(django_db_setup):
    """The engine's checkpoint writer keeps its own connection to the test database; it
    must be gone before pytest-django drops that database (this finalizer runs first)."""
    yield
    from playbooks.engine.store.writer import checkpoint_writer

    checkpoint_writer.close()


@pytest.fixture
def active_playbook(author):
    """An active playbook of `spec` (which must validate), created by `owner` (the author by
    default) with `allowed` runners, and activated as the system."""

    def _make(spec: dict, *, owner=None, allowed=(), **extra):
        creator = owner or author
        checked = spec_check(
            spec=copy.deepcopy(spec), organization_id=creator.membership.organization_id
        )
        assert checked.valid, [problem.as_dict() for problem in checked.report.errors]
        playbook = playbook_create(
            organization=creator.membership.organization,
            actor=creator,
            checked=checked,
            allowed_users=list(allowed),
            **extra,
        )
        return playbook_activate_as_system(playbook=playbook)

    return _make


@pytest.fixture
def running_run(active_playbook, author):
    """A run of `spec` that a worker has started (the `start` transition, as it does)."""

    def _make(spec: dict) -> Run:
        run = run_start(playbook=active_playbook(spec), actor=author, inputs={})
        run.start()
        run.save()
        return run

    return _make


@pytest.fixture
def openai_server():
    """A local server speaking OpenAI Chat Completions (tests/support/model_servers.py)."""
    from tests.support.model_servers import OPENAI, model_server

    with model_server(OPENAI) as server:
        yield server


@pytest.fixture
def anthropic_server():
    """A local server speaking Anthropic Messages (tests/support/model_servers.py)."""
    from tests.support.model_servers import ANTHROPIC, model_server

    with model_server(ANTHROPIC) as server:
        yield server


@pytest.fixture(autouse=True)
def _rate_limit_prefix(settings) -> None:
    """Each test counts rate limits under a prefix of its own: tests (and xdist workers, whose
    databases reuse ids) sharing one Redis never throttle each other; the keys expire with
    their windows."""
    settings.AGENTSTUDIO_RATE_LIMIT_PREFIX = f"test-{uuid.uuid4().hex[:16]}"
