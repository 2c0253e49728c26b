"""Reads for accounts."""

from django.contrib.auth.models import AbstractUser
from django.db.models import QuerySet

from agentstudio.accounts.models import ApiKey, Membership, Organization


def membership_list(*, organization: Organization) -> QuerySet[Membership]:
    return Membership.objects.filter(organization=organization).select_related("user")


def api_key_list(*, user: AbstractUser) -> QuerySet[ApiKey]:
    return ApiKey.objects.filter(user=user)
