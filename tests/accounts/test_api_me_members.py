"""/me/ and /members/: the role table decides who reads and who manages."""

from django.contrib.auth import get_user_model

from agentstudio.accounts.models import Membership


def test_me_names_user_organization_and_role(author, client_for, org):
    body = client_for(author).get("/api/v1/me/").json()
    assert body == {
        "id": author.pk,
        "username": "bob-author",
        "organization": {"id": str(org.pk), "name": "Acme"},
        "role": "author",
    }


def test_members_list_is_paginated_and_scoped_to_the_organization(
    admin_user, author, make_user, other_org, client_for
):
    make_user("admin", organization=other_org, username="outsider")
    body = client_for(admin_user).get("/api/v1/members/").json()
    assert body["count"] == 2
    assert {row["username"] for row in body["results"]} == {"alice-admin", "bob-author"}


def test_runner_and_viewer_cannot_see_members(runner, viewer, client_for):
    for user in (runner, viewer):
        response = client_for(user).get("/api/v1/members/")
        assert response.status_code == 403
        assert response.json()["error"]["code"] == "permission_denied"


def test_admin_adds_member_approver_gets_admin_access(admin_user, client_for):
    response = client_for(admin_user).post(
        "/api/v1/members/", {"username": "newbie", "role": "approver"}, format="json"
    )
    assert response.status_code == 201
    user = get_user_model().objects.get(username="newbie")
    assert user.membership.role == "approver"
    assert user.is_staff is True


def test_author_cannot_add_members(author, client_for):
    response = client_for(author).post(
        "/api/v1/members/", {"username": "x", "role": "viewer"}, format="json"
    )
    assert response.status_code == 403


def test_admin_changes_role_and_removes_member(admin_user, author, client_for):
    client = client_for(admin_user)
    membership = Membership.objects.get(user=author)
    changed = client.patch(f"/api/v1/members/{membership.pk}/", {"role": "runner"}, format="json")
    assert changed.status_code == 200
    assert changed.json()["role"] == "runner"
    assert client.delete(f"/api/v1/members/{membership.pk}/").status_code == 204
    author.refresh_from_db()
    assert author.is_active is False


def test_unknown_role_is_a_validation_error(admin_user, client_for):
    response = client_for(admin_user).post(
        "/api/v1/members/", {"username": "x", "role": "king"}, format="json"
    )
    assert response.status_code == 400
    assert response.json()["error"]["details"][0]["path"] == "/role"


def test_member_of_other_org_is_404(admin_user, make_user, other_org, client_for):
    outsider = make_user("author", organization=other_org, username="outsider")
    membership = Membership.objects.get(user=outsider)
    response = client_for(admin_user).patch(
        f"/api/v1/members/{membership.pk}/", {"role": "viewer"}, format="json"
    )
    assert response.status_code == 404


def test_member_services_refuse_a_non_admin_actor(author, runner):
    import pytest

    from agentstudio.accounts.models import Membership
    from agentstudio.accounts.services import membership_change_role
    from agentstudio.errors import AppError

    with pytest.raises(AppError) as refused:
        membership_change_role(
            membership=Membership.objects.get(user=runner), role="admin", actor=author
        )
    assert refused.value.code == "permission_denied"
    assert Membership.objects.get(user=runner).role == "runner"
