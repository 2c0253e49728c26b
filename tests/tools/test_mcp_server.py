"""The MCP server at /mcp over real HTTP (uvicorn running the studio's ASGI app, lifespan on),
driven by the official SDK's own client: list and call tools with a run scope token, the
same refusals as the REST call, and a call that waits for approval."""

import asyncio
import time

import httpx
import httpx2
import jwt
import pytest
from django.conf import settings
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError

from approvals.models import Approval
from tests.support.live_server import studio_server
from tests.tools.conftest import spec_with
from tools.models import ToolInvocation
from tools.scope import scope_token_issue

pytestmark = pytest.mark.django_db(transaction=True)
ECHO, NOTIFY = "tools.studio.util.echo", "tools.test.notify"


@pytest.fixture(scope="module")
def base_url(django_db_setup, django_db_blocker, tmp_path_factory):
    log = tmp_path_factory.mktemp("mcp") / "uvicorn.log"
    with (
        django_db_blocker.unblock(),
        studio_server(log, AGENTSTUDIO_TOOL_MODULES="tests.engine.tools_for_tests") as base,
    ):
        yield base


def _with_client(base_url: str, token: str, work):
    async def go():
        http = httpx2.AsyncClient(headers={"Authorization": f"Bearer {token}"}, timeout=20)
        async with (
            http,
            Client(streamable_http_client(f"{base_url}/mcp", http_client=http)) as client,
        ):
            return await work(client)

    return asyncio.run(go())


def test_the_sdk_client_lists_and_calls_the_tools_in_scope(running_run, base_url):
    run = running_run(spec_with([ECHO]))
    token, _ = scope_token_issue(run)

    async def work(client):
        listed = await client.list_tools()
        called = await client.call_tool(ECHO, {"value": {"from": "mcp"}})
        invalid = await client.call_tool(ECHO, {"sleep_ms": "soon"})
        return listed, called, invalid

    listed, called, invalid = _with_client(base_url, token, work)
    assert [tool.name for tool in listed.tools] == [ECHO]
    assert listed.tools[0].annotations.read_only_hint is True
    assert (called.is_error, called.structured_content) == (False, {"value": {"from": "mcp"}})
    assert invalid.is_error is True and "sleep_ms" in invalid.content[0].text
    invocations = ToolInvocation.objects.filter(run=run, step_id="api", status="succeeded")
    assert invocations.count() == 1


def test_unknown_and_out_of_scope_tools_are_protocol_errors(running_run, base_url):
    run = running_run(spec_with([ECHO]))
    token, _ = scope_token_issue(run)

    async def work(client):
        errors = []
        for name in ("tools.nobody.here", "tools.studio.files.read"):
            try:
                await client.call_tool(name, {"path": "x"})
            except MCPError as exc:
                errors.append(exc.error.data["code"])
        return errors

    assert _with_client(base_url, token, work) == ["not_found", "permission_denied"]


def test_arguments_the_database_cannot_store_are_invalid_params(running_run, base_url):
    """NUL in arguments (names or values): refused as the REST parsers refuse it (the SDK's
    client cannot even send a lone surrogate; the same check refuses those)."""
    run = running_run(spec_with([ECHO]))
    token, _ = scope_token_issue(run)

    async def work(client):
        errors = []
        for arguments in ({"value": "a\x00b"}, {"value": {"k\x00": 1}}):
            try:
                await client.call_tool(ECHO, arguments)
            except MCPError as exc:
                errors.append((exc.error.code, exc.error.data["code"], exc.error.data["path"]))
        return errors

    assert _with_client(base_url, token, work) == [
        (-32602, "validation_error", "/arguments/value"),
        (-32602, "validation_error", "/arguments/value/k\x00"),
    ]
    assert not ToolInvocation.objects.filter(run=run).exists()


def test_a_bad_token_is_401_before_the_sdk(base_url):
    response = httpx.post(
        f"{base_url}/mcp",
        json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"},
        headers={"Authorization": "Bearer forged.token.value"},
    )
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "not_authenticated"


