"""DRF authentication with the Supabase access token the SPA already holds."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar
from uuid import UUID

from django.db import DatabaseError
from rest_framework.authentication import BaseAuthentication
from rest_framework.request import Request

from analytics.exceptions import (
    InvalidAuthorizationHeader,
    InvalidToken,
    UserNotFound,
    UsersQueryFailed,
)
from analytics.models import User
from analytics.tokens import TokenError, decode_access_token

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class SupabaseUser:
    """``request.user``: who the token names and the agency its ``users`` row gives."""

    id: UUID
    agency_id: UUID | None
    claims: Mapping[str, Any] = field(repr=False)

    is_authenticated: ClassVar[bool] = True
    is_anonymous: ClassVar[bool] = False

    @property
    def pk(self) -> UUID:
        """For DRF's per-user throttles, which key on ``request.user.pk``."""
        return self.id


class SupabaseJWTAuthentication(BaseAuthentication):
    """``Authorization: Bearer <Supabase access token>``.

    No header, or another scheme, returns ``None`` so other authenticators get
    their turn; a Bearer header that does not verify is a 401. ``request.auth``
    holds the token's claims.
    """

    keyword = "bearer"
    www_authenticate_realm = "api"

    def authenticate(self, request: Request) -> tuple[SupabaseUser, Mapping[str, Any]] | None:
        token = self.get_bearer_token(request)
        if token is None:
            return None
        try:
            access_token = decode_access_token(token)
        except TokenError as exc:
            raise InvalidToken(str(exc), exc.code) from exc
        user = SupabaseUser(
            id=access_token.user_id,
            agency_id=self.get_agency_id(access_token.user_id),
            claims=access_token.claims,
        )
        return user, access_token.claims

    def authenticate_header(self, request: Request) -> str:
        # Without it DRF turns every 401 into a 403.
        return f'Bearer realm="{self.www_authenticate_realm}"'

    def get_bearer_token(self, request: Request) -> str | None:
        header = request.META.get("HTTP_AUTHORIZATION")
        if not header:
            return None
        parts = header.split()
        if not parts or parts[0].lower() != self.keyword:
            return None
        if len(parts) != 2:
            raise InvalidAuthorizationHeader()
        token: str = parts[1]
        if not token.isascii():
            raise InvalidToken("The access token is not a well-formed JWT.", "token_malformed")
        return token

    def get_agency_id(self, user_id: UUID) -> UUID | None:
        try:
            rows = list(User.objects.filter(pk=user_id).values_list("agency_id", flat=True)[:1])
        except DatabaseError as exc:
            logger.exception("Users query failed for user %s", user_id)
            raise UsersQueryFailed() from exc
        if not rows:
            raise UserNotFound()
        return rows[0]
