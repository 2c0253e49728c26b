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
from playbooks.runs.starting import run_start
from tests.support.processes import free_port
from tools.connections import connection_create, connection_refresh
from tools.models import ConnectionTool
from tools.registry import tool_registry
from tools.vault import secret_set

TOKEN = "remote-server-token-77"
SEEN: list = []


SKU_SCHEMA = {"type": "object", "properties": {"sku": {"type": "string"}}, "required": ["sku"]}
PRICE_SCHEMA = {
    "type": "object",
    "properties": {"sku": {"type": "string"}, "price": {"type": "number"}},
    "required": ["sku", "price"],
}


async def _list(ctx, params):
    return types.ListToolsResult(
        tools=[
            types.Tool(
                name="Lookup.Price",
                description="Price of a SKU",
                input_schema=SKU_SCHEMA,
                output_schema=PRICE_SCHEMA,
            ),
            types.Tool(
                name="send_order",
                description="Orders a SKU",
                input_schema=SKU_SCHEMA,
                output_schema={"type": "not-a-json-type"},  # malformed: must not be kept
            ),
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
    run = run_start(playbook=active_playbook(spec), actor=author, inputs={})
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
    run = run_start(playbook=active_playbook(spec), actor=author, inputs={})
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


def test_a_refresh_keeps_a_valid_output_schema_and_drops_a_malformed_one(connected):
    tools = {tool.name: tool for tool in ConnectionTool.objects.filter(connection=connected)}
    assert tools["lookup_price"].output_schema == PRICE_SCHEMA
    assert tools["send_order"].output_schema is None
    assert tool_registry.get("tools.shop.lookup_price").output_schema == PRICE_SCHEMA


@pytest.mark.parametrize("name", ["studio", "skill", "test"])
def test_a_connection_may_not_take_a_namespace_of_the_studios_own_tools(org, admin_user, name):
    from agentstudio.errors import AppError

    with pytest.raises(AppError, match="the studio's own tools"):
        connection_create(organization=org, actor=admin_user, name=name, url="http://127.0.0.1:1/")


def test_the_tool_list_shows_a_connections_tools_to_its_organization_only(
    connected, client_for, viewer, other_org, make_user
):
    mine = {t["name"]: t for t in client_for(viewer).get("/api/v1/tools/").json()["tools"]}
    assert mine["tools.shop.lookup_price"]["risk"] == "external_send"
    assert mine["tools.shop.lookup_price"]["annotations"]["openWorldHint"] is True
    assert mine["tools.shop.lookup_price"]["outputSchema"] == PRICE_SCHEMA
    assert "tools.studio.files.read" in mine
    outsider = make_user("viewer", organization=other_org)
    theirs = {t["name"] for t in client_for(outsider).get("/api/v1/tools/").json()["tools"]}
    assert "tools.studio.files.read" in theirs
    assert not {name for name in theirs if name.startswith("tools.shop.")}


def test_another_organization_can_neither_use_nor_call_a_connections_tools(
    connected, other_org, make_user, client_for
):
    from playbooks.spec.checked import spec_check
    from tools.broker import tool_call
    from tools.context import ToolContext
    from tools.policy import ToolRefused
    from tools.scope import ToolScope

    spec = {
        "name": "Borrowed tool",
        "tools": ["tools.shop.lookup_price"],
        "max_risk": "external_send",
        "steps": [{"id": "price", "tool": "tools.shop.lookup_price", "args": {"sku": "A-1"}}],
    }
    checked = spec_check(spec=spec, organization_id=other_org.pk)
    assert not checked.valid
    assert any("tools.shop.lookup_price" in p.message for p in checked.report.errors)
    assert spec_check(spec=spec, organization_id=connected.organization_id).valid

    outsider = make_user("author", organization=other_org)
    response = client_for(outsider).post("/api/v1/playbooks/", {"spec": spec}, format="json")
    assert (response.status_code, response.json()["error"]["code"]) == (400, "validation_error")

    # Even a scope that names the tool (it cannot be issued: no spec of theirs validates)
    # does not reach another organization's server.
    scope = ToolScope(
        run_id="0",
        playbook_id="0",
        organization_id=str(other_org.pk),
        allowed_tools=frozenset({"tools.shop.lookup_price"}),
        allowed_risk_max="secret",
        policy={},
    )
    context = ToolContext(run_id="0", step_id="s", call_key="0:s:1", workspace=None)
    with pytest.raises(ToolRefused) as refused:
        tool_call(
            scope=scope,
            run=None,
            step_id="s",
            key="0:s:1",
            name="tools.shop.lookup_price",
            arguments={"sku": "A-1"},
            context=context,
            timeout_seconds=5,
        )
    assert refused.value.code == "not_found"
    assert SEEN == []


def test_a_scope_token_lists_the_tools_it_may_call(connected, running_run, admin_user):
    from rest_framework.test import APIClient

    from tools.connections import connection_tool_classify
    from tools.scope import scope_token_issue

    tool = ConnectionTool.objects.get(connection=connected, name="lookup_price")
    connection_tool_classify(tool=tool, actor=admin_user, risk="read", untrusted=True)
    run = running_run(
        {
            "name": "Price check",
            "tools": ["tools.shop.lookup_price", "tools.studio.util.echo"],
            "steps": [{"id": "price", "tool": "tools.shop.lookup_price", "args": {"sku": "A"}}],
        }
    )
    token, _ = scope_token_issue(run)
    response = APIClient().get("/api/v1/tools/", HTTP_AUTHORIZATION=f"Bearer {token}")
    assert response.status_code == 200, response.json()
    listed = {t["name"]: t["risk"] for t in response.json()["tools"]}
    assert listed == {"tools.shop.lookup_price": "read", "tools.studio.util.echo": "compute"}


def test_the_admin_refuses_a_reserved_connection_name_on_the_form(admin_user, client):
    from tools.models import Connection

    client.force_login(admin_user)
    response = client.post(
        "/admin/tools/connection/add/", {"name": "studio", "url": "http://127.0.0.1:1/mcp"}
    )
    assert response.status_code == 200  # the form again, with the error on the name
    assert "the studio&#x27;s own tools" in response.content.decode()
    assert not Connection.objects.filter(name="studio").exists()
