"""Notifications: every new approval, and each pending approval 10 minutes before it
expires, reach a configured webhook (signed, through a real local HTTP server) and the
organization's deciders by e-mail (Django's mail backend)."""

import hashlib
import hmac
from datetime import timedelta

import pytest
from django.utils import timezone

from agentstudio.celery import app as celery_app
from agentstudio.webhooks import hmac_sha256
from approvals.models import Approval
from approvals.notifications import approvals_remind_expiring, webhook_secret
from approvals.services import approval_create
from tests.support.sink import HttpSink


@pytest.fixture
def sink(settings):
    sink = HttpSink.start()
    settings.AGENTSTUDIO_HTTP_ALLOW = ["127.0.0.1"]
    settings.AGENTSTUDIO_APPROVAL_WEBHOOK_URL = f"{sink.url}/approvals"
    settings.AGENTSTUDIO_APPROVAL_WEBHOOK_SECRET = "s3cret-for-tests"
    yield sink
    sink.stop()


@pytest.fixture
def tasks_run_here():
    """The notification task runs in this process when it is queued (the real task)."""
    celery_app.conf.task_always_eager = True
    yield
    celery_app.conf.task_always_eager = False


def _gate(org, author, **fields):
    return approval_create(
        organization=org,
        kind="gate",
        title="Publish the Q3 pack",
        payload={"pack": "q3.xlsx"},
        requested_by=author,
        **fields,
    )


def test_a_new_approval_notifies_the_webhook_and_the_deciders(
    org,
    author,
    approver,
    admin_user,
    sink,
    tasks_run_here,
    mailoutbox,
    django_capture_on_commit_callbacks,
):
    with django_capture_on_commit_callbacks(execute=True):
        approval = _gate(org, author)
    [post] = sink.wait_for_posts(1, timeout=5)
    body = post.json()
    assert body["event"] == "approval.requested"
    assert body["approval"]["id"] == str(approval.pk)
    assert body["approval"]["body_hash"] == approval.body_hash
    assert body["url"].endswith(f"/admin/approvals/approval/{approval.pk}/change/")
    expected = hmac.new(b"s3cret-for-tests", post.body, hashlib.sha256).hexdigest()
    assert (
        post.headers["x-signature"]
        == f"sha256={expected}"
        == f"sha256={hmac_sha256(webhook_secret(), post.body)}"
    )
    [mail] = mailoutbox
    assert "Publish the Q3 pack waits for a decision" in mail.subject
    assert sorted(mail.to) == sorted([approver.email, admin_user.email])
    assert author.email not in mail.to
    assert approval.body_hash in mail.body


def test_deciders_are_reminded_once_ten_minutes_before_expiry(
    org, author, approver, sink, tasks_run_here, mailoutbox, django_capture_on_commit_callbacks
):
    soon = _gate(org, author, expires_at=timezone.now() + timedelta(minutes=9))
    later = _gate(org, author, expires_at=timezone.now() + timedelta(minutes=30))
    mailoutbox.clear()  # the "requested" ones (their on-commit hooks did not run here)
    with django_capture_on_commit_callbacks(execute=True):
        assert approvals_remind_expiring() == 1
    [post] = sink.wait_for_posts(1, timeout=5)
    assert (post.json()["event"], post.json()["approval"]["id"]) == (
        "approval.expiring",
        str(soon.pk),
    )
    [mail] = mailoutbox
    assert "expires soon" in mail.subject
    assert Approval.objects.get(pk=soon.pk).reminded_at is not None
    assert Approval.objects.get(pk=later.pk).reminded_at is None
    with django_capture_on_commit_callbacks(execute=True):
        assert approvals_remind_expiring() == 0  # once


def test_a_decided_approval_is_not_announced(
    org, author, approver, sink, tasks_run_here, mailoutbox
):
    from approvals.notifications import approval_notify

    approval = _gate(org, author)
    Approval.objects.filter(pk=approval.pk).update(status="rejected")
    assert approval_notify(approval_id=approval.pk, event="approval.requested") is False
    assert sink.posts() == [] and mailoutbox == []


def test_without_a_webhook_url_only_mail_goes_out(
    org, author, approver, settings, tasks_run_here, mailoutbox, django_capture_on_commit_callbacks
):
    settings.AGENTSTUDIO_APPROVAL_WEBHOOK_URL = ""
    with django_capture_on_commit_callbacks(execute=True):
        _gate(org, author)
    assert len(mailoutbox) == 1


def test_nobody_to_tell_queues_no_task(org, author, settings, django_capture_on_commit_callbacks):
    settings.AGENTSTUDIO_APPROVAL_WEBHOOK_URL = ""
    from agentstudio.accounts.models import Membership

    Membership.objects.filter(organization=org).update(role="author")  # no deciders at all
    with django_capture_on_commit_callbacks() as callbacks:
        _gate(org, author)
    assert callbacks == []
