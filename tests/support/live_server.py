"""The studio's ASGI app in a real uvicorn process on a spare loopback port, on the test
database, for tests that need real HTTP (streams, MCP, chunked bodies)."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
from django.conf import settings
from django.db import connection

from tests.support.processes import database_url, free_port


@contextlib.contextmanager
def studio_server(log: Path, *, lifespan: bool = True, **env: str) -> Iterator[str]:
    """Yields the base URL once /healthz answers; `env` adds to the child's environment.
    Call it where database access is allowed (django_db_blocker.unblock() in a fixture)."""
    port = free_port()
    child_env = dict(
        os.environ,
        DATABASE_URL=database_url(connection.settings_dict),
        DATABASE_CONN_MAX_AGE="0",
        AGENTSTUDIO_VAR_DIR=str(settings.VAR_DIR),
        AGENTSTUDIO_WORKSPACE_ROOT=str(settings.AGENTSTUDIO_WORKSPACE_ROOT),
        DJANGO_SETTINGS_MODULE="agentstudio.settings",
        **env,
    )
    command = [
        sys.executable, "-m", "uvicorn", "agentstudio.ops.asgi:application",
        "--host", "127.0.0.1", "--port", str(port), "--lifespan", "on" if lifespan else "off",
    ]  # fmt: skip
    with log.open("wb") as stream:
        process = subprocess.Popen(
            command, cwd=settings.BASE_DIR, env=child_env, stdout=stream, stderr=subprocess.STDOUT
        )
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(150):
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if process.poll() is not None:
                raise AssertionError("uvicorn exited:\n" + log.read_text())
            time.sleep(0.2)
        else:
            raise AssertionError("uvicorn did not start:\n" + log.read_text())
        yield base
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
