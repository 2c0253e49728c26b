"""Credit for 10 runs and many concurrent starts: exactly 10 start, from threads (each with
its own database connection) and from two processes, and the ledger sums to the balance."""

import os
import subprocess
import sys
import threading
import time
from decimal import Decimal
from pathlib import Path

import pytest
from django.db import connection

from agentstudio.billing.models import CreditHold
from agentstudio.billing.selectors import credit_balance
from agentstudio.errors import AppError, ErrorCode
from playbooks.models import Run
from playbooks.runs.starting import run_start
from tests.billing.conftest import ledger, ledger_sum
from tests.support.processes import database_url

pytestmark = pytest.mark.django_db(transaction=True)

ROOT = Path(__file__).resolve().parents[2]
THREADS = 25  # each its own connection; 25 x 4 = 100 starts (the server allows 100 in all)
STARTS_PER_THREAD = 4


def test_100_concurrent_starts_against_credit_for_10_start_exactly_10(
    grant, small_org, small_author, one_usd_playbook
):
    grant("10")  # max_usd is 1
    started: list[object] = []
    refused: list[str] = []
    barrier = threading.Barrier(THREADS)

    def starts() -> None:
        try:
            barrier.wait()
            for _ in range(STARTS_PER_THREAD):
                try:
                    started.append(
                        run_start(playbook=one_usd_playbook, actor=small_author, inputs={}).pk
                    )
                except AppError as exc:
                    refused.append(exc.code)
        finally:
            connection.close()

    threads = [threading.Thread(target=starts) for _ in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert len(started) == 10
    assert refused == [ErrorCode.INSUFFICIENT_CREDIT] * 90
    assert Run.objects.filter(playbook=one_usd_playbook).count() == 10
    assert CreditHold.objects.filter(organization=small_org).count() == 10
    assert credit_balance(organization=small_org) == (Decimal("0"), Decimal("10"))
    assert ledger_sum(small_org) == Decimal("0")
    assert [row[2] for row in ledger(small_org)][-1] == Decimal("0")


SCRIPT = """
import sys, time
from django.contrib.auth import get_user_model
from agentstudio.errors import AppError
from playbooks.models import Playbook
from playbooks.runs.starting import run_start
playbook = Playbook.objects.get(pk=sys.argv[1])
user = get_user_model().objects.get(pk=sys.argv[2])
while time.time() < float(sys.argv[3]):
    time.sleep(0.005)
started = refused = 0
for _ in range(int(sys.argv[4])):
    try:
        run_start(playbook=playbook, actor=user, inputs={})
        started += 1
    except AppError:
        refused += 1
print(f"started={started} refused={refused}")
"""


def test_two_processes_racing_for_credit_for_10_start_exactly_10(
    grant, small_org, small_author, one_usd_playbook
):
    grant("10")
    env = {**os.environ, "DATABASE_URL": database_url(connection.settings_dict)}
    go = f"{time.time() + 4:.3f}"  # both are up (Django set up) before either starts
    processes = [
        subprocess.Popen(
            [
                sys.executable,
                "-c",
                "import django, os, sys; "
                "os.environ.setdefault('DJANGO_SETTINGS_MODULE', 'agentstudio.settings'); "
                "django.setup(); sys.argv = sys.argv[1:]; exec(sys.argv[0])",
                SCRIPT,
                str(one_usd_playbook.pk),
                str(small_author.pk),
                go,
                "15",
            ],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    outputs = [process.communicate(timeout=120) for process in processes]
    assert [process.returncode for process in processes] == [0, 0], outputs
    lines = [out.strip().splitlines()[-1] for out, _err in outputs]
    counts = [dict(part.split("=") for part in line.split()) for line in lines]
    assert sum(int(c["started"]) for c in counts) == 10
    assert sum(int(c["refused"]) for c in counts) == 20
    assert Run.objects.filter(playbook=one_usd_playbook).count() == 10
    assert credit_balance(organization=small_org) == (Decimal("0"), Decimal("10"))
    assert ledger_sum(small_org) == Decimal("0")
