"""The organization's default approval rules in the admin: admins edit them (checked by the
service), approvers only read them, and an approval's page says who decides it."""

from django.urls import reverse

from agentstudio.accounts.models import Role
from approvals.models import ApprovalKind, ApprovalRuleDefault
from approvals.services import approval_create
from tests.admin.helpers import page_messages

ADD_URL = reverse("admin:approvals_approvalruledefault_add")


def _form(**values):
    return {
        "applies_to": "external_send",
        "approvers": '["admin"]',
        "exclude_requester": "unknown",
        "required_approvals": "2",
        "escalate_after_seconds": "",
        "escalate_to": "[]",
        **values,
    }


def test_an_admin_sets_the_organizations_default(client, org, make_user):
    client.force_login(make_user(Role.ADMIN))
    response = client.post(ADD_URL, _form(), follow=True)
    assert response.status_code == 200
    row = ApprovalRuleDefault.objects.get(organization=org)
    assert (row.applies_to, row.approvers, row.required_approvals) == (
        "external_send",
        ["admin"],
        2,
    )


def test_bad_values_are_refused_with_the_rule_named(client, org, make_user):
    client.force_login(make_user(Role.ADMIN))
    response = client.post(ADD_URL, _form(escalate_to='["approver"]'), follow=True)
    assert any("escalate_to" in message for message in page_messages(response))
    assert not ApprovalRuleDefault.objects.exists()


def test_approvers_may_read_but_not_add(client, org, make_user):
    client.force_login(make_user(Role.APPROVER))
    assert client.post(ADD_URL, _form()).status_code == 403
    listing = client.get(reverse("admin:approvals_approvalruledefault_changelist"))
    assert listing.status_code == 200


def test_the_approval_page_says_who_decides(client, org, author, make_user):
    approval = approval_create(
        organization=org,
        kind=ApprovalKind.PROMOTION,
        title="Promote",
        payload={"a": 1},
        requested_by=author,
        rules={"approvers": ["admin"], "required_approvals": 2},
    )
    client.force_login(make_user(Role.ADMIN))
    page = client.get(reverse("admin:approvals_approval_change", args=[approval.pk]))
    assert "admin decide; not the requester; 2 approvals of the same payload (0 so far)" in (
        page.content.decode()
    )
