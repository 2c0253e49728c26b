"""The inbox: every admin page counts what awaits the signed-in user in one query; the queue
filters to "awaiting me" by today's deciding rules, shows the run, step, requester,
recipient and time left, and renders 10,000 pending approvals in a bounded number of
queries."""

import re
import time
from datetime import timedelta

from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from agentstudio.accounts.models import Role
from approvals.admin_inbox import awaiting_user, relative_text
from approvals.hashing import approval_body_hash
from approvals.models import Approval, ApprovalKind
from approvals.services import approval_create, approval_reject
from playbooks.engine.runner import Advance, run_advance
from playbooks.runs.starting import run_start
from tests.engine import tools_for_tests  # noqa: F401  (registers tools.test.notify)
from tests.support.approvals import notify_spec

QUEUE_URL = reverse("admin:approvals_approval_changelist")
AWAITING_URL = QUEUE_URL + "?awaiting=me"
NOTIFY = "tools.test.notify"
NOTIFY_SPEC = notify_spec(name="Notify the team")
TEN_THOUSAND_QUERY_LIMIT = 12
TEN_THOUSAND_SECONDS_LIMIT = 5.0


def _approval(user, title, *, kind=ApprovalKind.GATE, payload=None, **fields):
    return approval_create(
        organization=user.membership.organization,
        kind=kind,
        title=title,
        payload={"n": title} if payload is None else payload,
        requested_by=user,
        **fields,
    )


def _badge(html):
    match = re.search(r'id="inbox-count"[^>]*>Awaiting you: <span[^>]*>(\d+)</span>', html)
    assert match, "the page has no inbox badge"
    return int(match.group(1))


def _titles(response):
    return {approval.title for approval in response.context["cl"].result_list}


def test_awaiting_user_follows_who_may_decide(author, approver, admin_user, make_user, other_org):
    gate = _approval(author, "A gate")
    _approval(author, "Admin-class call", kind=ApprovalKind.TOOL_CALL, risk="admin")
    _approval(approver, "Own promotion", kind=ApprovalKind.PROMOTION)
    _approval(author, "Expired", expires_at=timezone.now() - timedelta(seconds=1))
    approval_reject(approval=_approval(author, "Rejected"), actor=approver, reason="no")
    outsider = make_user(Role.APPROVER, organization=other_org, username="oscar-outsider")
    _approval(outsider, "Elsewhere")

    def titles(user):
        return set(awaiting_user(Approval.objects.all(), user).values_list("title", flat=True))

    assert titles(approver) == {gate.title}
    assert titles(admin_user) == {gate.title, "Admin-class call", "Own promotion"}
    assert titles(author) == set()
    assert titles(outsider) == {"Elsewhere"}


def test_every_admin_page_shows_the_count_in_one_query(author, approver, login):
    _approval(author, "First")
    _approval(author, "Second")
    _approval(author, "Admin-class call", kind=ApprovalKind.TOOL_CALL, risk="admin")
    client = login(approver)

    for url in (reverse("admin:index"), reverse("admin:playbooks_playbook_changelist")):
        with CaptureQueriesContext(connection) as queries:
            html = client.get(url).content.decode()
        assert _badge(html) == 2
        assert f'href="{AWAITING_URL}"' in html.replace("&amp;", "&")
        sqls = [q["sql"] for q in queries]
        counts = [
            sql
            for sql in sqls
            if sql.startswith('SELECT COUNT(*) AS "__count" FROM "approvals_approval"')
        ]
        assert len(counts) == 1
        assert not any(sql.startswith('SELECT "approvals_approval"') for sql in sqls)


def test_the_awaiting_me_filter_lists_what_the_viewer_may_decide(author, approver, login):
    _approval(author, "Mine to decide")
    _approval(author, "Admin only", kind=ApprovalKind.TOOL_CALL, risk="admin")
    approval_reject(approval=_approval(author, "Decided"), actor=approver, reason="no")
    client = login(approver)

    assert _titles(client.get(QUEUE_URL)) == {"Mine to decide", "Admin only", "Decided"}
    response = client.get(AWAITING_URL)
    assert _titles(response) == {"Mine to decide"}
    assert "Awaiting me" in response.content.decode()


