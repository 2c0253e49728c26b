"""Seeded API objects for the schema conformance test: one organization with an admin and
every kind of object the API names by id, plus throwaway objects for destructive calls."""

from __future__ import annotations

import copy
import hashlib
import io
import itertools
import json
from dataclasses import dataclass
from typing import Any

from django.core.management import call_command

from agentstudio.accounts.models import Organization, Role
from agentstudio.accounts.services import api_key_create, organization_create, user_create
from agentstudio.billing.services import credits_grant
from approvals.services import approval_create
from playbooks.blueprint_loader import blueprints_seed
from playbooks.engine.workspace import run_workspace
from playbooks.models import Artifact, Blueprint, Playbook, Run
from playbooks.runs.services import run_cancel
from playbooks.runs.starting import run_start
from playbooks.services import playbook_activate_as_system, playbook_create, playbook_promote
from playbooks.spec.checked import spec_check
from tests.specs import READ_ONLY_SPEC, WRITE_SPEC
from tools.vault import secret_set

ARTIFACT_PATH = "out/report.txt"


def schema_document() -> dict[str, Any]:
    """The document /api/v1/schema/ serves, generated in process (it reads no rows)."""
    out = io.StringIO()
    call_command("spectacular", "--format", "openapi-json", "--fail-on-warn", stdout=out)
    return json.loads(out.getvalue())


_COUNTER = itertools.count(1)


@dataclass
class ApiWorld:
    """The seeded organization: what the admin's key sees, and factories of throwaways."""

    organization: Organization
    admin: Any
    api_key: str
    member_id: str  # a member without an email
    blueprint_slug: str
    secret_name: str
    playbook: Any = None  # active, version 1
    run: Any = None  # cancelled (final) with an artifact, so its stream ends
    approval: Any = None  # a pending promotion approval

    def _name(self, stem: str) -> str:
        return f"{stem}-{next(_COUNTER)}"

    def promotable(self) -> Playbook:
        """A draft whose promotion alternately needs approval (202) and does not (200)."""
        return self.draft(WRITE_SPEC if next(_COUNTER) % 2 else READ_ONLY_SPEC)

    def draft(self, spec: dict | None = None) -> Playbook:
        checked = spec_check(
            spec=copy.deepcopy(spec or READ_ONLY_SPEC), organization_id=self.organization.pk
        )
        assert checked.valid
        return playbook_create(
            organization=self.organization,
            actor=self.admin,
            checked=checked,
            name=self._name("throwaway"),
        )

    def active(self) -> Playbook:
        return playbook_activate_as_system(playbook=self.draft())

    def archived(self) -> Playbook:
        playbook = self.active()
        playbook.archive()
        playbook.save()
        return playbook

    def queued_run(self) -> Run:
        return run_start(playbook=self.playbook, actor=self.admin, inputs={})

    def running_run(self) -> Run:
        run = self.queued_run()
        run.start()
        run.save()
        return run

    def failed_run(self) -> Run:
        run = self.running_run()
        run.fail()
        run.error = "failed for the test"
        run.save()
        return run

    def gate(self) -> Any:
        return approval_create(
            organization=self.organization,
            kind="gate",
            title="A throwaway gate",
            payload={"pack": "q3.xlsx"},
            requested_by=self.admin,
            run=self.running_run(),
            step="gate",
        )

    def question(self) -> Any:
        return approval_create(
            organization=self.organization,
            kind="question",
            title="A throwaway question",
            payload={"question": "Tone?", "schema": {"type": "string"}},
            requested_by=self.admin,
            run=self.running_run(),
            step="ask",
        )

    def promotion(self) -> Any:
        _playbook, approval = playbook_promote(playbook=self.draft(WRITE_SPEC), actor=self.admin)
        assert approval is not None, "WRITE_SPEC must need approval to promote"
        return approval

    def key_id(self) -> str:
        key, _raw = api_key_create(user=self.admin, name=self._name("throwaway"))
        return str(key.pk)

    def member(self) -> str:
        user = user_create(
            organization=self.organization, username=self._name("member"), role=Role.RUNNER
        )
        return str(user.membership.pk)

    def secret(self) -> str:
        name = self._name("THROWAWAY")
        secret_set(organization=self.organization, actor=self.admin, name=name, value="v")
        return name


def _artifact(run: Run) -> None:
    content = b"the report\n"
    target = run_workspace(run.pk) / ARTIFACT_PATH
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(content)
    Artifact.objects.create(
        run=run,
        path=ARTIFACT_PATH,
        content_type="text/plain",
        size=len(content),
        sha256=hashlib.sha256(content).hexdigest(),
        step_id="read",
    )


def api_world_seed() -> ApiWorld:
    """Creates the organization and its objects (committed rows: the app reads them)."""
    organization = organization_create(name="Schemathesis Org")
    admin = user_create(
        organization=organization, username="st-admin", role=Role.ADMIN, email="st@example.com"
    )
    # a member without an email: the API returns "" for it
    other = user_create(organization=organization, username="st-author", role=Role.AUTHOR)
    credits_grant(organization=organization, amount="1000000")  # every case may start runs
    _key, raw = api_key_create(user=admin, name="schemathesis")
    blueprints_seed()
    world = ApiWorld(
        organization=organization,
        admin=admin,
        api_key=raw,
        member_id=str(other.membership.pk),
        blueprint_slug=Blueprint.objects.order_by("slug").values_list("slug", flat=True)[0],
        secret_name="SEEDED_SECRET",
    )
    world.playbook = world.active()
    run = world.queued_run()
    _artifact(run)
    world.run = run_cancel(run=run, actor=admin)
    world.approval = world.promotion()
    secret_set(organization=organization, actor=admin, name=world.secret_name, value="v")
    return world
