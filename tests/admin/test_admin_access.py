"""Who may enter the admin and what each role sees there: organization scoping, roles instead
of Django model permissions, superusers seeing everything."""

from django.contrib.auth import get_user_model
from django.test import Client
from django.urls import reverse

from agentstudio.accounts.models import Role
from agentstudio.audit.models import AuditEvent
from agentstudio.billing.models import LedgerEntry
from agentstudio.billing.services import credits_grant
from playbooks.services import playbook_promote
from tests.admin.helpers import PASSWORD


def test_runner_cannot_log_into_the_admin(runner):
    client = Client()

    response = client.post(
        reverse("admin:login"), {"username": runner.username, "password": PASSWORD}
    )

    assert response.status_code == 200
    assert "correct username and password for a staff account" in response.content.decode()
    assert client.get(reverse("admin:index")).status_code == 302


def test_author_cannot_use_the_admin_even_when_logged_in(author):
    client = Client()
    assert client.login(username=author.username, password=PASSWORD)

    response = client.get(reverse("admin:approvals_approval_changelist"))

    assert response.status_code == 302
    assert response["Location"].startswith(reverse("admin:login"))


def test_fresh_approver_works_without_django_permissions(approver):
    assert not approver.user_permissions.exists()
    client = Client()

    response = client.post(
        reverse("admin:login"),
        {"username": approver.username, "password": PASSWORD, "next": reverse("admin:index")},
        follow=True,
    )

    html = response.content.decode()
    assert response.status_code == 200
    assert reverse("admin:approvals_approval_changelist") in html
    assert reverse("admin:playbooks_playbook_changelist") in html
    assert reverse("admin:auth_user_changelist") not in html


def test_audit_log_is_scoped_and_read_only(org, other_org, admin_user, make_user, login):
    make_user(Role.APPROVER, organization=other_org, username="globex-approver")
    client = login(admin_user)

    response = client.get(reverse("admin:audit_auditevent_changelist"))

    rows = list(response.context["cl"].result_list)
    assert rows
    assert {row.organization_id for row in rows} == {org.pk}
    assert "globex-approver" not in response.content.decode()
    event = AuditEvent.objects.filter(organization=org).first()
    detail = client.get(reverse("admin:audit_auditevent_change", args=[event.pk]))
    assert detail.status_code == 200
    assert event.hash in detail.content.decode()
    assert client.get(reverse("admin:audit_auditevent_add")).status_code == 403
    assert (
        client.post(reverse("admin:audit_auditevent_change", args=[event.pk]), {}).status_code
        == 403
    )


def test_superuser_sees_every_organization(make_playbook, author, make_user, other_org):
    foreign_author = make_user(Role.AUTHOR, organization=other_org, username="globex-author")
    playbook_promote(playbook=make_playbook(author), actor=author)
    playbook_promote(playbook=make_playbook(foreign_author), actor=foreign_author)
    root = get_user_model().objects.create_superuser("root", "root@example.com", PASSWORD)
    client = Client()
    client.force_login(root)

    queue = client.get(reverse("admin:approvals_approval_changelist"))
    playbooks = client.get(reverse("admin:playbooks_playbook_changelist"))

    assert len(queue.context["cl"].result_list) == 2
    assert len(playbooks.context["cl"].result_list) == 2
    approval = queue.context["cl"].result_list[0]
    page = client.get(reverse("admin:approvals_approval_change", args=[approval.pk]))
    assert page.status_code == 200
    assert 'name="body_hash"' not in page.content.decode()


def test_ledger_and_credits_are_scoped_and_read_only(org, other_org, admin_user, approver, login):
    credits_grant(organization=org, amount="10.00", actor=admin_user)
    credits_grant(organization=other_org, amount="99.00")
    client = login(approver)

    ledger = client.get(reverse("admin:billing_ledgerentry_changelist"))
    accounts = client.get(reverse("admin:billing_creditaccount_changelist"))

    # the fixtures' organizations start with a grant each: only org's rows are listed
    assert {row.organization_id for row in ledger.context["cl"].result_list} == {org.pk}
    assert [row.pk for row in accounts.context["cl"].result_list] == [org.pk]
    entry = LedgerEntry.objects.filter(organization=org).first()
    assert (
        client.get(reverse("admin:billing_ledgerentry_change", args=[entry.pk])).status_code == 200
    )
    foreign = LedgerEntry.objects.filter(organization=other_org).first()
    assert (
        client.get(reverse("admin:billing_ledgerentry_change", args=[foreign.pk])).status_code
        == 404
    )
    assert client.get(reverse("admin:billing_ledgerentry_add")).status_code == 403
