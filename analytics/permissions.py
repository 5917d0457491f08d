from __future__ import annotations

from typing import Any
from uuid import UUID

from rest_framework.exceptions import NotAuthenticated
from rest_framework.permissions import BasePermission
from rest_framework.request import Request

from analytics.authentication import SupabaseUser
from analytics.exceptions import UserHasNoAgency


def agency_id_of(request: Request) -> UUID:
    """The caller's agency, from its ``users`` row: never from a parameter or header."""
    user = request.user
    if not isinstance(user, SupabaseUser):
        raise NotAuthenticated()
    if user.agency_id is None:
        raise UserHasNoAgency()
    return user.agency_id


class BelongsToAgency(BasePermission):
    """The token's user has an agency; the agency scopes every read."""

    def has_permission(self, request: Request, view: Any) -> bool:
        agency_id_of(request)
        return True
