"""Limits hold across OS processes sharing one Redis: two processes hammer one key at the
same moment and together are allowed exactly the limit. And on the embedded default (no
REDIS_URL) each process counts on its own, which the web server's startup log says once."""

import json
import os
import subprocess
import sys
import time

from django.conf import settings

from agentstudio.ratelimits.limiter import (
    Subject,
    limit_check,
    limit_clear,
    limiter_storage,
    parse_limits,
)

HAMMER = """
import json, os, sys, time
import django
django.setup()
from agentstudio.ratelimits.limiter import Subject, limit_check, parse_limits
subject = Subject(kind="user", ident="shared", limits=parse_limits("1000 per minute"))
start_at, attempts = float(sys.argv[1]), int(sys.argv[2])
while time.time() < start_at:
    pass
allowed = sum(limit_check(scope="hammer", subjects=[subject]).allowed for _ in range(attempts))
print(json.dumps({"allowed": allowed, "pid": os.getpid()}))
"""


def test_two_processes_together_get_exactly_the_limit():
    prefix = settings.AGENTSTUDIO_RATE_LIMIT_PREFIX
    env = dict(
        os.environ,
        DJANGO_SETTINGS_MODULE="agentstudio.settings",
        REDIS_URL=settings.REDIS_URL,
        AGENTSTUDIO_RATE_LIMIT_PREFIX=prefix,
    )
    start_at = str(time.time() + 4)  # both have set Django up by then, and start together
    try:
        children = [
            subprocess.Popen(
                [sys.executable, "-c", HAMMER, start_at, "1500"],
                cwd=settings.BASE_DIR,
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
            )
            for _ in range(2)
        ]
        results = []
        for child in children:
            out, err = child.communicate(timeout=60)
            assert child.returncode == 0, err.decode()
            results.append(json.loads(out.decode().strip().splitlines()[-1]))
        assert sum(result["allowed"] for result in results) == 1000, results
        # they did race: each was allowed some (each alone could take all 1000)
        assert all(result["allowed"] > 0 for result in results), results
        # and this process sees the same counters: the key is full
        subject = Subject(kind="user", ident="shared", limits=parse_limits("1000 per minute"))
        assert limit_check(scope="hammer", subjects=[subject]).allowed is False
    finally:
        limit_clear(prefix=prefix)


def test_without_redis_limits_are_kept_in_this_processs_memory(settings):
    settings.REDIS_URL = ""
    assert type(limiter_storage()).__name__ == "MemoryStorage"
    subject = Subject(kind="user", ident="solo", limits=parse_limits("2 per minute"))
    decisions = [limit_check(scope="memory", subjects=[subject]) for _ in range(3)]
    assert [decision.allowed for decision in decisions] == [True, True, False]
    assert decisions[-1].retry_after >= 1


def test_a_limit_the_notation_cannot_read_stops_the_start():
    env = dict(
        os.environ,
        DJANGO_SETTINGS_MODULE="agentstudio.settings",
        AGENTSTUDIO_RATE_LIMIT_RUN_STARTS="lots per minute",
    )
    completed = subprocess.run(
        [sys.executable, "-c", "import django; django.setup()"],
        cwd=settings.BASE_DIR,
        env=env,
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert completed.returncode == 1
    stderr = completed.stderr.decode()
    assert "ImproperlyConfigured: AGENTSTUDIO_RATE_LIMIT_RUN_STARTS:" in stderr
    assert "write e.g. '30 per minute'" in stderr
