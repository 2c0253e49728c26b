"""Fixtures for the admin tests: playbooks built through the services, logged-in clients."""

from collections.abc import Callable
from typing import Any

import pytest
from django.test import Client

from playbooks.models import Playbook
from playbooks.services import playbook_create
from playbooks.spec.checked import spec_check
from tests.admin.helpers import PASSWORD, WRITE_SPEC


@pytest.fixture
def make_playbook(db) -> Callable[..., Playbook]:
    """A draft created through the service, owned by `author`, in the author's organization."""

    def _make(author: Any, spec: dict[str, Any] | None = None, **fields: Any) -> Playbook:
        return playbook_create(
            organization=author.membership.organization,
            actor=author,
            checked=spec_check(spec=spec or WRITE_SPEC),
            **fields,
        )

    return _make


@pytest.fixture
def login() -> Callable[[Any], Client]:
    """A browser-free client logged into the admin as the given user."""

    def _login(user: Any) -> Client:
        client = Client()
        assert client.login(username=user.get_username(), password=PASSWORD)
        return client

    return _login
