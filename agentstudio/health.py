"""Liveness and readiness probes; they need no credentials."""

import time

from django.conf import settings
from django.db import connection
from django.http import HttpRequest, JsonResponse


def healthz(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"status": "ok"})


def _database_ready() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()
    return "ok"


def _broker_ready() -> str:
    from agentstudio.celery import app

    with app.connection_for_write() as broker:
        broker.ensure_connection(max_retries=1, timeout=2)
    return "ok"


def _redis_ready() -> str:
    import redis

    client = redis.Redis.from_url(settings.REDIS_URL, socket_connect_timeout=2, socket_timeout=2)
    try:
        client.ping()
    finally:
        client.close()
    return "ok"


def readyz(request: HttpRequest) -> JsonResponse:
    """200 when the database and broker (and Redis, when configured) answer; else 503."""
    probes = {"database": _database_ready, "broker": _broker_ready}
    if settings.REDIS_URL:
        probes["redis"] = _redis_ready
    checks: dict[str, str] = {}
    started = time.monotonic()
    for name, probe in probes.items():
        try:
            checks[name] = probe()
        except Exception as exc:  # a probe reports every failure, whatever its type
            checks[name] = f"error: {type(exc).__name__}"
    ready = all(value == "ok" for value in checks.values())
    body = {
        "status": "ready" if ready else "unavailable",
        "checks": checks,
        "database": "embedded" if settings.EMBEDDED_DATABASE else "external",
        "elapsed_ms": round((time.monotonic() - started) * 1000, 1),
    }
    return JsonResponse(body, status=200 if ready else 503)
