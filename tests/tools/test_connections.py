"""Connections: a real MCP server built with the SDK runs on loopback; an admin registers it,
its tools are imported as external_send and untrusted, the admin classifies one as read in
the Django admin, and a playbook calls it through the broker."""

import contextlib
import threading
import time

import mcp_types as types
import pytest
import uvicorn
from mcp.server.lowlevel import Server
from mcp.server.streamable_http_manager import StreamableHTTPSessionManager
from starlette.applications import Starlette
from starlette.routing import Route

from approvals.models import Approval
from playbooks.engine.runner import Advance, run_advance
from playbooks.models import Run
from playbooks.run_services import run_create
from tests.support.processes import free_port
from tools.connections import connection_create, connection_refresh
from tools.models import ConnectionTool
from tools.registry import tool_registry
from tools.vault import secret_set

TOKEN = "remote-server-token-77"
SEEN: list = []


async def _list(ctx, params):
    schema = {"type": "object", "properties": {"sku": {"type": "string"}}, "required": ["sku"]}
    return types.ListToolsResult(
        tools=[
            types.Tool(name="Lookup.Price", description="Price of a SKU", input_schema=schema),
            types.Tool(name="send_order", description="Orders a SKU", input_schema=schema),
        ]
    )


async def _call(ctx, params):
    SEEN.append((params.name, dict(params.arguments or {})))
    price = {"sku": params.arguments["sku"], "price": 12.5}
    return types.CallToolResult(
        content=[types.TextContent(text=str(price))], structured_content=price
    )


@pytest.fixture(scope="module")
def remote():
    """An MCP server (the SDK's) on a spare loopback port that wants a bearer token."""
    server = Server("remote-shop", on_list_tools=_list, on_call_tool=_call)
    manager = StreamableHTTPSessionManager(app=server, stateless=True, json_response=True)

    class Endpoint:  # an ASGI app (Starlette would wrap a function as a request handler)
        async def __call__(self, scope, receive, send):
            await guarded(scope, receive, send)

    async def guarded(scope, receive, send):
        headers = dict(scope["headers"])
        if headers.get(b"authorization") != f"Bearer {TOKEN}".encode():
            await send({"type": "http.response.start", "status": 401, "headers": []})
            await send({"type": "http.response.body", "body": b""})
            return
        await manager.handle_request(scope, receive, send)

    @contextlib.asynccontextmanager
    async def lifespan(app):
        async with manager.run():
            yield

    app = Starlette(
        routes=[Route("/mcp", endpoint=Endpoint(), methods=["POST", "GET", "DELETE"])],
        lifespan=lifespan,
    )
    port = free_port()
    runner = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=runner.run, daemon=True)
    thread.start()
    for _ in range(100):
        if runner.started:
            break
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}/mcp"
    runner.should_exit = True
    thread.join(timeout=5)


@pytest.fixture
def connected(remote, org, admin_user, settings):
    settings.AGENTSTUDIO_HTTP_ALLOW = ["127.0.0.1"]
    SEEN.clear()
    secret_set(organization=org, actor=admin_user, name="shop.token", value=TOKEN)
    connection = connection_create(
        organization=org, actor=admin_user, name="shop", url=remote, auth_secret="shop.token"
    )
    assert connection_refresh(connection=connection, actor=admin_user) == 2
    return connection


def test_imported_tools_are_external_send_and_untrusted_until_classified(connected):
    tools = {tool.name: tool for tool in ConnectionTool.objects.filter(connection=connected)}
    assert set(tools) == {"lookup_price", "send_order"}
    assert tools["lookup_price"].remote_name == "Lookup.Price"
    assert {(t.risk, t.untrusted) for t in tools.values()} == {("external_send", True)}
    definition = tool_registry.get("tools.shop.lookup_price")
    assert (definition.risk, definition.untrusted_output, definition.open_world) == (
        "external_send",
        True,
        True,
    )


def test_an_admin_classifies_a_tool_as_read_and_a_playbook_calls_it(
    connected, admin_user, active_playbook, author, client
):
    tool = ConnectionTool.objects.get(connection=connected, name="lookup_price")
    client.force_login(admin_user)
    response = client.post(
        f"/admin/tools/connectiontool/{tool.pk}/change/", {"risk": "read", "untrusted": "on"}
    )
    assert response.status_code == 302, response.content[:500]
    tool.refresh_from_db()
    assert (tool.risk, tool.classified_by) == ("read", admin_user)

    spec = {
        "name": "Price check",
        "tools": ["tools.shop.lookup_price"],
        "steps": [{"id": "price", "tool": "tools.shop.lookup_price", "args": {"sku": "A-1"}}],
        "outputs": {"price": "{{ steps.price.output.price }}"},
    }
    run = run_create(playbook=active_playbook(spec), actor=author, inputs={})
    assert run_advance(run_id=run.pk) == Advance.FINISHED
    run = Run.objects.get(pk=run.pk)
    assert (run.status, run.outputs) == ("succeeded", {"price": 12.5})
    assert SEEN == [("Lookup.Price", {"sku": "A-1"})]  # called by its remote name
    assert TOKEN not in str(list(run.events.values_list("data", flat=True)))


def test_an_unclassified_tool_waits_for_approval(connected, active_playbook, author):
    spec = {
        "name": "Order",
        "tools": ["tools.shop.send_order"],
        "max_risk": "external_send",
        "steps": [{"id": "order", "tool": "tools.shop.send_order", "args": {"sku": "A-1"}}],
    }
    run = run_create(playbook=active_playbook(spec), actor=author, inputs={})
    assert run_advance(run_id=run.pk) == Advance.PAUSED
    assert Approval.objects.get(run=run).tool == "tools.shop.send_order"
    assert SEEN == []


def test_a_refresh_keeps_classifications_and_a_non_admin_may_not_register(
    connected, admin_user, approver, org
):
    from agentstudio.errors import AppError
    from tools.connections import connection_tool_classify

    tool = ConnectionTool.objects.get(connection=connected, name="lookup_price")
    connection_tool_classify(tool=tool, actor=admin_user, risk="read", untrusted=False)
    connection_refresh(connection=connected, actor=admin_user)
    tool.refresh_from_db()
    assert (tool.risk, tool.untrusted) == ("read", False)
    with pytest.raises(AppError):
        connection_create(organization=org, actor=approver, name="other", url="http://127.0.0.1:1/")
