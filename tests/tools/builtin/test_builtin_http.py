"""tools.studio.http.fetch and .post against a real local HTTP server, and the refusals of
private, loopback, link-local and metadata addresses (after DNS, on every redirect)."""

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from tools.builtin.http import MAX_FETCH_BYTES, http_post_dry_run
from tools.context import ToolExecutionError

FETCH, POST = "tools.studio.http.fetch", "tools.studio.http.post"


class _Handler(BaseHTTPRequestHandler):
    posts: list = []

    def log_message(self, *args):  # quiet
        pass

    def do_GET(self):
        routes = {
            "/hello": (200, b"<p>hello</p>", {}),
            "/hop": (302, b"", {"Location": "/hello"}),
            "/to-metadata": (302, b"", {"Location": "http://169.254.169.254/latest/meta-data"}),
            "/to-localhost": (302, b"", {"Location": "http://localhost:1/"}),
            "/loop": (302, b"", {"Location": "/loop"}),
            "/big": (200, b"x" * (MAX_FETCH_BYTES + 10), {}),
        }
        status, body, headers = routes.get(self.path, (404, b"nope", {}))
        self.send_response(status)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        _Handler.posts.append((self.path, dict(self.headers), json.loads(body)))
        answer = json.dumps({"received": True}).encode()
        self.send_response(201)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)


@pytest.fixture
def server(settings):
    settings.AGENTSTUDIO_HTTP_ALLOW = ["127.0.0.1"]
    _Handler.posts = []
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def test_fetch_follows_a_redirect_and_reports_the_final_url(call_tool, server):
    result = call_tool(FETCH, {"url": f"{server}/hop"})
    assert (result["url"], result["status"], result["body"]) == (
        f"{server}/hello",
        200,
        "<p>hello</p>",
    )
    assert result["content_type"].startswith("text/html") and result["truncated"] is False


def test_fetch_caps_the_body(call_tool, server):
    result = call_tool(FETCH, {"url": f"{server}/big"})
    assert (len(result["body"]), result["truncated"]) == (MAX_FETCH_BYTES, True)


@pytest.mark.parametrize("path", ["/to-metadata", "/to-localhost"])
def test_a_redirect_to_a_private_address_is_refused(call_tool, server, path):
    with pytest.raises(ToolExecutionError, match="private or local address"):
        call_tool(FETCH, {"url": f"{server}{path}"})


def test_loopback_is_refused_unless_allowed(call_tool, server, settings):
    settings.AGENTSTUDIO_HTTP_ALLOW = []
    with pytest.raises(ToolExecutionError, match="private or local address"):
        call_tool(FETCH, {"url": f"{server}/hello"})


@pytest.mark.parametrize(
    "url", ["http://10.1.2.3/", "http://169.254.169.254/", "http://[::1]/", "http://0.0.0.0/"]
)
def test_private_link_local_and_metadata_addresses_are_refused(call_tool, settings, url):
    settings.AGENTSTUDIO_HTTP_ALLOW = []
    with pytest.raises(ToolExecutionError, match="Refused"):
        call_tool(FETCH, {"url": url})


def test_endless_redirects_stop(call_tool, server):
    with pytest.raises(ToolExecutionError, match="redirected more than 5 times"):
        call_tool(FETCH, {"url": f"{server}/loop"})


def test_post_sends_json_once_with_the_calls_idempotency_key(call_tool, server, ctx):
    result = call_tool(
        POST, {"url": f"{server}/hook", "json": {"a": 1}, "headers": {"X-Trace": "t1"}}
    )
    assert result == {
        "dry_run": False,
        "status": 201,
        "body": {"received": True},
        "idempotency_key": ctx.call_key,
    }
    [(path, headers, body)] = _Handler.posts
    assert (path, body, headers["Idempotency-Key"], headers["X-Trace"]) == (
        "/hook",
        {"a": 1},
        ctx.call_key,
        "t1",
    )


def test_the_dry_run_renders_the_exact_request_and_sends_nothing(ctx, server):
    arguments = {"url": f"{server}/hook", "json": {"a": 1}, "headers": {"Idempotency-Key": "x"}}
    rendered = http_post_dry_run(ctx, arguments)
    assert rendered["dry_run"] is True and rendered["refused"] is None
    assert rendered["request"]["headers"]["Idempotency-Key"] == ctx.call_key  # never the caller's
    assert rendered["request"]["json"] == {"a": 1}
    assert _Handler.posts == []
