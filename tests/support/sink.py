"""A local HTTP sink: a real ThreadingHTTPServer on a spare loopback port that records every
POST (path, headers, body) and counts deliveries by Idempotency-Key.

Tests use it as the outside world a non-idempotent tool writes to. `delay_seconds` holds each
response back (the request is recorded first), so a test can kill a worker while its POST is
in flight; `stop()` cuts every pending delay short.
"""

from __future__ import annotations

import json
import threading
from collections import Counter
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass(frozen=True)
class SinkRequest:
    path: str
    headers: dict[str, str]
    body: bytes

    @property
    def idempotency_key(self) -> str | None:
        return self.headers.get("idempotency-key")

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class HttpSink:
    """Start with `HttpSink.start()`; always `stop()` (the fixtures do)."""

    server: ThreadingHTTPServer
    thread: threading.Thread
    requests: list[SinkRequest] = field(default_factory=list)
    delay_seconds: float = 0.0
    lock: threading.Lock = field(default_factory=threading.Lock)
    stopping: threading.Event = field(default_factory=threading.Event)
    received: threading.Condition = field(init=False)

    def __post_init__(self) -> None:
        self.received = threading.Condition(self.lock)

    @classmethod
    def start(cls) -> HttpSink:
        server = _SinkServer(("127.0.0.1", 0), _SinkHandler)
        thread = threading.Thread(target=server.serve_forever, name="http-sink", daemon=True)
        sink = cls(server=server, thread=thread)
        server.sink = sink
        thread.start()
        return sink

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}"

    def posts(self) -> list[SinkRequest]:
        with self.lock:
            return list(self.requests)

    def count_by_key(self) -> Counter[str | None]:
        return Counter(request.idempotency_key for request in self.posts())

    def wait_for_posts(self, count: int, timeout: float) -> list[SinkRequest]:
        """Blocks until at least `count` POSTs arrived; AssertionError after `timeout`."""
        with self.received:
            if not self.received.wait_for(lambda: len(self.requests) >= count, timeout):
                raise AssertionError(
                    f"the sink got {len(self.requests)} POSTs in {timeout} s, expected {count}"
                )
            return list(self.requests)

    def record(self, request: SinkRequest) -> None:
        with self.received:
            self.requests.append(request)
            self.received.notify_all()

    def stop(self) -> None:
        self.stopping.set()
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


class _SinkServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    sink: HttpSink


class _SinkHandler(BaseHTTPRequestHandler):
    server: _SinkServer
    protocol_version = "HTTP/1.1"

    def do_POST(self) -> None:
        sink = self.server.sink
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        sink.record(
            SinkRequest(
                path=self.path,
                headers={name.lower(): value for name, value in self.headers.items()},
                body=body,
            )
        )
        if sink.delay_seconds > 0:
            sink.stopping.wait(sink.delay_seconds)
        payload = b'{"ok": true}'
        try:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)
        except OSError:
            pass  # the client died while we waited (the point of the delay)

    def log_message(self, format: str, *args: Any) -> None:
        pass
