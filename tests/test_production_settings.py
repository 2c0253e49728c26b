"""Production settings: with the environment the README documents, `manage.py check --deploy`
reports nothing; the probes still answer over plain HTTP behind a TLS-terminating proxy."""

import os
import re
import secrets
import subprocess
import sys
from pathlib import Path

from rest_framework.test import APIClient

REPO = Path(__file__).resolve().parent.parent


def _documented_production_env() -> dict[str, str]:
    """The variables of the README's "Production settings" block, as written there."""
    readme = (REPO / "README.md").read_text()
    section = readme.split("### Production settings", 1)[1]
    block = section.split("```sh", 1)[1].split("```", 1)[0]
    pairs = re.findall(r"^([A-Z_]+)=(.*)$", block, flags=re.MULTILINE)
    return dict(pairs)


def test_check_deploy_reports_nothing_with_the_documented_production_env(tmp_path):
    documented = _documented_production_env()
    assert {
        "DJANGO_SECRET_KEY",
        "DJANGO_ALLOWED_HOSTS",
        "DJANGO_SECURE_HSTS_SECONDS",
        "DJANGO_SECURE_HSTS_INCLUDE_SUBDOMAINS",
        "DJANGO_SECURE_HSTS_PRELOAD",
        "DJANGO_SECURE_SSL_REDIRECT",
        "DJANGO_SESSION_COOKIE_SECURE",
        "DJANGO_CSRF_COOKIE_SECURE",
        "DJANGO_SECURE_PROXY_SSL_HEADER",
    } <= set(documented)
    environment = {
        **documented,
        "DJANGO_SECRET_KEY": secrets.token_urlsafe(64),  # a real one, not the README's placeholder
        "AGENTSTUDIO_VAR_DIR": str(tmp_path),  # nothing written into the checkout
        "PATH": os.environ.get("PATH", ""),
    }
    completed = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "DEBUG"],
        cwd=REPO,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr
    assert completed.stdout.strip() == "System check identified no issues (0 silenced)."


def test_the_default_env_is_what_check_deploy_warns_about(tmp_path):
    """The same check without the production variables does report: the test above can fail."""
    environment = {
        "DJANGO_SECRET_KEY": secrets.token_urlsafe(64),
        "DJANGO_ALLOWED_HOSTS": "studio.example.com",
        "AGENTSTUDIO_VAR_DIR": str(tmp_path),
        "PATH": os.environ.get("PATH", ""),
    }
    completed = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy"],
        cwd=REPO,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
    )
    reported = set(re.findall(r"\(security\.(W\d+)\)", completed.stderr + completed.stdout))
    assert reported == {"W004", "W008", "W012", "W016"}


def test_probes_answer_over_plain_http_while_everything_else_is_redirected(db, settings):
    settings.SECURE_SSL_REDIRECT = True
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    client = APIClient()
    assert client.get("/healthz").status_code == 200
    assert client.get("/readyz").status_code == 200
    redirected = client.get("/api/v1/me/")
    assert (redirected.status_code, redirected["Location"]) == (
        301,
        "https://testserver/api/v1/me/",
    )
    behind_proxy = client.get("/api/v1/me/", HTTP_X_FORWARDED_PROTO="https")
    assert behind_proxy.status_code == 401
