"""The signed POST sent to a run's callback_url when it ends."""

from __future__ import annotations

import hashlib
import hmac
import json

from django.conf import settings

from agentstudio.webhooks import signed_post
from playbooks.models import Run


def run_callback_secret(run_id: object) -> str:
    """Derived, never stored: returned once when the run is created."""
    return hmac.new(
        settings.SECRET_KEY.encode(), f"callback:{run_id}".encode(), hashlib.sha256
    ).hexdigest()


def run_callback_body(run: Run) -> bytes:
    return json.dumps(
        {
            "run": str(run.pk),
            "playbook": str(run.playbook_id),
            "status": run.status,
            "outputs": run.outputs,
            "error": run.error,
            "finished_at": run.finished_at.isoformat() if run.finished_at else None,
        },
        sort_keys=True,
        default=str,
    ).encode()


def run_send_callback(*, run_id: str) -> int:
    run = Run.objects.get(pk=run_id)
    if not run.callback_url or not run.is_final:
        return 0
    status = signed_post(
        run.callback_url,
        run_callback_body(run),
        secret=run_callback_secret(run.pk),
        headers={"X-Run-Id": str(run.pk)},
    )
    return status or 0
