"""DRF authentication with the Supabase access token the SPA already holds."""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar
from uuid import UUID

from django.db import DatabaseError
from rest_framework.authentication import BaseAuthentication
from rest_framework.request import Request

from analytics.conf import conf
from analytics.exceptions import (
    AnonymousUserRefused,
    InvalidAuthorizationHeader,
    InvalidToken,
    SessionEnded,
    SessionsQueryFailed,
    SigningKeysUnavailable,
    UserNotFound,
    UsersQueryFailed,
)
from analytics.jwks import JWKSUnavailable
from analytics.models import User
from analytics.sessions import session_is_live
from analytics.tokens import AccessToken, TokenError, decode_access_token

logger = logging.getLogger(__name__)

#: RFC 9110 separates the scheme from its credentials with spaces (tabs seen in the wild).
_CREDENTIALS_SEPARATOR = re.compile(r"[ \t]+")


@dataclass(frozen=True)
class SupabaseUser:
    """``request.user``: who the token names and the agency its ``users`` row gives.

    ``agency_id`` is ``None`` when the row has none, and also when the row is not
    read at all (:class:`SupabaseClaimsAuthentication`).
    """

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
    their turn; a Bearer header that does not verify is a 401, a JWKS that
    cannot be read a 503. ``request.auth`` holds the token's claims.

    A genuine token can still be refused: an anonymous sign-in's is a 403 (unless
    ``ANALYTICS_ALLOW_ANONYMOUS_USERS``), and with ``ANALYTICS_REQUIRE_LIVE_SESSION``
    one whose session has ended is a 401. Both are decided before the ``users``
    row is read, the cheaper first.
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
        except JWKSUnavailable as exc:
            # Already logged where the fetch failed; the caller is not at fault.
            raise SigningKeysUnavailable() from exc
        self.check_anonymous(access_token)
        self.check_session(access_token)
        return self.get_user(access_token), access_token.claims

    def authenticate_header(self, request: Request) -> str:
        # Without it DRF turns every 401 into a 403.
        return f'Bearer realm="{self.www_authenticate_realm}"'

    def get_bearer_token(self, request: Request) -> str | None:
        """The token of a ``Bearer`` header (any case), ``None`` for no header or another scheme."""
        header = request.META.get("HTTP_AUTHORIZATION")
        if isinstance(header, bytes):
            # As a WSGI server would have handed it over.
            header = header.decode("latin-1")
        if not header or not isinstance(header, str):
            return None
        parts = _CREDENTIALS_SEPARATOR.split(header.strip(" \t"))
        if parts[0].lower() != self.keyword:
            return None
        if len(parts) != 2:
            raise InvalidAuthorizationHeader()
        return parts[1]

    def check_anonymous(self, access_token: AccessToken) -> None:
        """Anonymous sign-ins need no account: anyone can get such a token from the anon key."""
        if access_token.is_anonymous and conf.ALLOW_ANONYMOUS_USERS is not True:
            raise AnonymousUserRefused()

    def check_session(self, access_token: AccessToken) -> None:
        """With ``ANALYTICS_REQUIRE_LIVE_SESSION``: a sign-out ends a token now, not at ``exp``."""
        if not conf.REQUIRE_LIVE_SESSION:  # A mistyped "yes" (analytics.E020) still reads.
            return
        session_id = access_token.session_id
        if session_id is None:
            raise SessionEnded("The access token names no session; sign in again.")
        try:
            live = session_is_live(session_id=session_id, user_id=access_token.user_id)
        except DatabaseError as exc:
            logger.exception("Sessions query failed for user %s", access_token.user_id)
            raise SessionsQueryFailed() from exc
        if not live:
            raise SessionEnded()

    def get_user(self, access_token: AccessToken) -> SupabaseUser:
        """Who the token names, with the agency their ``users`` row gives."""
        return SupabaseUser(
            id=access_token.user_id,
            agency_id=self.get_agency_id(access_token.user_id),
            claims=access_token.claims,
        )

    def get_agency_id(self, user_id: UUID) -> UUID | None:
        try:
            rows = list(User.objects.filter(pk=user_id).values_list("agency_id", flat=True)[:1])
        except DatabaseError as exc:
            logger.exception("Users query failed for user %s", user_id)
            raise UsersQueryFailed() from exc
        if not rows:
            raise UserNotFound()
        return rows[0]


class SupabaseClaimsAuthentication(SupabaseJWTAuthentication):
    """The same verification without reading the ``users`` row, for views that need claims only.

    As simplejwt's ``JWTStatelessUserAuthentication``: no query per request, and a
    token whose user has no row still authenticates, with ``agency_id`` ``None``.
    The token itself is refused as above: anonymous sign-ins, and with
    ``ANALYTICS_REQUIRE_LIVE_SESSION`` ended sessions, whose read is then the one query.
    """

    def get_user(self, access_token: AccessToken) -> SupabaseUser:
        return SupabaseUser(id=access_token.user_id, agency_id=None, claims=access_token.claims)
