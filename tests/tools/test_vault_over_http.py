"""The vault over real HTTP (uvicorn running the studio's ASGI app): a handle-shaped argument
sent to /mcp is refused and resolves nothing, and the event stream of a run that failed on
a secret argument shows no secret."""

import json

import httpx
import pytest

from agentstudio.accounts.services import api_key_create
from tests.tools.conftest import spec_with
from tests.tools.test_mcp_server import _with_client, base_url  # noqa: F401  (the server)
from tests.tools.test_vault_forgery import HANDLE, refusal
from tests.tools.test_vault_scrub import (
    SCHEMA_ERROR,
    VALUE,
    failed_with_a_secret_in_its_arguments,
)
from tools.models import ToolInvocation
from tools.scope import scope_token_issue
from tools.vault import secret_set

pytestmark = pytest.mark.django_db(transaction=True)
ECHO = "tools.studio.util.echo"


def test_an_mcp_call_with_a_handle_is_refused(org, admin_user, running_run, base_url):  # noqa: F811
    secret_set(organization=org, actor=admin_user, name="api.token", value=VALUE)
    run = running_run(spec_with([ECHO]))
    token, _ = scope_token_issue(run)

    async def work(client):
        return await client.call_tool(ECHO, {"value": HANDLE})

    called = _with_client(base_url, token, work)
    assert called.is_error is True
    assert called.structured_content == {"error": refusal("/value")}
    assert VALUE not in called.model_dump_json()
    invocation = ToolInvocation.objects.get(run=run)
    assert (invocation.is_error, invocation.result) == (True, {"error": refusal("/value")})


def test_the_event_stream_of_a_run_failed_on_a_secret_argument_shows_no_secret(
    org,
    admin_user,
    active_playbook,
    author,
    base_url,  # noqa: F811
):
    run = failed_with_a_secret_in_its_arguments(org, admin_user, active_playbook, author)
    _key, raw = api_key_create(user=author, name="stream")
    with httpx.stream(
        "GET",
        f"{base_url}/api/v1/runs/{run.pk}/stream/",
        headers={"Authorization": f"Bearer {raw}"},
        timeout=20,
    ) as response:
        assert response.status_code == 200
        text = "".join(response.iter_text())
    assert VALUE not in text
    events = [
        json.loads(line.removeprefix("data: "))
        for line in text.splitlines()
        if line.startswith("data: ")
    ]
    by_type = {event["type"]: event["data"] for event in events}
    assert by_type["step.failed"]["error"] == SCHEMA_ERROR
    assert by_type["run.failed"]["error"] == f"step count failed: {SCHEMA_ERROR}"
