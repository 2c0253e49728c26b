"""The playbook pages: list with badges, the spec as escaped YAML, and lifecycle buttons that
call the services (only those valid now and allowed to the user's role)."""

from django.urls import reverse
from django.utils.html import escape

from agentstudio.accounts.models import Role
from agentstudio.audit.models import AuditEvent
from approvals.models import Approval, ApprovalKind, ApprovalStatus
from playbooks.blueprint_loader import blueprints_seed
from playbooks.models import Blueprint, PlaybookStatus
from playbooks.services import playbook_archive, playbook_promote
from playbooks.spec.yaml_loader import spec_to_yaml
from tests.admin.helpers import READ_SPEC, WRITE_SPEC, fresh, page_messages, transition_buttons

LIST_URL = reverse("admin:playbooks_playbook_changelist")


def _change_url(playbook):
    return reverse("admin:playbooks_playbook_change", args=[playbook.pk])


def _transition_url(playbook, name):
    return reverse("admin:playbooks_playbook_transition", args=[playbook.pk, name])


def _active(make_playbook, author):
    playbook, approval = playbook_promote(playbook=make_playbook(author, READ_SPEC), actor=author)
    assert approval is None
    return playbook


def test_change_page_renders_the_spec_as_escaped_yaml(make_playbook, author, admin_user, login):
    spec = {**WRITE_SPEC, "description": "Writes <script>alert(1)</script> & more"}
    playbook = fresh(make_playbook(author, spec))

    response = login(admin_user).get(_change_url(playbook))

    html = response.content.decode()
    assert response.status_code == 200
    assert escape(spec_to_yaml(playbook.spec)) in html
    assert "<script>alert(1)</script>" not in html
    assert "tools.studio.files.write" in html


def test_draft_offers_promote_only(make_playbook, author, admin_user, login):
    playbook = make_playbook(author)

    html = login(admin_user).get(_change_url(playbook)).content.decode()

    assert transition_buttons(html) == ["promote"]
    assert f'action="{_transition_url(playbook, "promote")}"' in html


def test_active_offers_demote_and_archive(make_playbook, author, admin_user, login):
    playbook = _active(make_playbook, author)

    html = login(admin_user).get(_change_url(playbook)).content.decode()

    assert transition_buttons(html) == ["demote", "archive"]


def test_archived_offers_restore(make_playbook, author, admin_user, login):
    playbook = playbook_archive(playbook=_active(make_playbook, author), actor=author)

    html = login(admin_user).get(_change_url(playbook)).content.decode()

    assert transition_buttons(html) == ["restore"]


def test_approver_sees_no_lifecycle_buttons(make_playbook, author, approver, login):
    playbook = _active(make_playbook, author)

    html = login(approver).get(_change_url(playbook)).content.decode()

    assert transition_buttons(html) == []
    assert "No lifecycle action is open to you" in html


def test_demote_button_works_for_an_admin(make_playbook, author, admin_user, login):
    playbook = _active(make_playbook, author)

    response = login(admin_user).post(_transition_url(playbook, "demote"), follow=True)

    assert response.redirect_chain[-1][0] == _change_url(playbook)
    assert any("is now draft" in message for message in page_messages(response))
    playbook = fresh(playbook)
    assert playbook.status == PlaybookStatus.DRAFT
    assert AuditEvent.objects.filter(type="playbook.demoted", actor=admin_user).exists()
    assert transition_buttons(response.content.decode()) == ["promote"]


def test_approver_may_not_demote(make_playbook, author, approver, login):
    playbook = _active(make_playbook, author)

    response = login(approver).post(_transition_url(playbook, "demote"))

    assert response.status_code == 403
    playbook = fresh(playbook)
    assert playbook.status == PlaybookStatus.ACTIVE


def test_transition_refused_by_the_service_is_a_message_not_an_error(
    make_playbook, author, admin_user, login
):
    playbook = make_playbook(author)

    response = login(admin_user).post(_transition_url(playbook, "archive"), follow=True)

    assert response.status_code == 200
    assert any("invalid_state" in message for message in page_messages(response))
    playbook = fresh(playbook)
    assert playbook.status == PlaybookStatus.DRAFT


