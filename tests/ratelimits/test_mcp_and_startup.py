"""A real uvicorn on the embedded default for rate limits (no REDIS_URL): its startup log
says once that limits are per process, and MCP tool calls count against the same tool-call
limit as the REST call (here 2 a minute per run), refused as the protocol error
`rate_limited`."""

import asyncio
import json

import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError

from tests.support.live_server import studio_server
from tests.tools.conftest import spec_with
from tools.mcp_server import RATE_LIMITED
from tools.scope import scope_token_issue

pytestmark = pytest.mark.django_db(transaction=True)
ECHO = "tools.studio.util.echo"
PER_PROCESS = "rate limits: kept per process in memory (no REDIS_URL)"


@pytest.fixture(scope="module")
def server(django_db_setup, django_db_blocker, tmp_path_factory):
    log = tmp_path_factory.mktemp("ratelimits") / "uvicorn.log"
    with (
        django_db_blocker.unblock(),
        studio_server(log, REDIS_URL="", AGENTSTUDIO_RATE_LIMIT_TOOL_CALLS="2 per minute") as base,
    ):
        yield base, log


def test_the_startup_log_says_once_that_limits_are_per_process(server):
    _base, log = server
    lines = [json.loads(line) for line in log.read_text().splitlines() if PER_PROCESS in line]
    assert len(lines) == 1, log.read_text()
    assert (lines[0]["level"], lines[0]["shared"]) == ("warning", False)


def test_mcp_tool_calls_are_rate_limited_per_run(server, running_run):
    base, _log = server
    run = running_run(spec_with([ECHO]))
    token, _ = scope_token_issue(run)

    async def go():
        http = httpx2.AsyncClient(headers={"Authorization": f"Bearer {token}"}, timeout=20)
        async with http, Client(streamable_http_client(f"{base}/mcp", http_client=http)) as mcp:
            results = [await mcp.call_tool(ECHO, {"value": n}) for n in range(2)]
            try:
                await mcp.call_tool(ECHO, {"value": 3})
            except MCPError as exc:
                return results, exc
            return results, None

    results, refused = asyncio.run(go())
    assert [result.structured_content for result in results] == [{"value": 0}, {"value": 1}]
    assert refused is not None
    assert refused.error.code == RATE_LIMITED
    assert refused.error.data["code"] == "rate_limited"
    assert 1 <= refused.error.data["retry_after"] <= 60
    assert "Too many tool calls for this run (at most 2 per minute)" in refused.error.message