def test_a_call_that_needs_approval_answers_pending(running_run, base_url):
    run = running_run(spec_with([NOTIFY], max_risk="external_send"))
    token, _ = scope_token_issue(run)

    async def work(client):
        return await client.call_tool(NOTIFY, {"value": "hello"})

    result = _with_client(base_url, token, work)
    assert result.is_error is True
    assert result.structured_content["status"] == "pending"
    approval = Approval.objects.get(pk=result.structured_content["approval_id"])
    assert (approval.kind, approval.run_id, approval.tool) == ("tool_call", run.pk, NOTIFY)


def _post_tools_list(base_url: str, token: str) -> httpx.Response:
    return httpx.post(
        f"{base_url}/mcp",
        json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"},
        headers={"Authorization": f"Bearer {token}", "Accept": "application/json"},
    )


def _forged(token: str, key: str, **changes) -> str:
    claims = jwt.decode(token, options={"verify_signature": False})
    return jwt.encode({**claims, **changes}, key, algorithm="HS256")


@pytest.mark.parametrize("spoil", ["tampered", "expired", "finished run", "earlier attempt"])
def test_a_token_that_no_longer_holds_is_401(running_run, base_url, spoil):
    from playbooks.runs.services import run_cancel

    run = running_run(spec_with([ECHO]))
    token, _ = scope_token_issue(run)
    if spoil == "tampered":
        token = _forged(
            token, "a-key-that-is-not-the-signing-key-at-all", allowed_risk_max="secret"
        )
    elif spoil == "expired":
        token = _forged(token, settings.SECRET_KEY, exp=int(time.time()) - 5)
    elif spoil == "finished run":
        run_cancel(run=run, actor=None)
    else:
        run.attempt += 1  # what a retry's transition does
        run.save(update_fields=["attempt"])
    response = _post_tools_list(base_url, token)
    assert (response.status_code, response.json()["error"]["code"]) == (401, "not_authenticated")
    assert not ToolInvocation.objects.filter(run=run).exists()


def test_a_token_narrowed_below_a_tools_risk_neither_lists_nor_calls_it(running_run, base_url):
    run = running_run(spec_with([ECHO]))
    token, _ = scope_token_issue(run)
    narrowed = _forged(token, settings.SECRET_KEY, allowed_risk_max="read")

    async def work(client):
        listed = await client.list_tools()
        try:
            await client.call_tool(ECHO, {"value": 1})
        except MCPError as exc:
            return listed, exc.error.data["code"], exc.error.message
        raise AssertionError("a call above the token's risk was answered")

    listed, code, message = _with_client(base_url, narrowed, work)
    assert (listed.tools, code) == ([], "permission_denied")
    assert "above this run's limit read" in message
    assert not ToolInvocation.objects.filter(run=run).exists()


def test_a_denied_risk_class_is_refused_without_calling(running_run, base_url):
    run = running_run(spec_with(["tools.test.peek_secret"], max_risk="secret"))
    token, _ = scope_token_issue(run)

    async def work(client):
        try:
            await client.call_tool("tools.test.peek_secret", {})
        except MCPError as exc:
            return exc.error.data["code"], exc.error.message
        raise AssertionError("a denied tool was called")

    code, message = _with_client(base_url, token, work)
    assert code == "permission_denied" and "denied by the approval policy" in message
    assert not ToolInvocation.objects.filter(run=run).exists()


def test_a_failure_inside_the_tool_is_a_result_with_is_error(running_run, base_url):
    run = running_run(spec_with(["tools.test.flaky"]))
    token, _ = scope_token_issue(run)

    async def work(client):
        return await client.call_tool("tools.test.flaky", {"fail_times": 1, "value": "v"})

    result = _with_client(base_url, token, work)
    assert result.is_error is True
    assert "flaky failure 1" in result.content[0].text
    invocation = ToolInvocation.objects.get(run=run)
    assert (invocation.tool, invocation.status) == ("tools.test.flaky", "failed")