def test_transition_urls_refuse_get_and_unknown_names(make_playbook, author, admin_user, login):
    playbook = make_playbook(author)
    client = login(admin_user)

    assert client.get(_transition_url(playbook, "promote")).status_code == 405
    assert client.post(_transition_url(playbook, "explode")).status_code == 404


def test_promote_that_needs_approval_links_to_the_approval(
    make_playbook, author, admin_user, login
):
    playbook = make_playbook(author)

    response = login(admin_user).post(_transition_url(playbook, "promote"), follow=True)

    approval = Approval.objects.get(playbook=playbook, kind=ApprovalKind.PROMOTION)
    approval_url = reverse("admin:approvals_approval_change", args=[approval.pk])
    assert approval.status == ApprovalStatus.PENDING
    assert approval.requested_by == admin_user
    assert any("Promotion waiting for approval" in message for message in page_messages(response))
    html = response.content.decode()
    assert f'href="{approval_url}"' in html
    assert transition_buttons(html) == []
    playbook = fresh(playbook)
    assert playbook.status == PlaybookStatus.DRAFT


def test_promote_without_approval_activates(make_playbook, author, admin_user, login):
    playbook = make_playbook(author, READ_SPEC)

    response = login(admin_user).post(_transition_url(playbook, "promote"), follow=True)

    assert any("active as version 1" in message for message in page_messages(response))
    playbook = fresh(playbook)
    assert (playbook.status, playbook.version) == (PlaybookStatus.ACTIVE, 1)
    assert "Activated versions" in response.content.decode()


def test_list_shows_badges_and_pending_promotion(make_playbook, author, approver, login):
    waiting, approval = playbook_promote(playbook=make_playbook(author), actor=author)
    active = _active(make_playbook, author)

    response = login(approver).get(LIST_URL)

    html = response.content.decode()
    assert response.status_code == 200
    assert "#2e7d32" in html  # the active badge
    assert "#6c757d" in html  # the draft badge
    approval_url = reverse("admin:approvals_approval_change", args=[approval.pk])
    assert f'href="{approval_url}">waiting for approval' in html
    assert {row.pk for row in response.context["cl"].result_list} == {waiting.pk, active.pk}


def test_list_filters_by_status_and_searches(make_playbook, author, approver, login):
    draft = make_playbook(author, WRITE_SPEC)
    active = _active(make_playbook, author)
    client = login(approver)

    only_active = client.get(LIST_URL, {"status__exact": "active"})
    searched = client.get(LIST_URL, {"q": "Write"})

    assert [row.pk for row in only_active.context["cl"].result_list] == [active.pk]
    assert [row.pk for row in searched.context["cl"].result_list] == [draft.pk]


def test_other_organization_cannot_see_the_playbook(
    make_playbook, author, make_user, other_org, login
):
    playbook = make_playbook(author)
    outsider = make_user(Role.ADMIN, organization=other_org, username="olga-outsider")
    client = login(outsider)

    assert client.get(_change_url(playbook)).status_code == 404
    assert list(client.get(LIST_URL).context["cl"].result_list) == []
    assert client.post(_transition_url(playbook, "promote")).status_code == 404


def test_nobody_edits_a_playbook_in_the_admin(make_playbook, author, admin_user, login):
    playbook = make_playbook(author)
    client = login(admin_user)

    assert client.get(reverse("admin:playbooks_playbook_add")).status_code == 403
    assert client.post(_change_url(playbook), {"status": "active"}).status_code == 403
    playbook = fresh(playbook)
    assert playbook.status == PlaybookStatus.DRAFT


def test_blueprint_page_shows_the_catalogue_card_and_yaml(approver, login):
    blueprints_seed()
    blueprint = Blueprint.objects.order_by("slug").first()
    client = login(approver)

    page = client.get(reverse("admin:playbooks_blueprint_change", args=[blueprint.pk]))

    html = page.content.decode()
    assert page.status_code == 200
    assert escape(blueprint.problem) in html
    assert escape(spec_to_yaml(blueprint.spec)) in html
    assert client.get(reverse("admin:playbooks_blueprint_add")).status_code == 403
    listing = client.get(reverse("admin:playbooks_blueprint_changelist"))
    assert len(listing.context["cl"].result_list) == Blueprint.objects.count()
