"""Organization, membership and API key pages: role changes and revocation go through the
account services; the key hash never appears."""

from django.urls import reverse

from agentstudio.accounts.models import ApiKey, Membership, Role
from agentstudio.accounts.services import api_key_create
from agentstudio.audit.models import AuditEvent
from tests.admin.helpers import fresh

KEYS_URL = reverse("admin:accounts_apikey_changelist")


def _membership_url(user):
    return reverse("admin:accounts_membership_change", args=[user.membership.pk])


def test_admin_changes_a_role_through_the_service(admin_user, runner, login):
    client = login(admin_user)

    response = client.post(_membership_url(runner), {"role": Role.APPROVER}, follow=True)

    assert response.status_code == 200
    runner = fresh(runner)
    assert runner.membership.role == Role.APPROVER
    assert runner.is_staff is True
    assert AuditEvent.objects.filter(
        type="member.role_changed", actor=admin_user, data__to=Role.APPROVER
    ).exists()


def test_approver_reads_members_but_cannot_change_roles(approver, runner, login):
    client = login(approver)

    assert client.get(_membership_url(runner)).status_code == 200
    response = client.post(_membership_url(runner), {"role": Role.ADMIN})

    assert response.status_code == 403
    assert Membership.objects.get(user=runner).role == Role.RUNNER


def test_members_of_another_organization_are_hidden(admin_user, make_user, other_org, login):
    foreign = make_user(Role.RUNNER, organization=other_org, username="globex-runner")
    client = login(admin_user)

    assert client.get(_membership_url(foreign)).status_code == 404
    listing = client.get(reverse("admin:accounts_membership_changelist"))
    assert foreign.membership not in list(listing.context["cl"].result_list)


def test_remove_yourself_is_refused_with_a_message(admin_user, login):
    client = login(admin_user)

    response = client.post(
        reverse("admin:accounts_membership_changelist"),
        {"action": "remove_members", "_selected_action": [str(admin_user.membership.pk)]},
        follow=True,
    )

    assert response.status_code == 200
    assert "You cannot remove yourself" in response.content.decode()
    assert Membership.objects.filter(user=admin_user).exists()


def test_api_keys_list_never_shows_the_hash(admin_user, runner, login):
    key, _raw = api_key_create(user=runner, name="ci")
    client = login(admin_user)

    listing = client.get(KEYS_URL)
    detail = client.get(reverse("admin:accounts_apikey_change", args=[key.pk]))

    assert key.prefix in listing.content.decode()
    for response in (listing, detail):
        assert response.status_code == 200
        assert key.key_hash not in response.content.decode()
    assert client.get(reverse("admin:accounts_apikey_add")).status_code == 403


def test_revoke_action_calls_the_service(admin_user, runner, login):
    key, _raw = api_key_create(user=runner, name="ci")
    client = login(admin_user)

    response = client.post(
        KEYS_URL, {"action": "revoke_keys", "_selected_action": [str(key.pk)]}, follow=True
    )

    assert response.status_code == 200
    key = fresh(key)
    assert key.revoked_at is not None
    assert AuditEvent.objects.filter(type="api_key.revoked", actor=admin_user).exists()


def test_approver_sees_only_their_own_keys(approver, runner, login):
    own, _ = api_key_create(user=approver, name="mine")
    api_key_create(user=runner, name="theirs")

    listing = login(approver).get(KEYS_URL)

    assert list(listing.context["cl"].result_list) == [own]


def test_organization_page_shows_only_your_own(org, other_org, approver, login):
    client = login(approver)

    listing = client.get(reverse("admin:accounts_organization_changelist"))

    assert list(listing.context["cl"].result_list) == [org]
    assert (
        client.get(reverse("admin:accounts_organization_change", args=[other_org.pk])).status_code
        == 404
    )
    assert client.get(reverse("admin:accounts_organization_add")).status_code == 403


def test_revoked_key_is_not_revoked_twice(admin_user, runner, login):
    key, _ = api_key_create(user=runner)
    client = login(admin_user)
    client.post(KEYS_URL, {"action": "revoke_keys", "_selected_action": [str(key.pk)]})
    first = ApiKey.objects.get(pk=key.pk).revoked_at

    client.post(KEYS_URL, {"action": "revoke_keys", "_selected_action": [str(key.pk)]})

    assert ApiKey.objects.get(pk=key.pk).revoked_at == first
    assert AuditEvent.objects.filter(type="api_key.revoked").count() == 1


def test_superuser_creates_an_organization_through_the_service(db):
    from django.contrib.auth import get_user_model
    from django.test import Client

    from agentstudio.accounts.models import Organization

    root = get_user_model().objects.create_superuser("root", "root@example.com", "pw-root-123")
    client = Client()
    client.force_login(root)

    response = client.post(
        reverse("admin:accounts_organization_add"), {"name": "Initech"}, follow=True
    )

    assert response.status_code == 200
    organization = Organization.objects.get(name="Initech")
    assert AuditEvent.objects.filter(
        type="organization.created", organization=organization
    ).exists()
