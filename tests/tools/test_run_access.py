"""tools reaches runs only through the RunAccess playbooks registers: it is registered once,
and a broker left without one says so instead of calling with no run."""

import jwt
import pytest
from django.conf import settings

from playbooks.runs.tool_calls import RUN_ACCESS
from tools import run_access as run_access_module
from tools.run_access import RunAccess, RunAccessMissing, run_access, run_access_register
from tools.scope import scope_token_verify


def test_playbooks_registers_the_run_access():
    assert run_access() is RUN_ACCESS


@pytest.fixture
def nothing_registered(monkeypatch):
    monkeypatch.setattr(run_access_module, "_registered", [])


def test_unregistered_it_fails_loudly_and_names_the_fix(nothing_registered):
    with pytest.raises(RunAccessMissing, match=r"PlaybooksConfig\.ready"):
        run_access()
    # a wiring fault, not a bad token (401): a signed token meets the missing wiring
    claims = {
        "run_id": "x",
        "attempt": 1,
        "exp": 9999999999,
        "jti": "j",
        "aud": "agentstudio:tools",
    }
    token = jwt.encode(
        claims, settings.AGENTSTUDIO_SCOPE_TOKEN_KEY or settings.SECRET_KEY, algorithm="HS256"
    )
    with pytest.raises(RunAccessMissing):
        scope_token_verify(token)


def test_a_second_different_registration_is_refused():
    other = RunAccess(**{**RUN_ACCESS.__dict__, "run_is_running": lambda run: True})
    with pytest.raises(ValueError, match="registered already"):
        run_access_register(other)
    run_access_register(RUN_ACCESS)  # the same one again is harmless
    assert run_access() is RUN_ACCESS