def test_the_queue_shows_run_step_requester_recipient_and_time_left(
    active_playbook, author, approver, login
):
    run = run_start(playbook=active_playbook(NOTIFY_SPEC), actor=author, inputs={})
    assert run_advance(run_id=run.pk) == Advance.PAUSED
    _approval(
        author,
        "Mail the customers " + "with a very long title " * 6,
        kind=ApprovalKind.TOOL_CALL,
        payload={"tool": "x", "arguments": {"recipient": "ops@example.com"}},
        expires_at=timezone.now() + timedelta(minutes=5),
    )

    html = login(approver).get(QUEUE_URL).content.decode()

    run_url = reverse("admin:playbooks_run_change", args=[run.pk])
    row = html[html.index(f'href="{run_url}"') - 3000 : html.index(f'href="{run_url}"') + 3000]
    for column in ("playbook_link", "run_column", "step", "requester", "target"):
        assert f'class="field-{column}' in html
    assert ">tell<" in row and ">bob-author<" in row and "Notify the team" in row
    assert re.search(r'class="as-time-left"[^>]*>in \d', row)
    assert "recipient: ops@example.com" in html
    assert re.search(r'class="as-time-left as-urgent"[^>]*>in [45] min<', html)
    assert "overflow-wrap: anywhere" in html  # long titles wrap, never run under buttons
    assert "nav-sidebar" not in html


def test_time_left_reads_in_words():
    assert [relative_text(s) for s in (40, 12 * 60 + 5, 3 * 3600 + 300, 3 * 86400)] == [
        "in 40 s",
        "in 12 min",
        "in 3 h 05 min",
        "in 3 days",
    ]


def test_ten_thousand_pending_render_in_bounded_queries_and_time(author, approver, login):
    organization = author.membership.organization
    now = timezone.now()
    Approval.objects.bulk_create(
        Approval(
            organization=organization,
            kind=(ApprovalKind.GATE, ApprovalKind.TOOL_CALL)[n % 2],
            title=f"Pending {n}",
            payload={"arguments": {"to": f"user{n}@example.com"}},
            body_hash=approval_body_hash({"n": n}),
            risk=("write", "external_send")[n % 2],
            step=f"step-{n % 7}",
            tool="tools.studio.http.post",
            expires_at=now + timedelta(seconds=60 + n),
            requested_by=author,
        )
        for n in range(10_000)
    )
    client = login(approver)
    client.get(QUEUE_URL)  # warm the session and the plan cache

    for url in (QUEUE_URL, AWAITING_URL, QUEUE_URL + "?q=Pending+9"):
        started = time.perf_counter()
        with CaptureQueriesContext(connection) as queries:
            response = client.get(url)
        seconds = time.perf_counter() - started
        print(f"{url}: {len(queries)} queries, {seconds * 1000:.0f} ms")
        assert response.status_code == 200
        assert len(queries) <= TEN_THOUSAND_QUERY_LIMIT
        assert seconds < TEN_THOUSAND_SECONDS_LIMIT
    first = client.get(AWAITING_URL)
    assert _badge(first.content.decode()) == 10_000
    assert first.context["cl"].result_list[0].title == "Pending 0"  # soonest to expire


def test_awaiting_me_follows_the_approvals_rules(author, approver, admin_user):
    def gate(title, rules, requested_by=author):
        return approval_create(
            organization=author.membership.organization,
            kind=ApprovalKind.GATE,
            title=title,
            payload={"t": title},
            requested_by=requested_by,
            rules=rules,
        )

    own = gate("own send", {"exclude_requester": True}, requested_by=approver)
    named_admins = gate("admins only", {"approvers": ["admin"]})
    named_ann = gate("ann only", {"approvers": [approver.get_username()]})
    anyone = gate("anyone", {})
    mine = set(awaiting_user(Approval.objects.all(), approver).values_list("pk", flat=True))
    assert {named_ann.pk, anyone.pk} <= mine
    assert own.pk not in mine and named_admins.pk not in mine
    theirs = set(awaiting_user(Approval.objects.all(), admin_user).values_list("pk", flat=True))
    assert {own.pk, named_admins.pk, anyone.pk} <= theirs and named_ann.pk not in theirs
