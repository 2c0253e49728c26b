"""Where a run's files live: one directory per run under AGENTSTUDIO_WORKSPACE_ROOT."""

from pathlib import Path

from django.conf import settings


def run_workspace(run_id: object) -> Path:
    path = Path(settings.AGENTSTUDIO_WORKSPACE_ROOT) / str(run_id)
    path.mkdir(parents=True, exist_ok=True)
    return path
