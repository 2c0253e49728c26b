"""The model provider pages: admins add and change their organization's providers through
the service (one default per organization), see no other organization's, and approvers
only read them. The key is a vault name; no key value appears anywhere on the page."""

from django.urls import reverse

from agentstudio.accounts.models import Role
from agentstudio.audit.models import AuditEvent
from tests.support.model_servers import provider_configure
from tools.models import ModelProviderConfig

ADD_URL = reverse("admin:tools_modelproviderconfig_add")
LIST_URL = reverse("admin:tools_modelproviderconfig_changelist")


def _form(**overrides):
    form = {
        "name": "house",
        "kind": "openai",
        "base_url": "http://vllm:8000/v1",
        "api_key_secret": "house.key",
        "default_model": "llama-3",
        "timeout_seconds": "30",
        "connect_timeout_seconds": "5",
        "max_retries": "3",
        "is_default": "on",
    }
    form.update(overrides)
    return {key: value for key, value in form.items() if value is not None}


def test_admin_adds_a_provider_and_it_becomes_the_only_default(
    admin_user, org, openai_server, login
):
    old = provider_configure(org, openai_server, name="old", default=True)
    client = login(admin_user)
    response = client.post(ADD_URL, _form(), follow=True)
    assert response.status_code == 200
    config = ModelProviderConfig.objects.get(organization=org, name="house")
    assert (config.kind, config.base_url, config.api_key_secret) == (
        "openai",
        "http://vllm:8000/v1",
        "house.key",
    )
    assert (config.default_model, config.timeout_seconds, config.max_retries) == ("llama-3", 30, 3)
    assert config.is_default is True
    old.refresh_from_db()
    assert old.is_default is False
    assert AuditEvent.objects.filter(
        type="model_provider.changed", actor=admin_user, data={"name": "house", "change": "created"}
    ).exists()
    listing = client.get(LIST_URL).content.decode()
    assert "house" in listing and "old" in listing


def test_reserved_and_bad_values_are_refused_on_the_form(admin_user, login):
    client = login(admin_user)
    response = client.post(ADD_URL, _form(name="scripted"))
    assert response.status_code == 200  # the form again, with the error
    assert "is reserved" in response.content.decode()
    response = client.post(ADD_URL, _form(base_url="ftp://x"))
    assert "Give an http:// or https:// URL with a host." in response.content.decode()
    assert not ModelProviderConfig.objects.exists()


def test_approvers_read_and_other_organizations_do_not_see(
    approver, org, other_org, openai_server, make_user, login
):
    config = provider_configure(org, openai_server, name="house")
    change_url = reverse("admin:tools_modelproviderconfig_change", args=[config.pk])
    client = login(approver)
    assert client.get(change_url).status_code == 200
    assert client.post(change_url, _form(default_model="other")).status_code == 403
    assert client.get(ADD_URL).status_code == 403
    outsider = make_user(Role.ADMIN, organization=other_org, username="olga-admin")
    other = login(outsider)
    assert other.get(change_url).status_code == 404
    assert "house" not in other.get(LIST_URL).content.decode()


def test_admin_changes_a_provider_through_the_service(admin_user, org, openai_server, login):
    config = provider_configure(org, openai_server, name="house")
    change_url = reverse("admin:tools_modelproviderconfig_change", args=[config.pk])
    client = login(admin_user)
    page = client.get(change_url).content.decode()
    assert "local-test" not in page  # the key's value is nowhere; its vault name is
    assert "house.api_key" in page
    response = client.post(
        change_url,
        _form(name=None, base_url=openai_server.base_url, default_model="bigger", is_default=None),
        follow=True,
    )
    assert response.status_code == 200
    config.refresh_from_db()
    assert (config.default_model, config.is_default) == ("bigger", False)
    assert config.name == "house"


def test_adding_a_name_the_organization_has_is_refused(admin_user, org, openai_server, login):
    provider_configure(org, openai_server, name="house", default_model="kept")
    response = login(admin_user).post(ADD_URL, _form())
    assert response.status_code == 200
    assert (
        "Your organization already has a provider &#x27;house&#x27;." in response.content.decode()
    )
    assert ModelProviderConfig.objects.get(name="house").default_model == "kept"
