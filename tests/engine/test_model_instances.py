"""`model_instance` builds the instance the model's constructor builds, for the hot-path
models, and refuses what the constructor refuses."""

from __future__ import annotations

import uuid

import pytest
from django.db.models.signals import post_init
from django.utils import timezone

from agentstudio.audit.models import AuditEvent
from agentstudio.model_instances import model_instance
from playbooks.models import Run, RunStep
from tools.models import ToolInvocation


def _values(instance) -> dict:
    return {field.attname: getattr(instance, field.attname) for field in instance._meta.fields}


def test_same_values_state_and_related_cache_as_the_constructor():
    now, run = timezone.now(), Run(id=uuid.uuid4())
    step_values = dict(run_id=run.pk, index=3, step_id="s", kind="tool", started_at=now)
    fast, slow = model_instance(RunStep, **step_values), RunStep(**step_values)
    assert _values(fast) == _values(slow)
    assert fast.attempt == 1 and fast.error == "" and fast.input is None  # defaults
    assert (fast._state.adding, fast._state.db) == (True, None)

    call = dict(run=run, key="k", step_id="s", tool="t", arguments={}, status="started")
    fast_call = model_instance(ToolInvocation, idempotent=True, started_at=now, **call)
    slow_call = ToolInvocation(idempotent=True, started_at=now, **call)
    assert _values(fast_call) == _values(slow_call)
    assert fast_call.run is run  # cached: no query
    assert fast_call.run_id == run.pk

    first, second = model_instance(AuditEvent), model_instance(AuditEvent)
    assert first.pk != second.pk  # a callable default runs per instance
    assert first.data == {} and first.data is not second.data


def test_unknown_keywords_are_refused():
    with pytest.raises(TypeError, match="unexpected keyword argument 'colour'"):
        model_instance(RunStep, colour="red")


@pytest.mark.django_db
def test_an_instance_saves_like_any_other(active_playbook, author):
    from playbooks.runs.starting import run_start
    from tests.runs.conftest import ECHO_SPEC

    run = run_start(playbook=active_playbook(ECHO_SPEC), actor=author, inputs={"topic": "t"})
    row = model_instance(
        RunStep, run=run, index=0, step_id="s", kind="tool", status="running",
        started_at=timezone.now(),
    )  # fmt: skip
    row.save()
    assert RunStep.objects.get(pk=row.pk).step_id == "s"
    assert not row._state.adding


def test_models_with_init_receivers_go_through_the_constructor():
    seen = []

    def receiver(sender, instance, **kwargs):
        seen.append(instance)

    post_init.connect(receiver, sender=RunStep)
    try:
        row = model_instance(RunStep, index=0, step_id="s", kind="tool")
    finally:
        post_init.disconnect(receiver, sender=RunStep)
    assert seen == [row]
