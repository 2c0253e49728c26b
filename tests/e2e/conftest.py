"""Fixtures for end-to-end tests: real Celery worker and beat processes on a private Redis,
the pytest-django test database (committed rows: `django_db(transaction=True)`), a local
HTTP sink, and active playbooks built from specs.

The test process sends its doorbells to the same private broker (the Celery app is pointed
at it for the duration of the test) and uses the same workspace root as the workers."""

from __future__ import annotations

from collections.abc import Iterator

import kombu.pools
import pytest
from django.db import connection

from agentstudio.celery import app as celery_app
from agentstudio.redis_client import redis_client
from tests.support.processes import ProcessStack, database_url, deadline
from tests.support.sink import HttpSink
from tests.support.tool_definitions import e2e_tools_register, e2e_tools_unregister

# Wall-time budget of one e2e test, from the start of its stack to the end of its body;
# `@pytest.mark.e2e_seconds(N)` gives a test that waits out the shipped timings a larger one.
E2E_TEST_SECONDS = 60


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> Iterator[None]:
    """On a failing e2e test, the tail of every child's log goes into the report."""
    outcome = yield
    report = outcome.get_result()
    stack = getattr(item, "_e2e_stack", None)
    if stack is not None and report.failed:
        report.sections.append((f"e2e process logs ({report.when})", stack.logs_tail()))


@pytest.fixture(autouse=True)
def e2e_tools() -> Iterator[None]:
    """tools.test.* exist in this process while an e2e test runs (workers load them through
    AGENTSTUDIO_TOOL_MODULES), so specs using them validate; then the registry is restored."""
    e2e_tools_register()
    try:
        yield
    finally:
        e2e_tools_unregister()


def _celery_reset_connections() -> None:
    """Closes every broker connection this process holds and forgets the pools: kombu keeps
    them in a registry keyed by URL, so a pool merely closed would be handed out again (to
    the default broker after the test, or to a later stack that reuses the port)."""
    kombu.pools.reset()
    celery_app._pool = None
    if "amqp" in celery_app.__dict__:
        celery_app.amqp._producer_pool = None


@pytest.fixture
def e2e_stack(request, transactional_db, settings, tmp_path_factory) -> Iterator[ProcessStack]:
    """A private Redis (started) and a harness for workers and beat (start them in the test).

    Torn down before the test database is flushed (it depends on `transactional_db`), so no
    worker holds a connection or a lock when pytest-django truncates the tables."""
    stack = ProcessStack(
        tmp_path_factory.mktemp("e2e"),
        database_url=database_url(connection.settings_dict),
        secret_key=settings.SECRET_KEY,
        var_dir=settings.VAR_DIR,
    )
    request.node._e2e_stack = stack
    budget = request.node.get_closest_marker("e2e_seconds")
    saved_broker = (celery_app.conf.broker_url, celery_app.conf.broker_transport_options)
    try:
        seconds = budget.args[0] if budget else E2E_TEST_SECONDS
        with deadline(seconds, what=request.node.nodeid):
            stack.start()
            _celery_reset_connections()
            celery_app.conf.broker_url = stack.broker_url
            celery_app.conf.broker_transport_options = {"visibility_timeout": 3600}
            settings.REDIS_URL = stack.redis_url
            settings.AGENTSTUDIO_WORKSPACE_ROOT = stack.workspace_root
            redis_client.cache_clear()
            yield stack
    finally:
        stack.close()
        _celery_reset_connections()
        celery_app.conf.broker_url, celery_app.conf.broker_transport_options = saved_broker
        redis_client.cache_clear()


@pytest.fixture
def http_sink() -> Iterator[HttpSink]:
    sink = HttpSink.start()
    try:
        yield sink
    finally:
        sink.stop()
